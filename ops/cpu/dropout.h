// ops/cpu/dropout.h — the CPU kernel of dropout (ops/dropout.cpp).
//
// What it is not: the generator bookkeeping (the front end reserves the counters).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve::cpu {

// out[i] = x[i] / (1 − p) where element i is kept, else 0; i counts x's elements in row-major
// order, and element i is kept iff uniform_from_word(philox4x32(seed, first + i / 4)[i % 4]) ≥ p.
// x: any shape and strides; out: x's shape, contiguous. The backward calls it again on the
// gradient with the same (seed, first), which multiplies by the same mask.
void dropout(const Tensor& x, const Tensor& out, double p, uint64_t seed, uint64_t first);

}  // namespace sieve::cpu
