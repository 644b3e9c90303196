// ops/cpu/reduce.h — CPU kernels of the reduce family (ops/reduce.cpp).
//
// The front end has already checked dims and dtypes. Every reduction kernel writes a contiguous
// `out` whose shape is x's shape with the reduced dims set to 1 (keepdim layout); the front end
// views it without those dims when keepdim is false.
//
// What it is not: the autograd formulas (ops/reduce.cpp) or the CUDA kernels (cuda/reduce.cu).
// Extend: a new reduction adds a ReduceKind and its policy in ops/cpu/reduce.cpp.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ops/kernel_list.h"

namespace sieve::cpu {
enum class ReduceKind { sum, max, min };
}  // namespace sieve::cpu

// The family's kernels, for every backend (ops/kernel_list.h):
//   reduce: out := reduce of x over `reduce` (one flag per dim of x), times `scale` (sum only: 1/n
//     gives a mean). An empty reduction gives 0 for sum; the front end rejects empty max/min.
//   var: out := Σ (x − mean)² / max(n − correction, 0) over the flagged dims.
//   argmax: out (int64, keepdim layout) := index of the first maximum of x along dim (NaN counts as
//     maximal).
//   equal_mask: out := 1 where x equals its reduced extreme `value` (value in keepdim layout,
//     broadcast over the reduced dims), else 0. The backward of max/min splits the gradient among
//     these ties.
//   cumsum: out := inclusive cumulative sum of x along dim (reverse: from the end, the backward of
//     cumsum). out is contiguous with x's shape.
#define SIEVE_REDUCE_KERNELS(X)                                                                     \
  X(reduce, (cpu::ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, const Tensor& out, \
             double scale))                                                                          \
  X(var, (const Tensor& x, const std::vector<bool>& reduce, int64_t correction, const Tensor& out))   \
  X(argmax, (const Tensor& x, int dim, const Tensor& out))                                           \
  X(equal_mask, (const Tensor& x, const Tensor& value, const Tensor& out))                           \
  X(cumsum, (const Tensor& x, int dim, bool reverse, const Tensor& out))

namespace sieve::cpu {

SIEVE_REDUCE_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
