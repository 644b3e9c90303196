// ops/softmax.h — softmax and log_softmax along one dim, fused and numerically stable.
//
// Shapes: x: (..., C, ...) → out: same shape; normalised along dim (usually -1).
// Forward subtracts the row max before exp; backward uses the saved output:
//   softmax:     dx = y ⊙ (g − Σ g⊙y)
//   log_softmax: dx = g − exp(y) ⊙ Σ g
//
// Extend: masked or scaled variants are options here, not new files.
#pragma once

#include "core/tensor.h"

namespace sieve {

Tensor softmax(const Tensor& x, int dim = -1);
Tensor log_softmax(const Tensor& x, int dim = -1);

}  // namespace sieve
