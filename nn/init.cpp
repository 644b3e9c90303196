// nn/init.cpp — initialisers: draw in float64 on the CPU, transform, copy into the tensor.
//
// Drawing through rand/randn (core/random.h) keeps the Philox counter bookkeeping in one place;
// the transform is a plain loop. The copy casts to the tensor's dtype and device.
//
// Extend: add a transform below and a declaration in nn/init.h.
#include "nn/init.h"

#include <algorithm>
#include <numbers>

#include "autograd/grad_mode.h"
#include "ops/copy.h"

namespace sieve::nn::init {

namespace {

void write(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  copy_(t, values.to(t.dtype()).to(t.device()));
}

Tensor uniform_draws(const Tensor& t, Generator* gen) {
  return rand(t.shape(), {.dtype = DType::f64}, gen);
}

// Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation (relative error < 1.2e-9), then one
// Halley step against erfc, which brings it to double precision.
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425, hi = 1 - lo;
  double x;
  if (p < lo) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= hi) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

}  // namespace

std::pair<int64_t, int64_t> fans(const Tensor& t) {
  SIEVE_CHECK(t.ndim() >= 1, "init: fan in/out needs at least 1 dim, got {}", t.describe());
  if (t.ndim() == 1) return {t.size(0), t.size(0)};
  int64_t receptive = 1;
  for (int d = 2; d < t.ndim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }
void constant_(const Tensor& t, double value) {
  NoGradGuard no_grad;
  fill_(t, value);
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  SIEVE_CHECK(low <= high, "init::uniform_: low {} > high {} for {}", low, high, t.describe());
  Tensor u = uniform_draws(t, gen);
  double* p = u.data<double>();
  for (int64_t i = 0; i < u.numel(); ++i) p[i] = low + (high - low) * p[i];
  write(t, u);
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  SIEVE_CHECK(std >= 0, "init::normal_: std must be ≥ 0, got {} for {}", std, t.describe());
  Tensor z = randn(t.shape(), {.dtype = DType::f64}, gen);
  double* p = z.data<double>();
  for (int64_t i = 0; i < z.numel(); ++i) p[i] = mean + std * p[i];
  write(t, z);
}

void trunc_normal_(const Tensor& t, double std, double a, double b, double mean, Generator* gen) {
  SIEVE_CHECK(std > 0 && a < b, "init::trunc_normal_: need std > 0 and a < b, got std {} a {} b {} for {}", std,
              a, b, t.describe());
  // u ~ U(Φ(α), Φ(β)) with α, β the bounds in standard units; x = mean + std·Φ⁻¹(u), clamped
  // against rounding at the ends.
  const double lo = normal_cdf((a - mean) / std), hi = normal_cdf((b - mean) / std);
  Tensor u = uniform_draws(t, gen);
  double* p = u.data<double>();
  for (int64_t i = 0; i < u.numel(); ++i) {
    const double q = std::clamp(lo + (hi - lo) * p[i], 1e-300, 1 - 1e-16);
    p[i] = std::clamp(mean + std * normal_quantile(q), a, b);
  }
  write(t, u);
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = fans(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void kaiming_uniform_(const Tensor& t, double a, Generator* gen) {
  const auto [fan_in, fan_out] = fans(t);
  SIEVE_CHECK(fan_in > 0, "init::kaiming_uniform_: zero fan_in for {}", t.describe());
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = std::sqrt(3.0) * gain / std::sqrt(static_cast<double>(fan_in));
  uniform_(t, -bound, bound, gen);
}

}  // namespace sieve::nn::init
