// core/tensor.cpp — Tensor metadata, element access and creation.
//
// Creation functions allocate contiguous storage and fill it on the tensor's device. Element
// access for tests and printing (item, to_vector) copies to the CPU first when needed.
//
// Extend: a new creation function allocates with empty() and fills through a kernel or copy_.
#include "core/tensor.h"

#include <cmath>
#include <cstring>

#include "ops/copy.h"
#include "ops/dispatch.h"

namespace sieve {

int64_t Tensor::size(int dim) const { return shape()[normalize_dim(dim, ndim(), "size")]; }
int64_t Tensor::stride(int dim) const { return strides()[normalize_dim(dim, ndim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;  // any stride is fine for a size-1 dim
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return fmt::format("{} {} on {}", dtype_name(dtype()), shape_str(shape()), device().str());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(checked()->storage->data) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = device().is_cpu() ? *this : to(kCPU);
  if (host.dtype() != dtype_of<T>()) host = host.to(dtype_of<T>());
  host = host.contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  SIEVE_CHECK(numel() == 1, "item: expected a one-element tensor, got {}", describe());
  return to_vector<double>()[0];
}

// ---- creation ----

Tensor empty(const Shape& shape, Options opts) {
  SIEVE_CHECK(static_cast<int>(shape.size()) <= kMaxDims, "empty: {} has more than {} dims", shape_str(shape),
              kMaxDims);
  // span, the product of the non-zero sizes, bounds the strides: an empty (0, 2^40, 2^40) tensor
  // holds nothing but its strides would still overflow.
  int64_t n = 1, span = 1;
  for (int64_t s : shape) {
    SIEVE_CHECK(s >= 0, "empty: negative size in shape {}", shape_str(shape));
    SIEVE_CHECK(s == 0 || span <= (int64_t{1} << 46) / s, "empty: shape {} is too large", shape_str(shape));
    n *= s;
    span *= std::max<int64_t>(s, 1);
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(opts.device, static_cast<size_t>(n) * dtype_size(opts.dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  Tensor t(std::move(impl));
  if (opts.requires_grad) t.requires_grad_();
  return t;
}

Tensor full(const Shape& shape, double value, Options opts) {
  bool requires_grad = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  fill_(t, value);
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor zeros(const Shape& shape, Options opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, Options opts) { return full(shape, 1.0, opts); }
Tensor scalar(double value, Options opts) { return full({}, value, opts); }

Tensor arange(double start, double end, double step, Options opts) {
  SIEVE_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
              "arange: bad range start={} end={} step={}", start, end, step);
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor host = empty({n}, {.dtype = opts.dtype});
  dispatch_all(opts.dtype, Op::copy, [&]<typename T>() {
    T* p = host.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  Tensor t = opts.device.is_cpu() ? host : host.to(opts.device);
  if (opts.requires_grad) t.requires_grad_();
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  SIEVE_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
              "from_vector: {} values do not fill shape {}", values.size(), shape_str(shape));
  Tensor host = empty(shape, {.dtype = dtype_of<T>()});
  if (!values.empty()) std::memcpy(host.data<T>(), values.data(), values.size() * sizeof(T));
  return device.is_cpu() ? host : host.to(device);
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);

Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, {.dtype = t.dtype(), .device = t.device()});
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  SIEVE_CHECK(shape.size() == strides.size() && static_cast<int>(shape.size()) <= kMaxDims,
              "make_view: shape {} and strides {} disagree", shape_str(shape), shape_str(strides));
  // The view must stay inside the storage: check its lowest and highest element.
  int64_t lo = offset, hi = offset;
  bool empty_view = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) empty_view = true;
    const int64_t span = (shape[d] - 1) * strides[d];
    (span < 0 ? lo : hi) += span;
  }
  const int64_t capacity = static_cast<int64_t>(base.impl()->storage->nbytes / dtype_size(base.dtype()));
  SIEVE_CHECK(empty_view || (lo >= 0 && hi < capacity), "make_view: view {} at offset {} exceeds storage of {} elements",
              shape_str(shape), offset, capacity);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

}  // namespace sieve
