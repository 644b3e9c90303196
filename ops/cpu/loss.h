// ops/cpu/loss.h — CPU kernels of the loss family (ops/loss.cpp): cross-entropy fused with
// log_softmax, and mean squared error.
//
// Cross-entropy sees logits as (R, C) rows and target as (R), both contiguous; the front end has
// checked every target (in [0, C) or ignore_index), so these kernels never range-check.
//
// What it is not: autograd (ops/loss.cpp). Extend: a new fused loss adds its forward/backward pair.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   cross_entropy: per row lse = logsumexp(x); loss = lse − (1 − ε)·x[t] − (ε/C)·Σx (0 for ignored
//     rows). out: the (R) losses when !reduce, else a 0-d tensor holding Σ losses / divisor (in
//     double). lse (R) is saved for the backward.
//   cross_entropy_backward: dlogits := (softmax(x) − (1 − ε)·onehot(t) − ε/C) · g_r / divisor per
//     row, 0 for ignored rows. g is a 0-d tensor (mean/sum) or (R) (none).
//   mse_loss: a, b contiguous, same shape. reduce: out (0-d) := Σ (a − b)² · scale; else
//     out := (a − b)².
//   mse_loss_backward: da := 2 (a − b) · g · scale, db := −da (either may be undefined); g is 0-d
//     or a's shape.
#define SIEVE_LOSS_KERNELS(X)                                                                             \
  X(cross_entropy, (const Tensor& logits, const Tensor& target, int64_t ignore_index, double smoothing,    \
                    bool reduce, double divisor, const Tensor& out, const Tensor& lse))                     \
  X(cross_entropy_backward, (const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& g, \
                             int64_t ignore_index, double smoothing, double divisor, const Tensor& dlogits)) \
  X(mse_loss, (const Tensor& a, const Tensor& b, bool reduce, double scale, const Tensor& out))             \
  X(mse_loss_backward, (const Tensor& a, const Tensor& b, const Tensor& g, double scale, const Tensor& da,  \
                        const Tensor& db))

namespace sieve::cpu {

SIEVE_LOSS_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
