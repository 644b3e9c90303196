// ops/copy.cpp — contiguous, clone, to(dtype), to(device), copy_, fill_ and move_storage_.
//
// Shapes: every op here keeps the shape. Gradients: contiguous/clone pass g through, to(dtype)
// casts g back to the input's dtype, to(device) moves g back.
//
// Extend: a new device adds its branch to to(Device) (host↔device copies live in cuda/).
#include "ops/copy.h"

#include <map>
#include <memory>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "cuda/backend.h"
#include "ops/cpu/copy.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

void check_writable(const char* op, const Tensor& dst) {
  SIEVE_CHECK(!(grad_enabled() && dst.requires_grad()),
              "{}: in-place write to {} that requires grad; wrap it in a NoGradGuard", op, dst.describe());
}

// A fresh contiguous copy of x with the given dtype (same device), no autograd.
Tensor copy_as(const Tensor& x, DType dtype) {
  Tensor out = empty(x.shape(), {.dtype = dtype, .device = x.device()});
  SIEVE_DISPATCH(Op::copy, x.device(), /*flops=*/0, copy, x, out);
  return out;
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src) {
  check_defined(Op::copy, {&dst, &src});
  check_writable("copy_", dst);
  check_same_device(Op::copy, {&dst, &src});
  SIEVE_CHECK(broadcast_shapes(dst.shape(), src.shape(), "copy_") == dst.shape(),
              "copy_: source {} does not broadcast to destination {}", src.describe(), dst.describe());
  Tensor expanded = src.shape() == dst.shape() ? src : src.detach().expand(dst.shape());
  SIEVE_DISPATCH(Op::copy, dst.device(), /*flops=*/0, copy, expanded, dst);
}

void fill_(const Tensor& dst, double value) {
  check_defined(Op::copy, {&dst});
  check_writable("fill_", dst);
  SIEVE_DISPATCH(Op::copy, dst.device(), /*flops=*/0, fill, dst, value);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = copy_as(*this, dtype());
  autograd::record(Op::copy, out, {*this}, [](const Tensor& g) { return Grads{g}; });
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = copy_as(*this, target);
  if (is_floating(target)) {
    const DType source = dtype();
    autograd::record(Op::cast, out, {*this}, [source](const Tensor& g) { return Grads{g.to(source)}; });
  }
  return out;
}

void move_storage_(const std::vector<Tensor>& tensors, Device device) {
  // One new storage per old one, so tensors sharing memory keep sharing it.
  std::map<const Storage*, std::shared_ptr<Storage>> moved;
  for (const Tensor& t : tensors) {
    if (!t.defined() || t.device() == device) continue;
    SIEVE_CHECK(t.is_leaf(), "move_storage_: {} is the output of an op; move leaves only", t.describe());
    TensorImpl* impl = t.impl();
    std::shared_ptr<Storage>& target = moved[impl->storage.get()];
    if (!target) {
      target = std::make_shared<Storage>(device, impl->storage->nbytes);
      const int kind = device.is_cuda() ? (t.device().is_cuda() ? 2 : 0) : 1;
      if (impl->storage->nbytes > 0) cuda::memcpy(target->data, impl->storage->data, impl->storage->nbytes, kind);
    }
    impl->storage = target;
    impl->grad.reset();
  }
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor source = contiguous();
  Tensor out = empty(shape(), {.dtype = dtype(), .device = target});
  const size_t bytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  const int kind = target.is_cuda() ? (device().is_cuda() ? 2 : 0) : 1;
  if (bytes > 0) cuda::memcpy(out.raw_data(), source.raw_data(), bytes, kind);
  const Device back = device();
  autograd::record(Op::to_device, out, {*this}, [back](const Tensor& g) { return Grads{g.to(back)}; });
  return out;
}

}  // namespace sieve
