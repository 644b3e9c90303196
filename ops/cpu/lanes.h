// ops/cpu/lanes.h — small helpers for kernels that keep W channels in the lanes of one 512-bit
// vector (the selective scan): aligned scratch, zero-padded lane loads and stores, and the sums
// of many vectors' lanes at once.
//
// Why the lane sums are here: a kernel that needs Σ_lanes v for each of N vectors (the scan's
// dB and dC, summed over channels) pays ~8 dependent shuffle/add steps per horizontal sum. Summing
// 16 vectors together as a transpose-and-add tree costs 30 shuffles and 15 adds for all 16 sums —
// about a third of the work, and off the loop's dependency chain.
//
// Extend: a new width gets its own tree below and a branch in add_lane_sums; the generic loop is
// the reference every tree is tested against (tests/ops/test_scan.cpp runs both paths).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace sieve::cpu {

template <typename T>
constexpr int kLanes = 64 / static_cast<int>(sizeof(T));  // one 512-bit vector: 16 floats, 8 doubles

// n elements of T, 64-byte aligned, zeroed.
template <typename T>
struct Scratch {
  std::vector<T> storage;
  T* p;
  explicit Scratch(int64_t n) : storage(static_cast<size_t>(n) + 64 / sizeof(T), T(0)) {
    void* q = storage.data();
    size_t space = storage.size() * sizeof(T);
    p = static_cast<T*>(std::align(64, static_cast<size_t>(n) * sizeof(T), q, space));
  }
};

// W lanes from p (nl of them valid), zero-padded.
template <typename T, int W>
inline void load_lanes(const T* __restrict p, int nl, T* __restrict out) {
  if (nl == W) {
#pragma omp simd
    for (int l = 0; l < W; ++l) out[l] = p[l];
  } else {
    for (int l = 0; l < W; ++l) out[l] = l < nl ? p[l] : T(0);
  }
}

template <typename T, int W>
inline void store_lanes(const T* __restrict v, int nl, T* __restrict p) {
  if (nl == W) {
#pragma omp simd
    for (int l = 0; l < W; ++l) p[l] = v[l];
  } else {
    for (int l = 0; l < nl; ++l) p[l] = v[l];
  }
}

namespace lanes_detail {

typedef float f16v __attribute__((vector_size(64)));

// One tree level: lanes of a (0–15) and b (16–31) that belong to the same source vector are added
// pairwise; each pair of shuffles picks the first and the second half of every group of 2·g lanes.
// (__builtin_shufflevector: GCC ≥ 12 and clang both have it, with the indices as constants.)
#define SIEVE_FOLD(a, b, ...) (__builtin_shufflevector(a, b, __VA_ARGS__))

// out[k] += Σ_l v[k·16 + l] for k = 0..15; v 64-byte aligned.
inline void add_sums_16x16(const float* __restrict v, float* __restrict out) {
  f16v r[16];
  for (int k = 0; k < 16; ++k) r[k] = *reinterpret_cast<const f16v*>(v + 16 * k);
  // After each level, vector i holds the partial sums of its sources in order: level 1 → 8 lanes
  // per source, 2 → 4, 3 → 2, 4 → 1 (lane k is source k).
  for (int k = 0; k < 8; ++k)
    r[k] = SIEVE_FOLD(r[2 * k], r[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           SIEVE_FOLD(r[2 * k], r[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int k = 0; k < 4; ++k)
    r[k] = SIEVE_FOLD(r[2 * k], r[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           SIEVE_FOLD(r[2 * k], r[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  for (int k = 0; k < 2; ++k)
    r[k] = SIEVE_FOLD(r[2 * k], r[2 * k + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           SIEVE_FOLD(r[2 * k], r[2 * k + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  const f16v sums = SIEVE_FOLD(r[0], r[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
                    SIEVE_FOLD(r[0], r[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int k = 0; k < 16; ++k) out[k] += sums[k];
}

#undef SIEVE_FOLD

}  // namespace lanes_detail

// out[n] += Σ_{l<W} v[n·W + l] for n < N (v: N vectors of W lanes, 64-byte aligned).
template <typename T, int W>
inline void add_lane_sums(const T* __restrict v, int64_t N, T* __restrict out) {
  int64_t n = 0;
  if constexpr (std::is_same_v<T, float> && W == 16)
    for (; n + 16 <= N; n += 16) lanes_detail::add_sums_16x16(v + n * W, out + n);
  for (; n < N; ++n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int l = 0; l < W; ++l) s += v[n * W + l];
    out[n] += s;
  }
}

}  // namespace sieve::cpu
