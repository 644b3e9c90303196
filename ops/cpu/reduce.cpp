// ops/cpu/reduce.cpp — reductions (sum/mean, max, min, var), argmax, the max/min tie mask and cumsum.
//
// Every reduction is first put in a canonical form, a Plan:
//   outer  the kept dims, in x's order (out is contiguous over them, so output o is out[o]);
//   inner  the reduced dims, sorted by decreasing stride and merged where memory allows, so a
//          reduction over a contiguous block (the last dims, or all dims) becomes one long row.
// A policy (SumPolicy, ExtremePolicy, VarPolicy) says how to fold a row into an accumulator and
// how to merge two accumulators. Three loops cover every layout:
//   few outputs, much work  each output's elements are split across threads, partials merged
//                           (a full reduction of a contiguous tensor lands here)
//   column case             the kept dims end in a stride-1 dim: whole rows of x are added into a
//                           block of accumulators (reducing the leading dims of (N, C): sum_to)
//   row case / general      one output per iteration, parallel over outputs; a stride-1 inner
//                           row vectorises (reducing the last dim), any other stride still works
// float sums accumulate in double, so a sum of 16M floats keeps float precision.
//
// What it is not: autograd (ops/reduce.cpp). Extend: a new reduction is a policy with identity,
// row, merge and finish (and fold_row to take the column case).
#include "ops/cpu/reduce.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/cpu/loops.h"
#include "ops/cpu/threads.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

struct Dim {
  int64_t size;
  int64_t stride;
};

struct Plan {
  std::vector<Dim> outer;  // kept dims in x's order; never empty (a size-1 dim stands in)
  std::vector<Dim> inner;  // reduced dims, innermost last; never empty
  int64_t outputs = 1;     // product of outer sizes
  int64_t count = 1;       // elements folded into each output
};

// Drops size-1 dims and merges neighbours whose strides make them one longer dim.
std::vector<Dim> coalesce(const std::vector<Dim>& dims) {
  std::vector<Dim> merged;
  for (const Dim& d : dims) {
    if (d.size == 1) continue;
    if (!merged.empty() && merged.back().stride == d.stride * d.size) {
      merged.back().size *= d.size;
      merged.back().stride = d.stride;
    } else {
      merged.push_back(d);
    }
  }
  if (merged.empty()) merged.push_back({1, 1});
  return merged;
}

Plan make_plan(const Tensor& x, const std::vector<bool>& reduce) {
  Plan plan;
  std::vector<Dim> outer, inner;
  for (int d = 0; d < x.ndim(); ++d) {
    const Dim dim{x.shape()[d], x.strides()[d]};
    (reduce[d] ? inner : outer).push_back(dim);
    (reduce[d] ? plan.count : plan.outputs) *= dim.size;
  }
  // The order of reduced elements does not matter: visit them in memory order.
  std::stable_sort(inner.begin(), inner.end(), [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
  plan.outer = coalesce(outer);
  plan.inner = coalesce(inner);
  return plan;
}

// x's element offset of the first element folded into output o.
int64_t outer_offset(const std::vector<Dim>& outer, int64_t o) {
  int64_t offset = 0;
  for (size_t d = outer.size(); d-- > 0;) {
    offset += (o % outer[d].size) * outer[d].stride;
    o /= outer[d].size;
  }
  return offset;
}

// ---- policies: how one kind of reduction folds elements ----

template <typename T>
struct SumPolicy {
  using Acc = double;
  static constexpr bool kColumns = true;
  static Acc identity() { return 0.0; }
  static Acc row(const T* __restrict p, int64_t n, int64_t stride) {
    double acc = 0.0;
    if (stride == 1) {
      // Every element is widened to double before it is added: the sum of 16M floats is then
      // exact to float precision (a chunked float sum drifts by a couple of ulp; a plain float
      // sum stalls completely), at the cost of a conversion per element.
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i * stride]);
    }
    return acc;
  }
  static Acc merge(Acc a, Acc b) { return a + b; }
  static void fold_row(Acc* __restrict acc, const T* __restrict p, int64_t m) {
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) acc[i] += static_cast<double>(p[i]);
  }
  static T finish(Acc a, double scale) { return static_cast<T>(a * scale); }
};

// max (kMax) or min; a NaN anywhere makes the result NaN, as in PyTorch.
template <typename T, bool kMax>
struct ExtremePolicy {
  using Acc = T;
  static constexpr bool kColumns = true;
  static Acc identity() { return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity(); }
  static bool better(T v, T than) { return kMax ? v > than : v < than; }
  static Acc row(const T* __restrict p, int64_t n, int64_t stride) {
    T best = identity();
    int nan = 0;
    if (stride == 1) {
      // The NaN flag is tracked beside the max so the loop stays a plain vector max.
      if constexpr (kMax) {
#pragma omp simd reduction(max : best) reduction(| : nan)
        for (int64_t i = 0; i < n; ++i) {
          best = p[i] > best ? p[i] : best;
          nan |= p[i] != p[i];
        }
      } else {
#pragma omp simd reduction(min : best) reduction(| : nan)
        for (int64_t i = 0; i < n; ++i) {
          best = p[i] < best ? p[i] : best;
          nan |= p[i] != p[i];
        }
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const T v = p[i * stride];
        best = better(v, best) ? v : best;
        nan |= v != v;
      }
    }
    return nan ? std::numeric_limits<T>::quiet_NaN() : best;
  }
  static Acc merge(Acc a, Acc b) {
    if (a != a || b != b) return std::numeric_limits<T>::quiet_NaN();
    return better(b, a) ? b : a;
  }
  static void fold_row(Acc* __restrict acc, const T* __restrict p, int64_t m) {
    // Once acc[i] is NaN no comparison replaces it, so NaN sticks.
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) acc[i] = (better(p[i], acc[i]) || p[i] != p[i]) ? p[i] : acc[i];
  }
  static T finish(Acc a, double) { return a; }
};

// Count, mean and sum of squared deviations; rows are two-pass, pieces merge with Chan's formula.
struct Moments {
  double n = 0, mean = 0, m2 = 0;
};

template <typename T>
struct VarPolicy {
  using Acc = Moments;
  static constexpr bool kColumns = false;
  static Acc identity() { return {}; }
  static Acc row(const T* __restrict p, int64_t n, int64_t stride) {
    if (n == 0) return {};
    const double mean = SumPolicy<T>::row(p, n, stride) / static_cast<double>(n);
    double m2 = 0.0;
    if (stride == 1) {
#pragma omp simd reduction(+ : m2)
      for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(p[i]) - mean;
        m2 += d * d;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(p[i * stride]) - mean;
        m2 += d * d;
      }
    }
    return {static_cast<double>(n), mean, m2};
  }
  static Acc merge(const Acc& a, const Acc& b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const double n = a.n + b.n, delta = b.mean - a.mean;
    return {n, a.mean + delta * b.n / n, a.m2 + b.m2 + delta * delta * a.n * b.n / n};
  }
  static void fold_row(Acc*, const T*, int64_t) {}
  // `scale` carries the correction.
  static T finish(const Acc& a, double correction) {
    return static_cast<T>(a.m2 / std::max(a.n - correction, 0.0));
  }
};

// Folds the inner elements with linear index in [begin, end) of the output starting at base.
template <typename P, typename T>
typename P::Acc reduce_range(const T* base, const std::vector<Dim>& inner, int64_t begin, int64_t end) {
  typename P::Acc acc = P::identity();
  if (begin >= end) return acc;
  const int nd = static_cast<int>(inner.size());
  const int64_t n_last = inner[nd - 1].size, s_last = inner[nd - 1].stride;
  int64_t index[kMaxDims] = {};
  int64_t rest = begin / n_last, col = begin % n_last, offset = 0;
  for (int d = nd - 2; d >= 0; --d) {
    index[d] = rest % inner[d].size;
    rest /= inner[d].size;
    offset += index[d] * inner[d].stride;
  }
  for (int64_t i = begin; i < end;) {
    const int64_t n = std::min(n_last - col, end - i);
    acc = P::merge(acc, P::row(base + offset + col * s_last, n, s_last));
    i += n;
    col = 0;
    for (int d = nd - 2; d >= 0; --d) {  // odometer over the outer inner dims
      offset += inner[d].stride;
      if (++index[d] < inner[d].size) break;
      offset -= index[d] * inner[d].stride;
      index[d] = 0;
    }
  }
  return acc;
}

// Column case: outputs are blocks of `width` consecutive x elements (the kept dims end in a stride-1
// dim); every reduced element position adds one such block into a row of accumulators.
template <typename P, typename T>
void reduce_columns(const Plan& plan, const T* x, T* out, double scale) {
  using Acc = typename P::Acc;
  constexpr int64_t kBlock = 256;
  const int64_t width = plan.outer.back().size;
  const std::vector<Dim> blocks_dims(plan.outer.begin(), plan.outer.end() - 1);
  const int64_t blocks = plan.outputs / width;
  const int threads = thread_ceiling();
  // Split the columns so every thread has work, but keep at least 16 (a cache line of floats).
  const int64_t chunk = std::clamp<int64_t>((width + threads - 1) / threads, 16, kBlock);
  const int64_t chunks = (width + chunk - 1) / chunk;
  const std::vector<Dim>& inner = plan.inner;
  const int nd = static_cast<int>(inner.size());
  const bool big = plan.outputs * plan.count >= kParallelGrain;

#pragma omp parallel for schedule(static) if (big && blocks * chunks > 1)
  for (int64_t item = 0; item < blocks * chunks; ++item) {
    const int64_t block = item / chunks, c0 = (item % chunks) * chunk;
    const int64_t m = std::min(chunk, width - c0);
    const T* base = x + (blocks_dims.empty() ? 0 : outer_offset(blocks_dims, block)) + c0;
    Acc acc[kBlock];
    for (int64_t i = 0; i < m; ++i) acc[i] = P::identity();
    int64_t index[kMaxDims] = {}, offset = 0;
    for (int64_t e = 0; e < plan.count; ++e) {
      P::fold_row(acc, base + offset, m);
      for (int d = nd - 1; d >= 0; --d) {
        offset += inner[d].stride;
        if (++index[d] < inner[d].size) break;
        offset -= index[d] * inner[d].stride;
        index[d] = 0;
      }
    }
    T* o = out + block * width + c0;
    for (int64_t i = 0; i < m; ++i) o[i] = P::finish(acc[i], scale);
  }
}

template <typename P, typename T>
void run_reduce(const Plan& plan, const T* x, T* out, double scale) {
  using Acc = typename P::Acc;
  const int64_t outputs = plan.outputs, count = plan.count;
  if (outputs == 0) return;
  // thread_ceiling(), not the threads running now: the slices below, and so the bits of the
  // result, must not change with the machine's load (ops/cpu/threads.h).
  const int threads = thread_ceiling();
  const bool big = outputs * count >= kParallelGrain;

  if (big && outputs < threads) {
    // Few outputs, long reductions: `threads` slices folded in parallel, partials merged in order.
    std::vector<Acc> partial(threads);
    for (int64_t o = 0; o < outputs; ++o) {
      const T* base = x + outer_offset(plan.outer, o);
      std::fill(partial.begin(), partial.end(), P::identity());
#pragma omp parallel for schedule(static)
      for (int t = 0; t < threads; ++t)
        partial[t] = reduce_range<P>(base, plan.inner, count * t / threads, count * (t + 1) / threads);
      Acc acc = P::identity();
      for (const Acc& p : partial) acc = P::merge(acc, p);
      out[o] = P::finish(acc, scale);
    }
    return;
  }
  if constexpr (P::kColumns) {
    if (plan.outer.back().stride == 1 && plan.outer.back().size > 1 && plan.inner.back().stride != 1) {
      reduce_columns<P>(plan, x, out, scale);
      return;
    }
  }
#pragma omp parallel for schedule(static) if (big)
  for (int64_t o = 0; o < outputs; ++o)
    out[o] = P::finish(reduce_range<P>(x + outer_offset(plan.outer, o), plan.inner, 0, count), scale);
}

}  // namespace

void reduce(ReduceKind kind, const Tensor& x, const std::vector<bool>& dims, const Tensor& out, double scale) {
  const Plan plan = make_plan(x, dims);
  dispatch_float(x.dtype(), Op::sum, [&]<typename T>() {
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    switch (kind) {
      case ReduceKind::sum: run_reduce<SumPolicy<T>>(plan, xp, op, scale); break;
      case ReduceKind::max: run_reduce<ExtremePolicy<T, true>>(plan, xp, op, scale); break;
      case ReduceKind::min: run_reduce<ExtremePolicy<T, false>>(plan, xp, op, scale); break;
    }
  });
}

void var(const Tensor& x, const std::vector<bool>& dims, int64_t correction, const Tensor& out) {
  const Plan plan = make_plan(x, dims);
  dispatch_float(x.dtype(), Op::var, [&]<typename T>() {
    run_reduce<VarPolicy<T>>(plan, x.data<T>(), out.data<T>(), static_cast<double>(correction));
  });
}

namespace {

// The index of the first maximum of a contiguous row (the first NaN if it has one), as the
// one-pass scan below finds it, in two passes the compiler vectorises: a running maximum and NaN
// flag, then the first element equal to the result.
template <typename T>
int64_t first_maximum(const T* p, int64_t n) {
  T best = p[0];
  bool nan = false;
#pragma omp simd reduction(max : best) reduction(|| : nan)
  for (int64_t j = 0; j < n; ++j) {
    best = p[j] > best ? p[j] : best;
    nan = nan || p[j] != p[j];
  }
  int64_t j = 0;
  if (nan) {
    while (p[j] == p[j]) ++j;
  } else {
    while (p[j] != best) ++j;
  }
  return j;
}

}  // namespace

void argmax(const Tensor& x, int dim, const Tensor& out) {
  std::vector<bool> flags(x.ndim(), false);
  if (x.ndim() > 0) flags[dim] = true;
  std::vector<Dim> outer;
  for (int d = 0; d < x.ndim(); ++d)
    if (!flags[d]) outer.push_back({x.shape()[d], x.strides()[d]});
  outer = coalesce(outer);
  const int64_t n = x.ndim() > 0 ? x.shape()[dim] : 1;
  const int64_t stride = x.ndim() > 0 ? x.strides()[dim] : 1;
  const int64_t outputs = out.numel();
  int64_t* o = out.data<int64_t>();
  dispatch_float(x.dtype(), Op::argmax, [&]<typename T>() {
    const T* xp = x.data<T>();
#pragma omp parallel for schedule(static) if (outputs * n >= kParallelGrain)
    for (int64_t i = 0; i < outputs; ++i) {
      const T* p = xp + outer_offset(outer, i);
      if (stride == 1) {  // two branch-free passes that vectorise: the maximum, then its first place
        o[i] = first_maximum(p, n);
        continue;
      }
      T best = p[0];
      int64_t at = 0;
      for (int64_t j = 1; j < n && best == best; ++j) {  // a NaN is the maximum: stop at the first
        const T v = p[j * stride];
        if (v > best || v != v) {
          best = v;
          at = j;
        }
      }
      o[i] = at;
    }
  });
}

void equal_mask(const Tensor& x, const Tensor& value, const Tensor& out) {
  dispatch_float(x.dtype(), Op::max, [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* vp = value.data<T>();
    T* op = out.data<T>();
    for_each_row<3>(out.shape(), {&out.strides(), &x.strides(), &value.strides()},
                    [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
                      for (int64_t i = 0; i < n; ++i) {
                        const T a = xp[off[1] + i * step[1]], b = vp[off[2] + i * step[2]];
                        op[off[0] + i * step[0]] = (a == b || (a != a && b != b)) ? T(1) : T(0);
                      }
                    });
  });
}

void cumsum(const Tensor& x, int dim, bool reverse, const Tensor& out) {
  // x is contiguous here (the front end makes it so): view it as (A, N, B) around dim.
  const Shape& shape = x.shape();
  int64_t a_size = 1, b_size = 1;
  const int64_t n = x.ndim() > 0 ? shape[dim] : 1;
  for (int d = 0; d < x.ndim(); ++d) {
    if (d < dim) a_size *= shape[d];
    if (d > dim) b_size *= shape[d];
  }
  dispatch_float(x.dtype(), Op::cumsum, [&]<typename T>() {
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    const bool big = x.numel() >= kParallelGrain;
    if (b_size == 1) {  // along the last dim: one running sum per row
#pragma omp parallel for schedule(static) if (big && a_size > 1)
      for (int64_t a = 0; a < a_size; ++a) {
        const T* src = xp + a * n;
        T* dst = op + a * n;
        double acc = 0.0;  // double: a long running sum of floats stays exact to float precision
        for (int64_t k = 0; k < n; ++k) {
          const int64_t j = reverse ? n - 1 - k : k;
          acc += static_cast<double>(src[j]);
          dst[j] = static_cast<T>(acc);
        }
      }
      return;
    }
    // Along an outer dim: a block of running sums moves down the rows, vectorised across columns.
    constexpr int64_t kBlock = 256;
    const int64_t chunks = (b_size + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (big && a_size * chunks > 1)
    for (int64_t item = 0; item < a_size * chunks; ++item) {
      const int64_t a = item / chunks, b0 = (item % chunks) * kBlock;
      const int64_t m = std::min(kBlock, b_size - b0);
      double acc[kBlock];
      for (int64_t i = 0; i < m; ++i) acc[i] = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t j = reverse ? n - 1 - k : k;
        const T* src = xp + (a * n + j) * b_size + b0;
        T* dst = op + (a * n + j) * b_size + b0;
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) {
          acc[i] += static_cast<double>(src[i]);
          dst[i] = static_cast<T>(acc[i]);
        }
      }
    }
  });
}

}  // namespace sieve::cpu
