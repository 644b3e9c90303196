// ops/norm.h — layer norm and RMS norm over the last dim, fused forward and backward.
//
// Shapes: x: (..., C); weight, bias: (C) (either may be undefined: no affine part) → out: (..., C).
//   layer_norm: y = (x − mean) / sqrt(var + eps) · w + b     (var is the population variance)
//   rms_norm:   y = x / sqrt(mean(x²) + eps) · w
// Forward saves the per-row mean and rstd (1/σ) so backward never recomputes the statistics.
//
// Extend: other normalisations over the last dim follow the same kernel shape.
#pragma once

#include "core/tensor.h"

namespace sieve {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

}  // namespace sieve
