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

namespace sieve::cpu {

// Per row: lse = logsumexp(x); loss = lse − (1 − ε)·x[t] − (ε/C)·Σx (0 for ignored rows).
// out: the (R) losses when !reduce, else a 0-d tensor holding Σ losses / divisor (in double).
// lse (R) is saved for the backward.
void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double smoothing, bool reduce,
                   double divisor, const Tensor& out, const Tensor& lse);

// dlogits := (softmax(x) − (1 − ε)·onehot(t) − ε/C) · g_r / divisor per row, 0 for ignored rows.
// g is a 0-d tensor (mean/sum) or (R) (none).
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& g,
                            int64_t ignore_index, double smoothing, double divisor, const Tensor& dlogits);

// a, b contiguous, same shape. reduce: out (0-d) := Σ (a − b)² · scale; else out := (a − b)².
void mse_loss(const Tensor& a, const Tensor& b, bool reduce, double scale, const Tensor& out);

// da := 2 (a − b) · g · scale, db := −da (either may be undefined); g is 0-d or a's shape.
void mse_loss_backward(const Tensor& a, const Tensor& b, const Tensor& g, double scale, const Tensor& da,
                       const Tensor& db);

}  // namespace sieve::cpu
