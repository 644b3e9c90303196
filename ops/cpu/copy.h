// ops/cpu/copy.h — CPU kernels of the copy family (ops/copy.cpp): strided copy with dtype
// conversion, and fill.
#pragma once

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   copy: dst := src elementwise; src already expanded to dst's shape; converts dtype if they differ.
//   fill: dst := value.
#define SIEVE_COPY_KERNELS(X)                     \
  X(copy, (const Tensor& src, const Tensor& dst)) \
  X(fill, (const Tensor& dst, double value))

namespace sieve::cpu {

SIEVE_COPY_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
