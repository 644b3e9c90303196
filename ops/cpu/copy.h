// ops/cpu/copy.h — CPU kernels of the copy family (ops/copy.cpp): strided copy with dtype
// conversion, and fill.
#pragma once

#include "core/tensor.h"

namespace sieve::cpu {

// dst := src elementwise; src already expanded to dst's shape; converts dtype if they differ.
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, double value);

}  // namespace sieve::cpu
