// cuda/softmax.cpp — the softmax family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/softmax.cpp, which hands over contiguous tensors; the kernels are in
// cuda/softmax.cu. Here the shape is split into (A, C, B) around dim, as ops/cpu/softmax.cpp does.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {

// (A, C, B) of a contiguous tensor around dim (a 0-d tensor is one row of one value).
void split_around(const Shape& shape, int dim, int64_t& a, int64_t& c, int64_t& b) {
  a = c = b = 1;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < dim) a *= shape[d];
    if (d == dim) c = shape[d];
    if (d > dim) b *= shape[d];
  }
}

}  // namespace

void softmax(const Tensor& x, int dim, bool log, const Tensor& out) {
  const Op op = log ? Op::log_softmax : Op::softmax;
  check_floating(op, x);
  SIEVE_CHECK(x.is_contiguous() && out.is_contiguous(), "{}: expected contiguous tensors, got {} and {}",
              op_name(op), x.describe(), out.describe());
  int64_t a, c, b;
  split_around(x.shape(), dim, a, c, b);
  launch_softmax(tensor_arg(x, op_name(op)), tensor_arg(out, op_name(op)), a, c, b, log);
}

void softmax_backward(const Tensor& y, const Tensor& g, int dim, bool log, const Tensor& dx) {
  const Op op = log ? Op::log_softmax : Op::softmax;
  SIEVE_CHECK(y.is_contiguous() && g.is_contiguous() && dx.is_contiguous(),
              "{}: backward expects contiguous tensors, got {}, {} and {}", op_name(op), y.describe(), g.describe(),
              dx.describe());
  int64_t a, c, b;
  split_around(y.shape(), dim, a, c, b);
  launch_softmax_backward(tensor_arg(y, op_name(op)), tensor_arg(g, op_name(op)), tensor_arg(dx, op_name(op)), a, c,
                          b, log);
}

}  // namespace sieve::cuda
