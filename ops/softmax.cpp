// ops/softmax.cpp — softmax and log_softmax along one dim, fused, with their fused backward.
//
// Shapes: x: (..., C, ...) → y: same shape, normalised along dim. Backward reads only the saved
// output y (never x), in one kernel:
//   softmax:     dx = y ⊙ (g − Σ_dim g⊙y)
//   log_softmax: dx = g − exp(y) ⊙ Σ_dim g
// The kernels want contiguous data; a strided x is copied once (outside the graph) first.
//
// What it is not: the kernels (ops/cpu/softmax.cpp) or cross-entropy (ops/loss.cpp, which fuses
// log_softmax with the loss). Extend: a variant (masked, scaled) is a flag passed to the kernels.
#include "ops/softmax.h"

#include <algorithm>

#include "autograd/node.h"
#include "ops/cpu/softmax.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

Tensor softmax_op(Op op, const Tensor& x, int dim) {
  check_defined(op, {&x});
  check_floating(op, x);
  const int d = normalize_dim(dim, std::max(x.ndim(), 1), op_name(op));  // a 0-d x is one class
  const bool log = op == Op::log_softmax;
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(op, x.device(), /*flops=*/4 * x.numel(), softmax, x.detach().contiguous(), d, log, out);  // max, exp, sum, scale
  autograd::record(op, out, {x}, [op, d, log, y = out.detach()](const Tensor& g) {
    Tensor dx = empty_like(y);
    SIEVE_DISPATCH(op, y.device(), /*flops=*/4 * y.numel(), softmax_backward, y, g.contiguous(), d, log, dx);  // Σ g·y, then y·(g − Σ)
    return Grads{dx};
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int dim) { return softmax_op(Op::softmax, x, dim); }

Tensor log_softmax(const Tensor& x, int dim) { return softmax_op(Op::log_softmax, x, dim); }

}  // namespace sieve
