// ops/cpu/conv.h — CPU kernels of the conv family (ops/conv.cpp): the causal depthwise conv1d
// (forward and backward) and patch unfold / fold.
//
// What it is not: checks or autograd. Shapes and formulas are in ops/conv.h.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve::cpu {

// x: (B, L, C) with channel stride 1 (any batch/time strides), weight: (C, K) any strides,
// bias: (C) or undefined → y: (B, L, C) contiguous.
void conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y);
// g and x: (B, L, C) with channel stride 1. Writes whichever of gx (B, L, C), gw (C, K) and
// gb (C) is defined; all three contiguous.
void conv1d_causal_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                                      const Tensor& gw, const Tensor& gb);

// x: (B, C, H, W) any strides → out: (B, (H/p)·(W/p), C·p·p) contiguous.
void unfold_patches(const Tensor& x, int64_t p, const Tensor& out);
// The inverse (patches do not overlap, so a pure permutation): g: (B, (H/p)·(W/p), C·p·p) any
// strides → gx: (B, C, H, W) contiguous.
void fold_patches(const Tensor& g, int64_t p, const Tensor& gx);

}  // namespace sieve::cpu
