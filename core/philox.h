// core/philox.h — Philox4x32-10 and its word → uniform mapping, for the CPU and CUDA alike.
//
// Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) maps a 64-bit key
// and a 64-bit counter to four random 32-bit words: ten rounds of two 32×32→64-bit multiplies
// with the key bumped by Weyl constants between rounds. It passes BigCrush and is what cuRAND and
// PyTorch's CUDA generator use. This header has no dependencies so that nvcc compiles the very
// same function into device code (cuda/dropout.cu): that is what makes a seed give bit-identical
// numbers on both devices. core/random.h builds random tensors on it.
//
// Extend: a new word mapping (another distribution) that a CUDA kernel needs goes here, marked
// SIEVE_HOST_DEVICE; one used only on the CPU goes in core/random.cpp.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace sieve {

struct PhiloxWords {
  uint32_t w[4];
};

SIEVE_HOST_DEVICE inline PhiloxWords philox_words(uint64_t key, uint64_t counter) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return {{c0, c1, c2, c3}};
}

// 24 random bits scaled to [0, 1): exact in float32 and float64, so both dtypes draw equal values.
SIEVE_HOST_DEVICE inline double uniform_from_word(uint32_t word) {
  return static_cast<double>(word >> 8) * (1.0 / 16777216.0);
}

}  // namespace sieve
