// ops/cpu/elementwise.h — CPU kernels of the elementwise family (front end: ops/elementwise.cpp).
#pragma once

#include "core/tensor.h"

namespace sieve::cpu {

enum class BinaryKind { add, sub, mul, div };
enum class UnaryKind { neg, exp, log, sqrt, rsqrt, pow, abs, tanh, sigmoid, relu, gelu, gelu_tanh, silu, softplus };

// Extra numbers some unary ops take: pow's exponent; softplus's beta and threshold.
struct UnaryParams {
  double exponent = 1.0;
  double beta = 1.0;
  double threshold = 20.0;
};

// out = a ∘ b; a and b broadcast to out's shape (their strides are stretched, not copied).
void binary(BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out);
// out = f(x); x and out have the same shape.
void unary(UnaryKind kind, const Tensor& x, const Tensor& out, const UnaryParams& params);
// grad_x = grad_out · f'(x), with y = f(x) when the derivative reads better through it.
void unary_backward(UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out, const Tensor& grad_x,
                    const UnaryParams& params);
// out = cond != 0 ? a : b; all three broadcast to out's shape.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace sieve::cpu
