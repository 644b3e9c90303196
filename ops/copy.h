// ops/copy.h — copying data between layouts, dtypes and devices, and in-place fills.
//
// contiguous/clone/to are Tensor methods (core/tensor.h) defined in ops/copy.cpp; this header adds
// the in-place helpers used by initialisers and optimizers. In-place writes never record autograd
// history and refuse a tensor that requires grad while grad mode is on.
//
// Extend: a new layout conversion is a case of the copy kernel (ops/cpu/copy.cpp).
#pragma once

#include <vector>

#include "core/tensor.h"

namespace sieve {

void copy_(const Tensor& dst, const Tensor& src);  // dst's elements := src's (src broadcasts)
void fill_(const Tensor& dst, double value);

// Moves each tensor's storage to `device` in place: every handle to these tensors (a layer's
// weight, an optimizer's list) sees the data on the new device, tensors that shared a storage
// (tied weights, views) still share one, and gradients are dropped. Not an autograd op: for
// leaves such as parameters and buffers, before training starts (nn::Module::to).
void move_storage_(const std::vector<Tensor>& tensors, Device device);

}  // namespace sieve
