// ops/cpu/attention.h — CPU kernels of fused attention (ops/attention.cpp).
//
// Legend as ops/attention.h: q: (B, H, Lq, D), k, v: (B, H, Lk, D), probs: (B, H, Lq, Lk).
// Every (B, H) pair is one independent task; tasks run in parallel, each single-threaded.
//
// What it is not: checks or autograd (the front end does both). Extend: a new mask kind adds a
// field to AttentionMasks and sets its masked scores to −∞ in ops/cpu/attention.cpp's softmax_columns
// (and cuda/attention.cu's forward).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_list.h"

namespace sieve::cpu {

struct AttentionMasks {
  double scale = 1.0;
  bool causal = false;
  Tensor key_padding = {};  // undefined, or (B, Lk) contiguous, nonzero = padded
  Tensor key_bias = {};     // undefined, or (B, Lk) contiguous of q's dtype, added to key j's scores
};

}  // namespace sieve::cpu

// The family's kernels, for every backend (ops/kernel_list.h):
//   attention: out := softmax(q·kᵀ·scale + masks)·v. q, k, v, out may have any strides (out must
//     not overlap the inputs). probs, when defined, receives the probabilities (contiguous
//     (B, H, Lq, Lk)) for backward; cls, when defined, the head mean of query row 0: contiguous
//     (B, Lk).
//   attention_backward: dq, dk, dv := the gradients from the upstream gradient g (B, H, Lq, D) and
//     the saved probs. Any strides for every tensor; an undefined dq/dk/dv is not written.
#define SIEVE_ATTENTION_KERNELS(X)                                                                   \
  X(attention, (const Tensor& q, const Tensor& k, const Tensor& v, const cpu::AttentionMasks& masks,  \
                const Tensor& out, const Tensor& probs, const Tensor& cls))                           \
  X(attention_backward, (const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,      \
                         const Tensor& g, const cpu::AttentionMasks& masks, const Tensor& dq,         \
                         const Tensor& dk, const Tensor& dv))

namespace sieve::cpu {

SIEVE_ATTENTION_KERNELS(SIEVE_DECLARE_KERNEL)

// One head's scores transposed, st (Lk, Lq) with rows ld apart → in place, each column (a query)
// its masked softmax over the keys; m and inv are Lq values of scratch. The reference forward and
// the row kernels (ops/cpu/attention_rows.cpp) both use it; float and double are instantiated.
template <typename T>
void softmax_columns(T* st, int64_t ld, int64_t Lq, int64_t Lk, bool causal, const uint8_t* padded, const T* bias,
                     T* m, T* inv);

}  // namespace sieve::cpu
