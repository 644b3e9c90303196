// datasets/draws.h — keyed Philox streams for the data code (internal to datasets/).
//
// What it is: the two helpers the loader and the synthetic tasks share so that every random
// choice depends only on what it is about, never on the order things are computed in:
//   derive_key(key, what)  a new Philox key for a sub-stream (an epoch, a purpose, a sample):
//                          Philox itself is the hash, so neighbouring `what`s are unrelated;
//   Draws                  the draws of one stream: draw i is Philox counter i of its key.
// What it is not: a distribution library (core/random.h makes random tensors) nor a public API.
// Extend: a new use derives its own key with a `what` no other use of the same parent takes.
#pragma once

#include <cstdint>

#include "core/random.h"

namespace sieve::data {

inline uint64_t derive_key(uint64_t key, uint64_t what) {
  const auto w = philox4x32(key, what);
  return uint64_t{w[0]} << 32 | w[1];
}

struct Draws {
  uint64_t key = 0;
  uint64_t counter = 0;  // the next draw

  // 64 random bits: the first two words of Philox counter `counter`.
  uint64_t next() {
    const auto w = philox4x32(key, counter++);
    return uint64_t{w[0]} << 32 | w[1];
  }
  // Uniform in [0, n), n ≥ 1 (the modulo bias is below n / 2^64: nothing for the sizes here).
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

}  // namespace sieve::data
