// ops/cpu/elementwise.h — CPU kernels of the elementwise family (front end: ops/elementwise.cpp).
#pragma once

#include "core/tensor.h"
#include "ops/elementwise_math.h"  // BinaryKind, UnaryKind, UnaryParams and the formulas
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   binary: out = a ∘ b; a and b broadcast to out's shape (their strides are stretched, not copied).
//   unary: out = f(x); x and out have the same shape.
//   unary_backward: grad_x = grad_out · f'(x), with y = f(x) when the derivative reads better
//     through it.
//   where: out = cond != 0 ? a : b; all three broadcast to out's shape.
#define SIEVE_ELEMENTWISE_KERNELS(X)                                                                  \
  X(binary, (BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out))                   \
  X(unary, (UnaryKind kind, const Tensor& x, const Tensor& out, const UnaryParams& params))           \
  X(unary_backward, (UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out,        \
                     const Tensor& grad_x, const UnaryParams& params))                                \
  X(where, (const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out))

namespace sieve::cpu {

SIEVE_ELEMENTWISE_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
