// ops/cpu/dropout.h — the CPU kernel of dropout (ops/dropout.cpp).
//
// What it is not: the generator bookkeeping (the front end reserves the counters).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernel, for every backend (ops/kernel_list.h):
//   dropout: out[i] = x[i] / (1 − p) where element i is kept, else 0; i counts x's elements in
//     row-major order, and element i is kept iff uniform_from_word(philox4x32(seed, first + i / 4)
//     [i % 4]) ≥ p. x: any shape and strides; out: x's shape, contiguous. The backward calls it
//     again on the gradient with the same (seed, first), which multiplies by the same mask.
#define SIEVE_DROPOUT_KERNELS(X) \
  X(dropout, (const Tensor& x, const Tensor& out, double p, uint64_t seed, uint64_t first))

namespace sieve::cpu {

SIEVE_DROPOUT_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
