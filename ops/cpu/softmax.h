// ops/cpu/softmax.h — CPU kernels of softmax / log_softmax (ops/softmax.cpp), and the vectorisable
// exp and Σ exp row sum they share with the fused cross-entropy kernels (ops/cpu/loss.cpp).
//
// The kernels take contiguous tensors and see them as (A, C, B) around the softmax dim: B = 1 is
// the row case (softmax over the last dim, the fast one), B > 1 runs down columns of width B.
//
// What it is not: autograd (ops/softmax.cpp). Extend: a masked or scaled variant is a flag here.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "core/tensor.h"

namespace sieve::cpu {

// exp(x) for x ≤ 0 (every exp in softmax and cross-entropy: x − max, x − logsumexp), written as
// plain arithmetic so `#pragma omp simd` loops vectorise it: exp(x) = 2^n · e^r with
// n = round(x / ln2), |r| ≤ ln2/2 and Cephes' expf polynomial for e^r (about 1 ulp).
// Clamps are comparisons, not std::fmin/fmax: without -ffast-math GCC turns those into scalar
// library calls, which silently serialises the whole loop (why this does not reuse fastmath.h).
// Below −87 (a masked −inf logit, or an exp float would make subnormal) the result is exactly 0.
// NaN propagates: both clamps let it through, and 2^n is built from the float's bits (integer
// arithmetic on a bit pattern) rather than a float→int conversion, which NaN would make undefined.
inline float exp_nonpositive(float x) {
  float xc = x < -87.0f ? -87.0f : x;  // the comparisons are false for NaN: it passes
  xc = xc > 0.0f ? 0.0f : xc;
  // Adding 1.5·2^23 rounds x/ln2 to an integer n, which lands in the low mantissa bits.
  const float shifted = xc * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  float r = std::fma(n, -0.693359375f, xc);  // ln2 in two parts, so r is exact
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  // 2^n: n + 127 in the exponent field (n ∈ [−126, 0], so always a normal float).
  const uint32_t bits = (std::bit_cast<uint32_t>(shifted) - 0x4B400000u + 127u) << 23;
  const float result = p * std::bit_cast<float>(bits);
  return x < -87.0f ? 0.0f : result;
}
// float64 is the checking dtype, not the fast one: the library exp is exact and simple.
inline double exp_nonpositive(double x) { return std::exp(x); }

constexpr int64_t kSumChunk = 512;  // elements summed in T before a row sum moves to double

// Σ exp(x − m) over a row, also storing each exp in y when y is non-null. The vector loop sums
// in T within chunks of kSumChunk and the chunks add up in double: a 50k-wide row stays accurate to
// float precision instead of drifting by ~1e-4 as one long float sum does.
template <typename T>
double exp_sum(const T* __restrict x, T* __restrict y, int64_t n, T m) {
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += kSumChunk) {
    const int64_t end = std::min(n, begin + kSumChunk);
    T s = 0;
    if (y != nullptr) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = begin; i < end; ++i) {
        const T e = exp_nonpositive(x[i] - m);
        y[i] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = begin; i < end; ++i) s += exp_nonpositive(x[i] - m);
    }
    total += static_cast<double>(s);
  }
  return total;
}

// out := softmax(x) along dim (log: log_softmax). x, out contiguous, same shape.
void softmax(const Tensor& x, int dim, bool log, const Tensor& out);

// dx := softmax backward from the saved output y and the upstream gradient g (all contiguous):
//   softmax: dx = y ⊙ (g − Σ g⊙y)     log_softmax: dx = g − exp(y) ⊙ Σ g
void softmax_backward(const Tensor& y, const Tensor& g, int dim, bool log, const Tensor& dx);

}  // namespace sieve::cpu
