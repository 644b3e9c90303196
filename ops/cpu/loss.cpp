// ops/cpu/loss.cpp — fused softmax-cross-entropy and mean squared error, forward and backward.
//
// Cross-entropy per row x (C logits), target t, smoothing ε:
//   lse  = m + log Σ exp(x − m)          (m = max x: no overflow however large the logits)
//   loss = lse − (1 − ε)·x[t] − (ε/C)·Σx  (= (1 − ε)·(−log p_t) + ε·mean_c(−log p_c), PyTorch's rule)
//   dx   = (exp(x − lse) − ε/C − (1 − ε)·[c = t]) · g_r / divisor
// The forward keeps lse per row, so the backward is a single pass that never recomputes the max.
// Rows run in parallel; a reduced loss is summed serially in double over the per-row losses, so the
// result does not depend on the thread count.
//
// What it is not: autograd or target checking (ops/loss.cpp). Extend: class weights would scale
// each row's loss and gradient here and change the divisor in the front end.
#include "ops/cpu/loss.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/softmax.h"
#include "ops/cpu/threads.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

// Σ term(i) over i < n in double, in thread_ceiling() fixed slices added in slice order, so the
// result depends neither on scheduling nor on how many threads run now (ops/cpu/threads.h).
template <typename Term>
double deterministic_sum(int64_t n, Term term) {
  const int pieces = n >= kParallelGrain ? thread_ceiling() : 1;
  std::vector<double> partial(static_cast<size_t>(pieces), 0.0);
#pragma omp parallel for schedule(static) if (pieces > 1)
  for (int p = 0; p < pieces; ++p) {
    double s = 0.0;
    const int64_t begin = n * p / pieces, end = n * (p + 1) / pieces;
#pragma omp simd reduction(+ : s)
    for (int64_t i = begin; i < end; ++i) s += term(i);
    partial[static_cast<size_t>(p)] = s;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double smoothing, bool reduce,
                   double divisor, const Tensor& out, const Tensor& lse) {
  const int64_t c = logits.shape().back();
  const int64_t rows = target.numel();
  const int64_t* tp = target.data<int64_t>();
  dispatch_float(logits.dtype(), Op::cross_entropy, [&]<typename T>() {
    const T* xp = logits.data<T>();
    T* lp = lse.data<T>();
    std::vector<T> scratch(reduce ? rows : 0);
    T* losses = reduce ? scratch.data() : out.data<T>();
    const double on_target = 1.0 - smoothing, uniform = smoothing / static_cast<double>(c);
#pragma omp parallel for schedule(static) if (rows * c >= kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = tp[r];
      if (t == ignore_index) {
        losses[r] = 0;
        lp[r] = 0;
        continue;
      }
      const T* __restrict x = xp + r * c;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t i = 0; i < c; ++i) m = x[i] > m ? x[i] : m;
      const double row_lse = static_cast<double>(m) + std::log(exp_sum<T>(x, nullptr, c, m));
      double sx = 0;  // only label smoothing needs Σx
      if (smoothing > 0) {
#pragma omp simd reduction(+ : sx)
        for (int64_t i = 0; i < c; ++i) sx += static_cast<double>(x[i]);
      }
      lp[r] = static_cast<T>(row_lse);
      losses[r] = static_cast<T>(row_lse - on_target * static_cast<double>(x[t]) - uniform * sx);
    }
    if (reduce) {
      const double total = deterministic_sum(rows, [losses](int64_t i) { return static_cast<double>(losses[i]); });
      *out.data<T>() = static_cast<T>(total / divisor);
    }
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& g,
                            int64_t ignore_index, double smoothing, double divisor, const Tensor& dlogits) {
  const int64_t c = logits.shape().back();
  const int64_t rows = target.numel();
  const int64_t* tp = target.data<int64_t>();
  const bool per_row = g.numel() != 1;
  dispatch_float(logits.dtype(), Op::cross_entropy, [&]<typename T>() {
    const T* xp = logits.data<T>();
    const T* lp = lse.data<T>();
    const T* gp = g.data<T>();
    T* dp = dlogits.data<T>();
    const T uniform = static_cast<T>(smoothing / static_cast<double>(c));
#pragma omp parallel for schedule(static) if (rows * c >= kParallelGrain && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      T* __restrict dx = dp + r * c;
      const int64_t t = tp[r];
      if (t == ignore_index) {
        std::fill(dx, dx + c, T(0));
        continue;
      }
      const T* __restrict x = xp + r * c;
      const T scale = static_cast<T>(static_cast<double>(gp[per_row ? r : 0]) / divisor);
      const T row_lse = lp[r];
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) dx[i] = (exp_any(x[i] - row_lse) - uniform) * scale;
      dx[t] -= static_cast<T>(1.0 - smoothing) * scale;
    }
  });
}

void mse_loss(const Tensor& a, const Tensor& b, bool reduce, double scale, const Tensor& out) {
  const int64_t n = a.numel();
  dispatch_float(a.dtype(), Op::mse_loss, [&]<typename T>() {
    const T* __restrict ap = a.data<T>();
    const T* __restrict bp = b.data<T>();
    if (!reduce) {
      T* __restrict op = out.data<T>();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (int64_t i = 0; i < n; ++i) op[i] = (ap[i] - bp[i]) * (ap[i] - bp[i]);
      return;
    }
    const double total = deterministic_sum(n, [ap, bp](int64_t i) {
      const double d = static_cast<double>(ap[i]) - static_cast<double>(bp[i]);
      return d * d;
    });
    *out.data<T>() = static_cast<T>(total * scale);
  });
}

void mse_loss_backward(const Tensor& a, const Tensor& b, const Tensor& g, double scale, const Tensor& da,
                       const Tensor& db) {
  const int64_t n = a.numel();
  const bool per_element = g.numel() != 1 || n == 1;
  dispatch_float(a.dtype(), Op::mse_loss, [&]<typename T>() {
    const T* __restrict ap = a.data<T>();
    const T* __restrict bp = b.data<T>();
    const T* __restrict gp = g.data<T>();
    T* __restrict dap = da.defined() ? da.data<T>() : nullptr;
    T* __restrict dbp = db.defined() ? db.data<T>() : nullptr;
    const T two_scale = static_cast<T>(2.0 * scale);
    const T g0 = gp[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const T d = two_scale * (ap[i] - bp[i]) * (per_element ? gp[i] : g0);
      if (dap) dap[i] = d;
      if (dbp) dbp[i] = -d;
    }
  });
}

}  // namespace sieve::cpu
