// ops/loss.h — losses: cross-entropy fused with log_softmax, and mean squared error.
//
// cross_entropy: logits: (N, C) or (..., C); target: int64 (N) or (...), class indices.
//   Targets equal to ignore_index contribute nothing and are not counted in the mean.
//   label_smoothing ε mixes the one-hot target with the uniform distribution (PyTorch's rule:
//   target = (1 − ε)·onehot + ε/C). Out: a scalar for mean/sum, (N) / (...) for none.
//   Backward: (softmax(logits) − smoothed target) · g / count, computed in one fused kernel.
// mse_loss: a, b same shape → scalar (mean or sum) or elementwise (none).
//
// Extend: a new loss gets its own Op and a fused kernel only when composing primitives is too
// slow or unstable; otherwise write it from ops in nn/.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve {

enum class Reduction { mean, sum, none };

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     double label_smoothing = 0.0, Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace sieve
