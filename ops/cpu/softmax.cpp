// ops/cpu/softmax.cpp — fused softmax / log_softmax forward and backward.
//
// Row case (softmax over the last dim, B = 1), per row of C values:
//   m = max x;  s = Σ exp(x − m);  softmax y = exp(x − m) / s;  log_softmax y = x − m − log s
// Backward per row: softmax dx = y (g − Σ g y); log_softmax dx = g − exp(y) Σ g.
// Each row is a few passes over C values that stay in L1; rows run in parallel. The column case
// (B > 1) does the same for a block of up to kBlock columns at once, vectorised across columns.
//
// Row sums accumulate in T across vector lanes within chunks of kSumChunk and in double across
// chunks; column sums (no lanes to spread over) in double. The max keeps every exp in (0, 1].
//
// What it is not: autograd (ops/softmax.cpp). Extend: a masked softmax would add a mask pointer to
// these loops rather than a new kernel file.
#include "ops/cpu/softmax.h"

#include <algorithm>
#include <limits>

#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

constexpr int64_t kBlock = 64;  // columns handled together in the column case

// (A, C, B) of a contiguous tensor around dim.
struct Layout {
  int64_t a = 1, c = 1, b = 1;
};

Layout layout_of(const Shape& shape, int dim) {
  Layout l;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < dim) l.a *= shape[d];
    if (d == dim) l.c = shape[d];
    if (d > dim) l.b *= shape[d];
  }
  return l;
}

template <typename T>
T row_max(const T* __restrict x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// Σ a·b (or Σ a when b is null), chunked like exp_sum.
template <typename T>
double dot_sum(const T* __restrict a, const T* __restrict b, int64_t n) {
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += kSumChunk) {
    const int64_t end = std::min(n, begin + kSumChunk);
    T s = 0;
    if (b != nullptr) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = begin; i < end; ++i) s += a[i] * b[i];
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = begin; i < end; ++i) s += a[i];
    }
    total += static_cast<double>(s);
  }
  return total;
}

template <typename T>
void softmax_row(const T* __restrict x, T* __restrict y, int64_t n, bool log) {
  const T m = row_max(x, n);
  if (log) {
    const T lse = static_cast<T>(static_cast<double>(m) + std::log(exp_sum<T>(x, nullptr, n, m)));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
  } else {
    const T inv = static_cast<T>(1.0 / exp_sum(x, y, n, m));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

template <typename T>
void softmax_backward_row(const T* __restrict y, const T* __restrict g, T* __restrict dx, int64_t n, bool log) {
  if (log) {
    const T s = static_cast<T>(dot_sum<T>(g, nullptr, n));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = g[i] - exp_any(y[i]) * s;
  } else {
    const T s = static_cast<T>(dot_sum(g, y, n));
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (g[i] - s);
  }
}

// Column case: x points at (a, 0, b0); consecutive class entries are `stride` apart; m ≤ kBlock.
template <typename T>
void softmax_columns(const T* __restrict x, T* __restrict y, int64_t c, int64_t stride, int64_t m, bool log) {
  T mx[kBlock];
  double s[kBlock];  // down a column there are no lanes to split the sum: keep it in double
  for (int64_t i = 0; i < m; ++i) {
    mx[i] = -std::numeric_limits<T>::infinity();
    s[i] = 0;
  }
  for (int64_t k = 0; k < c; ++k) {
    const T* xk = x + k * stride;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) mx[i] = xk[i] > mx[i] ? xk[i] : mx[i];
  }
  for (int64_t k = 0; k < c; ++k) {
    const T* xk = x + k * stride;
    T* yk = y + k * stride;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) {
      const T e = exp_any(xk[i] - mx[i]);
      if (!log) yk[i] = e;
      s[i] += static_cast<double>(e);
    }
  }
  T f[kBlock];  // log: the logsumexp; softmax: 1 / sum
  for (int64_t i = 0; i < m; ++i)
    f[i] = static_cast<T>(log ? static_cast<double>(mx[i]) + std::log(s[i]) : 1.0 / s[i]);
  for (int64_t k = 0; k < c; ++k) {
    const T* xk = x + k * stride;
    T* yk = y + k * stride;
    if (log) {
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) yk[i] = xk[i] - f[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) yk[i] *= f[i];
    }
  }
}

template <typename T>
void softmax_backward_columns(const T* __restrict y, const T* __restrict g, T* __restrict dx, int64_t c,
                              int64_t stride, int64_t m, bool log) {
  double acc[kBlock];
  for (int64_t i = 0; i < m; ++i) acc[i] = 0;
  for (int64_t k = 0; k < c; ++k) {
    const T* yk = y + k * stride;
    const T* gk = g + k * stride;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) acc[i] += static_cast<double>(log ? gk[i] : gk[i] * yk[i]);
  }
  T s[kBlock];
  for (int64_t i = 0; i < m; ++i) s[i] = static_cast<T>(acc[i]);
  for (int64_t k = 0; k < c; ++k) {
    const T* yk = y + k * stride;
    const T* gk = g + k * stride;
    T* dk = dx + k * stride;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) dk[i] = log ? gk[i] - exp_any(yk[i]) * s[i] : yk[i] * (gk[i] - s[i]);
  }
}

// Runs body(a, b0, m) over every (outer index, column block) pair in parallel.
template <typename Body>
void for_each_block(const Layout& l, Body&& body) {
  const int64_t chunks = (l.b + kBlock - 1) / kBlock;
  const bool big = l.a * l.c * l.b >= kParallelGrain;
#pragma omp parallel for schedule(static) if (big && l.a * chunks > 1)
  for (int64_t item = 0; item < l.a * chunks; ++item) {
    const int64_t a = item / chunks, b0 = (item % chunks) * kBlock;
    body(a, b0, std::min(kBlock, l.b - b0));
  }
}

}  // namespace

void softmax(const Tensor& x, int dim, bool log, const Tensor& out) {
  if (x.numel() == 0) return;
  const Layout l = layout_of(x.shape(), dim);
  dispatch_float(x.dtype(), log ? Op::log_softmax : Op::softmax, [&]<typename T>() {
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    if (l.b == 1) {
#pragma omp parallel for schedule(static) if (l.a * l.c >= kParallelGrain && l.a > 1)
      for (int64_t r = 0; r < l.a; ++r) softmax_row(xp + r * l.c, yp + r * l.c, l.c, log);
      return;
    }
    for_each_block(l, [&](int64_t a, int64_t b0, int64_t m) {
      const int64_t base = a * l.c * l.b + b0;
      softmax_columns(xp + base, yp + base, l.c, l.b, m, log);
    });
  });
}

void softmax_backward(const Tensor& y, const Tensor& g, int dim, bool log, const Tensor& dx) {
  if (y.numel() == 0) return;
  const Layout l = layout_of(y.shape(), dim);
  dispatch_float(y.dtype(), log ? Op::log_softmax : Op::softmax, [&]<typename T>() {
    const T* yp = y.data<T>();
    const T* gp = g.data<T>();
    T* dp = dx.data<T>();
    if (l.b == 1) {
#pragma omp parallel for schedule(static) if (l.a * l.c >= kParallelGrain && l.a > 1)
      for (int64_t r = 0; r < l.a; ++r) softmax_backward_row(yp + r * l.c, gp + r * l.c, dp + r * l.c, l.c, log);
      return;
    }
    for_each_block(l, [&](int64_t a, int64_t b0, int64_t m) {
      const int64_t base = a * l.c * l.b + b0;
      softmax_backward_columns(yp + base, gp + base, dp + base, l.c, l.b, m, log);
    });
  });
}

}  // namespace sieve::cpu
