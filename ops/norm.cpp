// ops/norm.cpp — layer_norm and rms_norm over the last dim: fused forward, fused backward.
//
// Shapes: x: (..., C); weight, bias: (C) or undefined (no affine part) → y: (..., C).
// Saved for backward: x (contiguous), weight, and per-row mean and rstd: (R) with R = numel / C,
// so backward never recomputes the statistics. One backward kernel returns dx, dweight, dbias;
// dweight/dbias are only computed when weight/bias require grad.
//
// What it is not: the kernels (ops/cpu/norm.cpp), or the nn layers that own weight and bias
// (nn/). Extend: another last-dim norm passes its own flag to the same kernels.
#include "ops/norm.h"

#include "autograd/node.h"
#include "ops/cpu/norm.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

void check_param(Op op, const Tensor& x, const Tensor& p, const char* what) {
  if (!p.defined()) return;
  check_same_dtype(op, {&x, &p});
  check_same_device(op, {&x, &p});
  SIEVE_CHECK(p.ndim() == 1 && p.shape()[0] == x.shape().back(),
              "{}: {} must have shape ({},) to match the last dim of x {}, got {}", op_name(op), what,
              x.shape().back(), x.describe(), p.describe());
}

Tensor norm_op(Op op, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_defined(op, {&x});
  check_floating(op, x);
  SIEVE_CHECK(x.ndim() >= 1, "{}: x must have at least 1 dim (the normalised one), got {}", op_name(op),
              x.describe());
  SIEVE_CHECK(eps >= 0, "{}: eps must be non-negative, got {}", op_name(op), eps);
  check_param(op, x, weight, "weight");
  check_param(op, x, bias, "bias");
  const bool center = op == Op::layer_norm;
  const int64_t c = x.shape().back();
  const int64_t rows = c > 0 ? x.numel() / c : 0;
  const Options stat_opts{.dtype = x.dtype(), .device = x.device()};

  Tensor xc = x.detach().contiguous();
  Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = empty(x.shape(), stat_opts);
  Tensor mean = center ? empty({rows}, stat_opts) : Tensor();
  Tensor rstd = empty({rows}, stat_opts);
  SIEVE_DISPATCH(op, x.device(), /*flops=*/8 * x.numel(), norm_forward, xc, w, b, eps, y, mean, rstd);  // mean, var, normalise, affine

  const bool want_w = weight.defined() && weight.requires_grad();
  const bool want_b = bias.defined() && bias.requires_grad();
  autograd::record(op, y, {x, weight, bias}, [=](const Tensor& g) {
    Tensor dx = empty_like(xc);
    Tensor dw = want_w ? empty({c}, stat_opts) : Tensor();
    Tensor db = want_b ? empty({c}, stat_opts) : Tensor();
    SIEVE_DISPATCH(op, xc.device(), /*flops=*/11 * xc.numel(), norm_backward, xc, w, mean, rstd, g.contiguous(), dx,
                   dw, db);
    return Grads{dx, dw, db};
  });
  return y;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return norm_op(Op::layer_norm, x, weight, bias, eps);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return norm_op(Op::rms_norm, x, weight, Tensor(), eps);
}

}  // namespace sieve
