// cuda/elementwise.cpp — the elementwise family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/elementwise.cpp: inputs are stretched to the output's shape here (as
// the CPU kernels do with stretched_strides), the kernels are in cuda/elementwise.cu.
//
// Extend: nothing here for a new unary op (its formula is in ops/elementwise_math.h).
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"

namespace sieve::cuda {

void binary(BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out) {
  launch_binary(kind, tensor_arg_as(a, out.shape(), "binary"), tensor_arg_as(b, out.shape(), "binary"),
                tensor_arg(out, "binary"));
}

void unary(UnaryKind kind, const Tensor& x, const Tensor& out, const UnaryParams& params) {
  launch_unary(kind, tensor_arg(x, "unary"), tensor_arg(out, "unary"), params);
}

void unary_backward(UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out, const Tensor& grad_x,
                    const UnaryParams& params) {
  // The front end passes x and grad_out contiguous, y is the forward's fresh output; make sure,
  // since the kernel is flat.
  const Tensor xc = x.contiguous(), yc = y.contiguous(), gc = grad_out.contiguous();
  launch_unary_backward(kind, tensor_arg(xc, "unary_backward"), tensor_arg(yc, "unary_backward"),
                        tensor_arg(gc, "unary_backward"), tensor_arg(grad_x, "unary_backward"), params);
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  launch_where(tensor_arg_as(cond, out.shape(), "where"), tensor_arg_as(a, out.shape(), "where"),
               tensor_arg_as(b, out.shape(), "where"), tensor_arg(out, "where"));
}

}  // namespace sieve::cuda
