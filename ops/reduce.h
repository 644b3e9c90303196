// ops/reduce.h — reductions over any set of dims, and the cumulative sum.
//
// dims: the dims to reduce, negatives allowed; an empty list means all dims. keepdim keeps them
// as size 1. Shapes: x: (d0, ..., dn) → out: x's shape without (or with size-1) reduced dims.
// max/min over dims follow torch.amax/amin: the gradient is split evenly among tied maxima.
// argmax returns int64 indices along one dim (first maximum on ties) and has no gradient.
// var uses `correction` (1: unbiased, as PyTorch's default; 0: population).
//
// Extend: a new reduction adds a ReduceKind in ops/cpu/reduce.cpp and its backward here.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace sieve {

Tensor sum(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int dim, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int>& dims = {}, int64_t correction = 1, bool keepdim = false);

// x: (..., L_dim, ...) → out: same shape, out[i] = Σ_{j ≤ i} x[j] along dim.
Tensor cumsum(const Tensor& x, int dim);

// Sums a broadcast gradient back to `shape` (the shape of the input that was broadcast).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace sieve
