// core/shape.h — shapes, strides and the small helpers every op uses on them.
//
// A Shape is a plain vector of sizes (at most kMaxDims); strides count elements, not bytes.
// Broadcasting follows NumPy/PyTorch: align from the right, a size-1 dim stretches.
//
// Extend: put a helper here only when two or more op families need it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sieve {

constexpr int kMaxDims = 8;

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);            // product of sizes (1 for a scalar)
Shape contiguous_strides(const Shape& shape);    // row-major strides
std::string shape_str(const Shape& shape);       // "(2, 3, 4)"

// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int normalize_dim(int dim, int ndim, const char* op);

// The broadcast of two shapes; throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Which dims (of `full`) a tensor of shape `small` was broadcast along, for reducing gradients.
// Returns the dims of `full` to sum over (with keepdim) before reshaping to `small`.
std::vector<int> broadcast_reduce_dims(const Shape& small, const Shape& full);

}  // namespace sieve
