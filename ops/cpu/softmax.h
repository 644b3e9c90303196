// ops/cpu/softmax.h — CPU kernels of softmax / log_softmax (ops/softmax.cpp), and the Σ exp row
// sum they share with the fused cross-entropy kernels (ops/cpu/loss.cpp). The exp is fastmath.h's:
// vectorised float32, exact float64.
//
// The kernels take contiguous tensors and see them as (A, C, B) around the softmax dim: B = 1 is
// the row case (softmax over the last dim, the fast one), B > 1 runs down columns of width B.
//
// What it is not: autograd (ops/softmax.cpp). Extend: a masked or scaled variant is a flag here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/tensor.h"
#include "ops/cpu/fastmath.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   softmax: out := softmax(x) along dim (log: log_softmax). x, out contiguous, same shape.
//   softmax_backward: dx := softmax backward from the saved output y and the upstream gradient g
//     (all contiguous): softmax: dx = y ⊙ (g − Σ g⊙y); log_softmax: dx = g − exp(y) ⊙ Σ g.
#define SIEVE_SOFTMAX_KERNELS(X)                                 \
  X(softmax, (const Tensor& x, int dim, bool log, const Tensor& out)) \
  X(softmax_backward, (const Tensor& y, const Tensor& g, int dim, bool log, const Tensor& dx))

namespace sieve::cpu {


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
        const T e = exp_any(x[i] - m);
        y[i] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = begin; i < end; ++i) s += exp_any(x[i] - m);
    }
    total += static_cast<double>(s);
  }
  return total;
}

SIEVE_SOFTMAX_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
