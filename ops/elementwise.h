// ops/elementwise.h — elementwise ops: binary with broadcasting, unary activations, selection.
//
// Shapes: a binary op broadcasts its inputs (NumPy rules) to out: broadcast(a.shape, b.shape), and
// its backward sums each gradient back to its input's shape. Unary ops keep the shape.
// Both inputs of a binary op must share dtype and device; a double operand is a 0-d tensor of the
// other operand's dtype.
//
// What it is not: reductions (ops/reduce.h), or in-place updates (optimizers use nn/'s own).
// Extend: a new unary op is its line in ops/op_list.h's SIEVE_UNARY_OPS, its formula and derivative
// in ops/elementwise_math.h (both backends use them) and its function here and in
// ops/elementwise.cpp; ops/README.md lists every step.
#pragma once

#include "core/tensor.h"

namespace sieve {

// ---- binary, broadcasting: out = broadcast(a, b) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

// ---- unary: out has x's shape ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);                 // 1 / sqrt(x)
Tensor pow(const Tensor& x, double exponent);  // x^p, p a scalar
Tensor abs(const Tensor& x);                   // gradient sign(x), 0 at 0 (as PyTorch)
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
enum class GeluApprox { none, tanh };  // none: x·Φ(x) with erf; tanh: PyTorch's approximate="tanh"
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::none);
Tensor silu(const Tensor& x);  // x·σ(x)
// log(1 + exp(βx))/β, linear above threshold (PyTorch's defaults)
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ---- selection ----
// cond, a, b broadcast together; out = cond != 0 ? a : b. cond may be any dtype; it gets no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with value wherever mask != 0 (mask broadcasts to x); no gradient where filled.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

}  // namespace sieve
