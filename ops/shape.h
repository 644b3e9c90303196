// ops/shape.h — joining and splitting tensors: cat (an op), stack, split, chunk (composites).
//
// Shapes:
//   cat(ts, dim):      all equal except at dim → sizes add up at dim
//   stack(ts, dim):    all equal → a new dim of size ts.size() at dim (unsqueeze + cat)
//   split(x, size, dim): pieces of `size` along dim (the last may be smaller), as views
//   chunk(x, n, dim):  n pieces of ceil(size/n) (the last may be smaller), as views
// split and chunk return narrow() views, so their gradients come from the slice op.
//
// Extend: reshaping views (view, permute, narrow, expand, ...) are Tensor methods in ops/view.cpp.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace sieve {

Tensor cat(const std::vector<Tensor>& tensors, int dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int dim = 0);

}  // namespace sieve
