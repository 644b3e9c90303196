// ops/cpu/conv.h — CPU kernels of the conv family (ops/conv.cpp): the causal depthwise conv1d and
// the depthwise conv2d (forward and backward), and patch unfold / fold.
//
// What it is not: checks or autograd. Shapes and formulas are in ops/conv.h.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   conv1d_causal_depthwise: x: (B, L, C) with channel stride 1 (any batch/time strides), weight:
//     (C, K) any strides, bias: (C) or undefined → y: (B, L, C) contiguous.
//   conv1d_causal_depthwise_backward: g and x: (B, L, C) with channel stride 1. Writes whichever of
//     gx (B, L, C), gw (C, K) and gb (C) is defined; all three contiguous.
//   conv2d_depthwise: x: (B, H, W, C) contiguous, weight: (C, k, k) any strides, bias: (C) or
//     undefined → y: (B, H, W, C) contiguous; k odd, zero padding (k − 1)/2, stride 1.
//   conv2d_depthwise_backward: g and x: (B, H, W, C) contiguous. Writes whichever of gx
//     (B, H, W, C), gw (C, k, k) and gb (C) is defined; all three contiguous.
//   unfold_patches: x: (B, C, H, W) any strides → out: (B, (H/p)·(W/p), C·p·p) contiguous.
//   fold_patches: the inverse (patches do not overlap, so a pure permutation): g: (B, (H/p)·(W/p),
//     C·p·p) any strides → gx: (B, C, H, W) contiguous.
#define SIEVE_CONV_KERNELS(X)                                                                        \
  X(conv1d_causal_depthwise, (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y)) \
  X(conv1d_causal_depthwise_backward, (const Tensor& g, const Tensor& x, const Tensor& weight,             \
                                       const Tensor& gx, const Tensor& gw, const Tensor& gb))              \
  X(conv2d_depthwise, (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y))        \
  X(conv2d_depthwise_backward, (const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,    \
                                const Tensor& gw, const Tensor& gb))                                        \
  X(unfold_patches, (const Tensor& x, int64_t p, const Tensor& out))                                      \
  X(fold_patches, (const Tensor& g, int64_t p, const Tensor& gx))

namespace sieve::cpu {

SIEVE_CONV_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
