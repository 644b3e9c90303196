// ops/conv.h — the two convolution-like ops the models need.
//
// conv1d_causal_depthwise (Mamba's short conv), channels last:
//   x: (B, L, C), weight: (C, K), bias: (C) or undefined → y: (B, L, C)
//   y[b, t, c] = bias[c] + Σ_{k<K} weight[c, k] · x[b, t − K + 1 + k, c]   (x before 0 is 0)
//   Equal to PyTorch's Conv1d(C, C, K, groups=C, padding=K−1) on (B, C, L), cut to the first L.
// unfold_patches (ViT's patch embedding is this followed by a Linear):
//   x: (B, C, H, W), patch p (H and W divisible by p) → (B, (H/p)·(W/p), C·p·p)
//   patches in row-major order; each patch flattened as (c, i, j), like Conv2d's weight, so
//   unfold + Linear(C·p·p, D) equals Conv2d(C, D, p, stride=p).
//
// Extend: a general convolution would be its own family; these two are what the models use.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve {

Tensor conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias);
Tensor unfold_patches(const Tensor& x, int64_t patch);

}  // namespace sieve
