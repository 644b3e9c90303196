// ops/cpu/fastmath.h — branch-free float32 exp and normal CDF that the compiler can vectorise.
//
// std::exp and std::erf are scalar library calls: a loop over them runs one element at a time.
// These versions are plain arithmetic (range reduction, a polynomial, an exponent bit-trick), so
// `#pragma omp simd` loops turn into AVX-512 code. Accuracy: exp within 2 ulp (denormals and
// overflow to inf included); the normal CDF within 1.5e-6 relative (about 12 ulp) for x ≥ −3, growing as x²/9 times
// that beyond (exp(−x²/2) of a float argument is only as exact as x²/2 is). float64 kernels keep the exact library functions (gradcheck runs there).
//
// Extend: add a function only with a test of its error against the library version
// (tests/ops/test_elementwise.cpp).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace sieve::cpu {

inline float exp_fast(float x) {
  // Below −104 the result is under half the smallest denormal; above 89 it is +inf either way.
  x = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);  // ternaries vectorise; fmin/fmax do not
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);  // x = n·ln2 + r, |r| ≤ ln2/2
  const float r = x - n * 0.693359375f - n * -2.12194440e-4f;   // ln2 split in two for exactness
  float p = 1.9875691500e-4f;                                   // Cephes expf minimax polynomial
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two factors 2^(n/2)·2^(n − n/2), each a normal float, so results near the ends of the
  // range (denormals, values just under FLT_MAX) come out right instead of flushing or overflowing.
  const int32_t half = static_cast<int32_t>(n) >> 1;
  const float scale_a = std::bit_cast<float>((half + 127) << 23);
  const float scale_b = std::bit_cast<float>((static_cast<int32_t>(n) - half + 127) << 23);
  return p * scale_a * scale_b;
}

// erfc(z) for z ≥ 0 (the Chebyshev fit of Numerical Recipes' erfcc: relative error below 1.2e-7 in exact
// arithmetic, about 1e-6 evaluated in float32), so the normal tail keeps its relative accuracy.
inline float erfc_nonnegative_fast(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * exp_fast(-z * z + p);
}

// Φ(x), the standard normal CDF (GELU is x·Φ(x)).
inline float normal_cdf_fast(float x) {
  const float tail = 0.5f * erfc_nonnegative_fast(std::fabs(x) * 0.70710678118654752f);
  return x < 0.0f ? tail : 1.0f - tail;
}

// Overloads so kernels templated on T pick the fast float path and the exact double one.
inline float exp_any(float x) { return exp_fast(x); }
inline double exp_any(double x) { return std::exp(x); }
inline float normal_cdf_any(float x) { return normal_cdf_fast(x); }
inline double normal_cdf_any(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }

}  // namespace sieve::cpu
