// ops/cpu/norm.cpp — fused layer norm / RMS norm over the last dim, forward and backward.
//
// Per row of C values (x̂ = (x − μ)·rstd; rms_norm: μ = 0 and rstd = 1/sqrt(mean(x²) + eps)):
//   forward   μ = mean x;  rstd = 1/sqrt(mean (x − μ)² + eps);  y = x̂·w + b
//   backward  a = g·w;  dx = rstd·(a − mean(a) − x̂·mean(a·x̂))     (rms: no mean(a) term)
//             dw += g·x̂;  db += g
// Rows run in parallel. dw and db are sums over all rows, so every thread adds its rows into its
// own partial buffers (a few rows in T, then moved to double, so thousands of rows lose nothing)
// and the buffers are summed once at the end; the row loops are written to vectorise.
//
// What it is not: autograd (ops/norm.cpp). Extend: a new last-dim norm is another kCenter-like
// switch on these row functions.
#include "ops/cpu/norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/threads.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

template <typename T, bool kCenter>
void forward_row(const T* __restrict x, const T* __restrict w, const T* __restrict b, T* __restrict y, int64_t c,
                 double eps, T& mean_out, T& rstd_out) {
  // Statistics accumulate in double (the row is in L1 by now, so the widening is nearly free),
  // and in two passes, mean first, then squared deviations: accurate even when |μ| ≫ σ.
  double mean = 0;
  if constexpr (kCenter) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < c; ++i) s += static_cast<double>(x[i]);
    mean = s / static_cast<double>(c);
  }
  const T m = static_cast<T>(mean);
  double ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < c; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    ss += d * d;
  }
  const T rstd = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(c) + eps));
#pragma omp simd
  for (int64_t i = 0; i < c; ++i) y[i] = (x[i] - m) * rstd * w[i] + b[i];
  mean_out = m;
  rstd_out = rstd;
}

template <typename T, bool kCenter, bool kParams>
void backward_row(const T* __restrict x, const T* __restrict w, T mean, T rstd, const T* __restrict g,
                  T* __restrict dx, int64_t c, T* __restrict dw, T* __restrict db) {
  double s1 = 0, s2 = 0;  // row sums in double, like the forward statistics
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < c; ++i) {
    const T xhat = (x[i] - mean) * rstd;
    const T a = g[i] * w[i];
    s1 += static_cast<double>(a);
    s2 += static_cast<double>(a * xhat);
    if constexpr (kParams) {
      dw[i] += g[i] * xhat;
      db[i] += g[i];
    }
  }
  const T c1 = kCenter ? static_cast<T>(s1 / static_cast<double>(c)) : T(0);
  const T c2 = static_cast<T>(s2 / static_cast<double>(c));
#pragma omp simd
  for (int64_t i = 0; i < c; ++i) {
    const T xhat = (x[i] - mean) * rstd;
    dx[i] = rstd * (g[i] * w[i] - c1 - xhat * c2);
  }
}

// A weight of ones / bias of zeros when the caller has none, so one row loop serves all cases.
template <typename T>
const T* or_constant(const Tensor& t, std::vector<T>& fallback, int64_t c, T value) {
  if (t.defined()) return t.data<T>();
  fallback.assign(c, value);
  return fallback.data();
}

template <typename T, bool kCenter, bool kParams>
void backward_rows(const T* x, const T* w, const T* mean, const T* rstd, const T* g, T* dx, int64_t rows, int64_t c,
                   T* dweight, T* dbias) {
  // The rows are cut into thread_ceiling() slices (fixed, whatever number of threads runs them:
  // ops/cpu/threads.h). Each slice has, for dw/db, a T buffer that takes kFlush rows at a time
  // (cheap vector adds) and a double buffer the T buffer is emptied into (so precision does not
  // depend on how many rows a slice has). The double buffers are summed in slice order.
  constexpr int64_t kFlush = 32;
  const bool big = rows * c >= kParallelGrain && rows > 1;
  const int pieces = big ? thread_ceiling() : 1;
  std::vector<double> total(kParams ? static_cast<size_t>(pieces) * 2 * c : 0, 0.0);
  std::vector<T> recent_rows(kParams ? static_cast<size_t>(pieces) * 2 * c : 0, T(0));  // allocated outside the region
#pragma omp parallel for schedule(static) if (pieces > 1)
  for (int t = 0; t < pieces; ++t) {
    const int64_t begin = rows * t / pieces, end = rows * (t + 1) / pieces;
    T* recent = kParams ? recent_rows.data() + static_cast<size_t>(t) * 2 * c : nullptr;
    T* dw = recent;
    T* db = kParams ? recent + c : nullptr;
    double* sum = kParams ? total.data() + static_cast<size_t>(t) * 2 * c : nullptr;
    for (int64_t r0 = begin; r0 < end; r0 += kFlush) {
      const int64_t r1 = std::min(end, r0 + kFlush);
      for (int64_t r = r0; r < r1; ++r)
        backward_row<T, kCenter, kParams>(x + r * c, w, kCenter ? mean[r] : T(0), rstd[r], g + r * c, dx + r * c, c,
                                          dw, db);
      if constexpr (kParams) {
#pragma omp simd
        for (int64_t i = 0; i < 2 * c; ++i) {
          sum[i] += static_cast<double>(recent[i]);
          recent[i] = T(0);
        }
      }
    }
  }
  if constexpr (kParams) {
    for (int64_t i = 0; i < c; ++i) {
      double sw = 0, sb = 0;
      for (int t = 0; t < pieces; ++t) {
        sw += total[static_cast<size_t>(t) * 2 * c + i];
        sb += total[static_cast<size_t>(t) * 2 * c + c + i];
      }
      if (dweight) dweight[i] = static_cast<T>(sw);
      if (dbias) dbias[i] = static_cast<T>(sb);
    }
  }
}

}  // namespace

void norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                  const Tensor& mean, const Tensor& rstd) {
  const bool center = mean.defined();
  const int64_t c = x.ndim() > 0 ? x.shape().back() : 1;
  const int64_t rows = c > 0 ? x.numel() / c : 0;
  dispatch_float(x.dtype(), center ? Op::layer_norm : Op::rms_norm, [&]<typename T>() {
    std::vector<T> ones, zeros;
    const T* w = or_constant(weight, ones, c, T(1));
    const T* b = or_constant(bias, zeros, c, T(0));
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    T* mp = center ? mean.data<T>() : nullptr;
    T* rp = rstd.data<T>();
#pragma omp parallel for schedule(static) if (rows * c >= kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      T unused;
      if (center)
        forward_row<T, true>(xp + r * c, w, b, yp + r * c, c, eps, mp[r], rp[r]);
      else
        forward_row<T, false>(xp + r * c, w, b, yp + r * c, c, eps, unused, rp[r]);
    }
  });
}

void norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, const Tensor& g,
                   const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  const bool center = mean.defined();
  const bool params = dweight.defined() || dbias.defined();
  const int64_t c = x.ndim() > 0 ? x.shape().back() : 1;
  const int64_t rows = c > 0 ? x.numel() / c : 0;
  dispatch_float(x.dtype(), center ? Op::layer_norm : Op::rms_norm, [&]<typename T>() {
    std::vector<T> ones;
    const T* w = or_constant(weight, ones, c, T(1));
    const T* mp = center ? mean.data<T>() : nullptr;
    T* dw = dweight.defined() ? dweight.data<T>() : nullptr;
    T* db = dbias.defined() ? dbias.data<T>() : nullptr;
    auto run = [&]<bool kCenter, bool kParams>() {
      backward_rows<T, kCenter, kParams>(x.data<T>(), w, mp, rstd.data<T>(), g.data<T>(), dx.data<T>(), rows, c, dw,
                                         db);
    };
    if (center && params) run.template operator()<true, true>();
    if (center && !params) run.template operator()<true, false>();
    if (!center && params) run.template operator()<false, true>();
    if (!center && !params) run.template operator()<false, false>();
  });
}

}  // namespace sieve::cpu
