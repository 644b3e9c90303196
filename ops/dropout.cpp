// ops/dropout.cpp — inverted dropout: front end and backward.
//
// Shapes: x: any → out: x's shape. Training with 0 < p < 1:
//   out[i] = x[i] · keep[i] / (1 − p),  keep[i] = uniform_from_word(philox4x32(seed, first + i/4)[i % 4]) ≥ p
// where first = generator.advance(ceil(n / 4)) reserves this call's counters.
// Backward: gx = g · keep / (1 − p) — the same kernel run on g with the saved (seed, first), so
// the mask is recomputed instead of stored (no n-byte mask kept alive per dropout in the graph).
// Special cases: not training, or p == 0 → x itself (no copy, no node); p == 1 → zeros, with a zero
// gradient (1 / (1 − p) would be infinite), still reserving the counters so later draws do not
// depend on p.
//
// What it is not: the RNG (core/random.h). Extend: another stochastic op (drop path, ...) reserves
// counters the same way and recomputes its randomness in the backward.
#include "ops/dropout.h"

#include "autograd/node.h"
#include "ops/cpu/dropout.h"
#include "ops/dispatch.h"

namespace sieve {

Tensor dropout(const Tensor& x, double p, bool training, Generator* generator) {
  check_defined(Op::dropout, {&x});
  check_floating(Op::dropout, x);
  SIEVE_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got {} (input {})", p, x.describe());
  if (!training || p == 0.0) return x;

  Generator& gen = generator != nullptr ? *generator : default_generator();
  const uint64_t n = static_cast<uint64_t>(x.numel());
  const uint64_t seed = gen.seed, first = gen.advance((n + 3) / 4);

  if (p == 1.0) {
    Tensor out = zeros_like(x);
    autograd::record(Op::dropout, out, {x}, [](const Tensor& g) { return Grads{zeros_like(g)}; });
    return out;
  }

  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(Op::dropout, x.device(), /*flops=*/x.numel(), dropout, x, out, p, seed, first);  // compare, scale
  autograd::record(Op::dropout, out, {x}, [p, seed, first](const Tensor& g) {
    Tensor gx = empty(g.shape(), {.dtype = g.dtype(), .device = g.device()});
    SIEVE_DISPATCH(Op::dropout, g.device(), /*flops=*/g.numel(), dropout, g, gx, p, seed, first);
    return Grads{gx};
  });
  return out;
}

}  // namespace sieve
