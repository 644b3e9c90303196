// ops/cpu/index.h — CPU kernels of the index family (ops/index.cpp).
//
// Every kernel assumes its indices were validated by the front end (in range, int64). Inputs may
// have any strides; outputs are written at their own strides too. No kernel races: where several
// indices may hit one destination, the loop that accumulates runs in one thread per destination.
//
// Extend: a new indexing kernel follows gather/scatter_add: the index tensor decides the shape.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   embedding: weight: (V, C), ids: (N) int64 → out: (N, C) with out[n] = weight[ids[n]].
//   embedding_backward: grad_weight: (V, C) zeros on entry; grad_weight[ids[n]] += g[n] for
//     g: (N, C), deterministic (the CPU: parallel over vocabulary rows, each summing its
//     occurrences in order).
//   gather: out[p] = x[p with p[dim] := index[p]] for every position p of index (= out's shape);
//     index may be a broadcast view (index_select passes its 1-D index expanded to out's shape).
//   scatter_add: out[p with p[dim] := index[p]] += src[p] for every position p of index, in place.
//   topk: the k largest (or smallest) along dim, sorted; ties keep the lower index first. NaN counts
//     as larger than every number (as in PyTorch). values/indices: x's shape with k at dim.
//   argsort: stable sort along dim; indices: x's shape (int64).
#define SIEVE_INDEX_KERNELS(X)                                                                        \
  X(embedding, (const Tensor& weight, const Tensor& ids, const Tensor& out))                          \
  X(embedding_backward, (const Tensor& g, const Tensor& ids, const Tensor& grad_weight))              \
  X(gather, (const Tensor& x, int dim, const Tensor& index, const Tensor& out))                       \
  X(scatter_add, (const Tensor& out, int dim, const Tensor& index, const Tensor& src))                \
  X(topk, (const Tensor& x, int64_t k, int dim, bool largest, const Tensor& values, const Tensor& indices)) \
  X(argsort, (const Tensor& x, int dim, bool descending, const Tensor& indices))

namespace sieve::cpu {

// The first index (in row-major order) outside [0, size), if any. index: int64, any layout.
struct BadIndex {
  bool found = false;
  int64_t value = 0;
};
BadIndex find_bad_index(const Tensor& index, int64_t size);

SIEVE_INDEX_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
