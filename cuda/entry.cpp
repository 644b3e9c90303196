// cuda/entry.cpp — Tensor → TensorArg for the entry points in cuda/<family>.cpp (cuda/entry.h).
#include "cuda/entry.h"

#include "ops/cpu/loops.h"

namespace sieve::cuda {

namespace {
TensorArg fill_arg(const Tensor& t, const Shape& shape, const Shape& strides, const char* op) {
  SIEVE_CHECK(t.device().is_cuda(), "{}: expected a CUDA tensor, got {}", op, t.describe());
  TensorArg arg;
  arg.data = t.raw_data();
  arg.dtype = t.dtype();
  arg.ndim = static_cast<int>(shape.size());
  arg.numel = numel_of(shape);
  for (int d = 0; d < arg.ndim; ++d) {
    arg.shape[d] = shape[d];
    arg.strides[d] = strides[d];
  }
  return arg;
}
}  // namespace

TensorArg tensor_arg(const Tensor& t, const char* op) { return fill_arg(t, t.shape(), t.strides(), op); }

TensorArg optional_tensor_arg(const Tensor& t, const char* op) {
  return t.defined() ? tensor_arg(t, op) : TensorArg{};
}

TensorArg tensor_arg_as(const Tensor& t, const Shape& shape, const char* op) {
  return fill_arg(t, shape, cpu::stretched_strides(t.shape(), t.strides(), shape), op);
}

}  // namespace sieve::cuda
