// core/random.h — the counter-based Philox4x32-10 generator and random tensors.
//
// Philox maps (key, counter) to four random 32-bit words with no state to carry: element i of a
// draw uses counter (offset + i / 4) and word i % 4 (uniform), or counter (offset + i / 2) for a
// normal pair. Any thread — a CUDA thread too (cuda/dropout.cu) — computes its element directly, so the same
// seed gives bit-identical numbers on CPU and GPU and for any thread count. A Generator is just
// (seed, offset); each draw advances the offset past the counters it used.
//
// Extend: a new distribution maps Philox words to values in core/random.cpp.
#pragma once

#include <array>
#include <cstdint>

#include "core/philox.h"
#include "core/tensor.h"

namespace sieve {

// One Philox4x32-10 block (core/philox.h): 4 words from a 64-bit key and a 64-bit counter.
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter);

// Words → numbers in (0, 1) (uniform_from_word, core/philox.h) and N(0, 1).
double normal_from_words(uint32_t w0, uint32_t w1, bool second);  // Box–Muller, cos or sin half

struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;  // counters already used

  explicit Generator(uint64_t seed_ = 0) : seed(seed_) {}
  // Reserves `count` counters and returns the first.
  uint64_t advance(uint64_t count) {
    uint64_t first = offset;
    offset += count;
    return first;
  }
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // resets the default generator: (seed, offset 0)

Tensor rand(const Shape& shape, Options opts = {}, Generator* gen = nullptr);   // U(0, 1)
Tensor randn(const Shape& shape, Options opts = {}, Generator* gen = nullptr);  // N(0, 1)
// Integers uniform in [low, high); int64 unless opts.dtype says otherwise.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Options opts = {.dtype = DType::i64},
               Generator* gen = nullptr);

}  // namespace sieve
