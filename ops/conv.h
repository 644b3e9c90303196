// ops/conv.h — the convolution-like ops the models need.
//
// conv1d_causal_depthwise (Mamba's short conv), channels last:
//   x: (B, L, C), weight: (C, K), bias: (C) or undefined → y: (B, L, C)
//   y[b, t, c] = bias[c] + Σ_{k<K} weight[c, k] · x[b, t − K + 1 + k, c]   (x before 0 is 0)
//   Equal to PyTorch's Conv1d(C, C, K, groups=C, padding=K−1) on (B, C, L), cut to the first L.
// conv2d_depthwise (VMamba's 3×3 conv inside each block), channels last:
//   x: (B, H, W, C), weight: (C, k, k) with k odd, bias: (C) or undefined → y: (B, H, W, C)
//   y[b, h, w, c] = bias[c] + Σ_{i,j<k} weight[c, i, j] · x[b, h + i − p, w + j − p, c],  p = (k − 1)/2
//   (x outside the image is 0). Equal to PyTorch's Conv2d(C, C, k, padding=p, groups=C) on
//   (B, C, H, W), with its weight (C, 1, k, k) viewed as (C, k, k).
// unfold_patches (ViT's patch embedding is this followed by a Linear):
//   x: (B, C, H, W), patch p (H and W divisible by p) → (B, (H/p)·(W/p), C·p·p)
//   patches in row-major order; each patch flattened as (c, i, j), like Conv2d's weight, so
//   unfold + Linear(C·p·p, D) equals Conv2d(C, D, p, stride=p).
//
// Extend: a general convolution would be its own family; these three are what the models use.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve {

Tensor conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias);
Tensor conv2d_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias);
Tensor unfold_patches(const Tensor& x, int64_t patch);

}  // namespace sieve
