// ops/cpu/scan.h — CPU kernels of selective_scan (ops/scan.cpp): a fast chunked forward and
// backward, and a plain sequential reference of both that the tests compare them against.
//
// Legend as ops/scan.h: x, delta, z, y, g: (B, L, C); A: (C, N); Bm, Cm: (B, L, N) or (B, L, G, N)
// (G groups of channels, each reading its own B and C; dBm, dCm have Bm's shape); D: (C).
// All tensors are contiguous and of one float dtype. D and z may be undefined (no skip term, no
// gate). states: (B, K, N, C) with K = ceil(L / chunk) − 1, the state h at the end of each chunk
// but the last (stored n-major so one channel block's lanes are adjacent); undefined when the
// caller needs no backward (inference).
//
// What it is not: checks or autograd (ops/scan.cpp). Extend: a variant (reverse direction, a fused
// softplus on delta) is a flag on both kernels and on the reference.
#pragma once

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   selective_scan_forward: y := the scan; states (when defined) := h at every chunk boundary.
//   selective_scan_backward: all seven gradients from the upstream g (dD, dz must be defined
//     exactly when D, z are). Recomputes each chunk's states from `states` (written by the forward
//     with the same chunk).
#define SIEVE_SCAN_KERNELS(X)                                                                          \
  X(selective_scan_forward, (const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,  \
                             const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y,      \
                             const Tensor& states, int64_t chunk))                                     \
  X(selective_scan_backward, (const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, \
                              const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& states, \
                              const Tensor& g, int64_t chunk, const Tensor& dx, const Tensor& ddelta,  \
                              const Tensor& dA, const Tensor& dBm, const Tensor& dCm, const Tensor& dD, \
                              const Tensor& dz))

namespace sieve::cpu {

// Steps per chunk: backward recomputes one chunk of states at a time from the saved boundary state.
// 64 steps × N × 16 lanes of h and exp(Δ·A) fit in L2 (128 KB at N = 16 in float32).
inline constexpr int64_t kScanChunk = 64;

SIEVE_SCAN_KERNELS(SIEVE_DECLARE_KERNEL)

// The definitions, one (b, c) at a time, one step at a time: slow and obvious. The backward keeps
// all L·N states of one (b, c) in a local buffer. For tests only.
void selective_scan_reference(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                              const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y);
void selective_scan_reference_backward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                                       const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& g,
                                       const Tensor& dx, const Tensor& ddelta, const Tensor& dA,
                                       const Tensor& dBm, const Tensor& dCm, const Tensor& dD,
                                       const Tensor& dz);

}  // namespace sieve::cpu
