// ops/index.h — indexing: embedding lookup, index_select, gather, scatter_add, topk, argsort.
//
// Index tensors are int64; an index out of range is a sieve::Error naming the op, the index and the
// size (checked before any write). Shapes:
//   embedding(weight: (V, C), ids: (...))            → (..., C)
//   index_select(x, dim, index: (K))                 → x's shape with size K at dim
//   gather(x, dim, index)                            → index's shape; out[i][j] = x[i][index[i][j]] (dim 1)
//   scatter_add(x, dim, index, src)                  → x's shape; out = x, then out[..index..] += src
//   topk(x, k, dim, largest)                         → (values, int64 indices), size k at dim, sorted
//   argsort(x, dim, descending)                      → int64, x's shape (stable)
// Gradients flow to weight/x/src, never to indices; topk's values scatter their gradient back.
//
// Extend: a new indexing op checks its indices in the front end, so kernels may assume them valid.
#pragma once

#include <utility>

#include "core/tensor.h"

namespace sieve {

Tensor embedding(const Tensor& weight, const Tensor& ids);
Tensor index_select(const Tensor& x, int dim, const Tensor& index);
Tensor gather(const Tensor& x, int dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src);
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int dim = -1, bool largest = true);
Tensor argsort(const Tensor& x, int dim = -1, bool descending = false);

}  // namespace sieve
