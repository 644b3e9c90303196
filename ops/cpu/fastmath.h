// ops/cpu/fastmath.h — branch-free float32 exp, normal CDF, GELU and softplus that the compiler can
// vectorise.
//
// std::exp and std::erf are scalar library calls: a loop over them runs one element at a time.
// These versions are plain arithmetic (polynomials, selects, an exponent bit-trick), so
// `#pragma omp simd` loops turn into AVX-512 code. Accuracy: exp within 2 ulp (denormals and
// overflow to inf included); the normal CDF within 4e-7 absolute; GELU within 1e-7·(1 + |x|);
// softplus within 2.1e-7 relative.
// float64 kernels keep the exact library functions (gradcheck runs there).
//
// CpuMath, at the end, hands these to the formulas both backends share (ops/elementwise_math.h).
//
// Extend: add a function only with a test of its error against the library version
// (tests/ops/test_elementwise.cpp).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace sieve::cpu {

// The core both exps below share: x = n·ln2 + r with |r| ≤ ln2/2; returns e^r, n through `n`.
inline float exp_reduced(float x, float& n) {
  n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f - n * -2.12194440e-4f;  // ln2 split in two for exactness
  float p = 1.9875691500e-4f;                                  // Cephes expf minimax polynomial
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

inline float exp_fast(float x) {
  // Below −104 the result is under half the smallest denormal; above 89 it is +inf either way.
  x = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);  // ternaries vectorise; fmin/fmax do not
  float n;
  const float p = exp_reduced(x, n);
  // 2^n as two factors 2^(n/2)·2^(n − n/2), each a normal float, so results near the ends of the
  // range (denormals, values just under FLT_MAX) come out right instead of flushing or overflowing.
  const int32_t half = static_cast<int32_t>(n) >> 1;
  const float scale_a = std::bit_cast<float>((half + 127) << 23);
  const float scale_b = std::bit_cast<float>((static_cast<int32_t>(n) - half + 127) << 23);
  return p * scale_a * scale_b;
}

// exp(x) for x ≤ 0 — a softmax's x − max — with one scale factor: within 2 ulp while the result
// is a normal float (x ≥ −87.3); below, a denormal or 0 (x ≤ −88 gives 0: a softmax divides by a
// sum ≥ 1, where such terms cannot count). −∞ gives 0 and NaN stays NaN. Used by attention's
// column softmax (ops/cpu/attention_rows.cpp), where it is a quarter of the forward's time.
inline float exp_nonpositive(float x) {
  x = x < -88.0f ? -88.0f : x;  // NaN passes through: every comparison with it is false
  float n;                       // ≥ −127
  const float p = exp_reduced(x, n);
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);  // n = −127: 0
}

// Φ(−a), the standard normal tail, as u(a)^8 with u a degree-8 polynomial: the eighth root of the
// tail is close to exp(−a²/16), smooth enough for a low degree, where the step-like erf itself
// would need about degree 15 (or a division and an exp, as a Numerical Recipes style erfc does).
// Eight FMAs and three squarings; no exp, no division, no floor. Coefficients: a weighted minimax
// fit in double precision by tools/fit_gelu.py (run it to re-derive them and their errors).
// Valid for 0 ≤ a ≤ kNormalTailCut only; the callers below select 0 beyond, where the tail is
// below 2e-8.
inline constexpr float kNormalTailCut = 5.5f;

inline float normal_tail_polynomial(float a) {
  float u = -3.017464678e-07f;
  u = u * a + 7.529687537e-06f;
  u = u * a - 6.028592907e-05f;
  u = u * a + 3.340539115e-05f;
  u = u * a + 1.507714740e-03f;
  u = u * a - 6.768800667e-04f;
  u = u * a - 3.192489222e-02f;
  u = u * a - 9.145820886e-02f;
  u = u * a + 9.170040488e-01f;
  u = u * u;  // u^2
  u = u * u;  // u^4
  return u * u;
}

// Φ(−a) for a ≥ 0: within 4e-7 absolute everywhere (largest near a = 0, where the eighth power
// magnifies the float32 rounding of u) and, for a < 5.5, within 4e-5 relative, so the tail stays
// meaningful down to 2e-8 (every float in [0, 10] measured: 3.4e-7 and 2.8e-5).
// `a > cut ? 0 : …` rather than `a < cut ? … : 0` so that NaN falls through to NaN.
inline float normal_tail_fast(float a) { return a > kNormalTailCut ? 0.0f : normal_tail_polynomial(a); }

// Φ(x), the standard normal CDF: within 4e-7 absolute.
inline float normal_cdf_fast(float x) {
  const float tail = normal_tail_fast(std::fabs(x));
  return x < 0.0f ? tail : 1.0f - tail;
}

// GELU, x·Φ(x), written as relu(x) − |x|·Φ(−|x|): the relu part is exact and the correction is
// small, so the result is within 1e-7·(1 + |x|) of the true value (every float in [−10, 10]
// measured: 8.7e-8·(1 + |x|)), and for −5.5 < x < 0 within 4e-5 relative (normal_tail_fast);
// below −5.5 it is 0 (the true value is above −1.1e-7 there).
// The select comes after the product so that +inf gives +inf (not inf·0 = NaN); −inf gives 0, the
// limit; NaN gives NaN.
inline float gelu_fast(float x) {
  const float a = std::fabs(x);
  const float relu = x < 0.0f ? 0.0f : x;
  const float correction = a > kNormalTailCut ? 0.0f : a * normal_tail_polynomial(a);
  return relu - correction;
}

// log(1 + t) for 0 ≤ t ≤ 1. u = 1 + t lies in [1, 2]: split as 2^e·(1 + r) with e ∈ {0, 1} and
// r ∈ [−0.3, 0.42), then log(1 + r) by the Cephes logf minimax polynomial. u rounds t, but u − 1
// is exact, so log(u)·t/(u − 1) puts back what the rounding lost (Goldberg's log1p trick); for t
// below half an ulp of 1, u = 1 and the answer is t itself.
inline float log1p_unit(float t) {
  const float u = 1.0f + t;
  const bool upper = u >= 1.41421356f;  // √2
  const float r = upper ? 0.5f * u - 1.0f : u - 1.0f;
  const float e = upper ? 1.0f : 0.0f;
  const float z = r * r;
  float p = 7.0376836292e-2f;
  p = p * r - 1.1514610310e-1f;
  p = p * r + 1.1676998740e-1f;
  p = p * r - 1.2420140846e-1f;
  p = p * r + 1.4249322787e-1f;
  p = p * r - 1.6668057665e-1f;
  p = p * r + 2.0000714765e-1f;
  p = p * r - 2.4999993993e-1f;
  p = p * r + 3.3333331174e-1f;
  const float log_u = r + (p * r * z - 0.5f * z + e * -2.12194440e-4f) + e * 0.693359375f;  // ln2 split in two
  const float d = u - 1.0f;
  return d == 0.0f ? t : log_u * (t / d);
}

// softplus(x) = log(1 + eˣ), as max(x, 0) + log(1 + e^−|x|): the exp never overflows and the log
// takes t = e^−|x| ∈ [0, 1], where log1p_unit is accurate (1.8e-7 relative, every float in
// [0, 1] measured). softplus within 2.1e-7 relative while the result is a normal float
// (x ≥ −87; measured on a 1e-4 grid, tests/ops/test_elementwise.cpp); below, the result is
// exp_fast's denormal, within 2 ulp of the smallest denormal.
inline float softplus_fast(float x) {
  const float t = exp_fast(-std::fabs(x));
  return (x > 0.0f ? x : 0.0f) + log1p_unit(t);
}

// Overloads so kernels templated on T pick the fast float path and the exact double one.
inline float exp_any(float x) { return exp_fast(x); }
inline double exp_any(double x) { return std::exp(x); }
inline float normal_cdf_any(float x) { return normal_cdf_fast(x); }
inline double normal_cdf_any(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }
inline float gelu_any(float x) { return gelu_fast(x); }
inline double gelu_any(double x) { return x * normal_cdf_any(x); }
inline float softplus_any(float x) { return softplus_fast(x); }
inline double softplus_any(double x) { return std::log1p(std::exp(x)); }

// The CPU's Math policy for the shared elementwise formulas (ops/elementwise_math.h): the fast
// float paths above, the exact library functions in double.
struct CpuMath {
  template <typename T> static T exp(T x) { return exp_any(x); }
  template <typename T> static T log(T x) { return std::log(x); }
  template <typename T> static T sqrt(T x) { return std::sqrt(x); }
  template <typename T> static T pow(T x, T e) { return static_cast<T>(std::pow(x, e)); }
  template <typename T> static T abs(T x) { return std::fabs(x); }
  template <typename T> static T tanh(T x) { return std::tanh(x); }
  template <typename T> static T normal_cdf(T x) { return normal_cdf_any(x); }
  template <typename T> static T gelu(T x) { return gelu_any(x); }
  template <typename T> static T softplus(T x) { return softplus_any(x); }
};

}  // namespace sieve::cpu
