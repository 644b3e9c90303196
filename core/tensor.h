// core/tensor.h — the Tensor handle: a strided view of shared storage, plus its autograd state.
//
// A Tensor is a cheap, copyable handle (a shared_ptr) to a TensorImpl. Several TensorImpls may
// share one Storage: views (permute, narrow, expand, ...) only change shape, strides and offset.
// Strides and offset count elements. Copying a Tensor never copies data; clone() does.
//
// What lives where:
//   core/tensor.cpp    accessors, creation (zeros, ones, full, arange, from_vector, ...)
//   core/random.cpp    rand / randn / randint from the Philox generator
//   core/print.cpp     printing like PyTorch
//   ops/view.cpp       view, reshape, permute, narrow, expand, ... — they are ops with a backward,
//                      so they live with the ops even though they are methods here
//   ops/copy.cpp       contiguous, clone, to(device), to(dtype)
//   autograd/          backward(), grad mode, the graph node
//
// Extend: a new method that is an op goes in ops/ (declared here only if PyTorch users would look
// for it as a method); anything about storage or metadata goes in core/tensor.cpp.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace sieve {

namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements, from storage->data
  DType dtype = DType::f32;

  // autograd state
  bool requires_grad = false;               // leaves: set by the user; outputs: set by record()
  bool retains_grad = false;                // non-leaves that keep .grad (retain_grad())
  std::shared_ptr<autograd::Node> grad_fn;  // the op that produced this tensor; null for leaves
  std::shared_ptr<TensorImpl> grad;         // accumulated gradient (leaves and retained)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor ("no tensor"), e.g. a missing gradient
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // ---- metadata ----
  const Shape& shape() const { return checked()->shape; }
  const Shape& strides() const { return checked()->strides; }
  int64_t offset() const { return checked()->offset; }
  int ndim() const { return static_cast<int>(shape().size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t stride(int dim) const;
  int64_t numel() const { return numel_of(shape()); }
  DType dtype() const { return checked()->dtype; }
  Device device() const { return checked()->storage->device; }
  bool is_contiguous() const;
  std::string describe() const;  // "float32 (2, 3) on cpu", for error messages

  // ---- data (CPU) ----
  // Pointer to the first element (storage + offset), typed; checks the dtype.
  template <typename T>
  T* data() const {
    SIEVE_CHECK(dtype() == dtype_of<T>(), "data<{}>() on a {} tensor", dtype_name(dtype_of<T>()),
                dtype_name(dtype()));
    return static_cast<T*>(impl_->storage->data) + impl_->offset;
  }
  void* raw_data() const;  // untyped pointer to the first element
  double item() const;     // the value of a one-element tensor, as double (copies from GPU)
  template <typename T>
  std::vector<T> to_vector() const;  // all elements in row-major order (any layout, any device)

  // ---- autograd (autograd/engine.cpp) ----
  bool requires_grad() const { return checked()->requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return checked()->grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward reaches this tensor
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (like PyTorch's set_to_none)
  void retain_grad();
  // Backpropagates from this tensor. A scalar needs no `grad`; any other tensor needs one of
  // its shape. Frees the graph unless retain_graph; a second backward then throws.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same data, no history

  // ---- views (ops/view.cpp): no copy, all differentiable ----
  Tensor view(const Shape& shape) const;     // needs compatible strides; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int dim0, int dim1) const;
  Tensor t() const { return transpose(-2, -1); }  // swap the last two dims
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int dim, int64_t index) const;  // narrow + squeeze
  Tensor expand(const Shape& shape) const;      // broadcast; -1 keeps a size
  Tensor squeeze(int dim) const;
  Tensor unsqueeze(int dim) const;
  Tensor flatten(int start_dim = 0, int end_dim = -1) const;

  // ---- copies (ops/copy.cpp) ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

 private:
  TensorImpl* checked() const {
    SIEVE_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

// ---- creation (core/tensor.cpp) ----
struct Options {
  DType dtype = DType::f32;
  Device device = kCPU;
  bool requires_grad = false;
};

Tensor empty(const Shape& shape, Options opts = {});
Tensor zeros(const Shape& shape, Options opts = {});
Tensor ones(const Shape& shape, Options opts = {});
Tensor full(const Shape& shape, double value, Options opts = {});
Tensor arange(double start, double end, double step = 1.0, Options opts = {});
Tensor scalar(double value, Options opts = {});  // a 0-d tensor
// The values as a tensor of T's dtype (float → float32, double → float64, int64_t → int64).
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = kCPU);
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// A tensor over existing storage (used by views and loaders); checks the view fits the storage.
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// ---- printing (core/print.cpp) ----
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

}  // namespace sieve
