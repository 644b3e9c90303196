// ops/copy.h — copying data between layouts, dtypes and devices, and in-place fills.
//
// contiguous/clone/to are Tensor methods (core/tensor.h) defined in ops/copy.cpp; this header adds
// the in-place helpers used by initialisers and optimizers. In-place writes never record autograd
// history and refuse a tensor that requires grad while grad mode is on.
//
// Extend: a new layout conversion is a case of the copy kernel (ops/cpu/copy.cpp).
#pragma once

#include "core/tensor.h"

namespace sieve {

void copy_(const Tensor& dst, const Tensor& src);  // dst's elements := src's (src broadcasts)
void fill_(const Tensor& dst, double value);

}  // namespace sieve
