// ops/elementwise.cpp — front ends of the elementwise ops, each forward with its backward.
//
// Binary ops broadcast (out = broadcast(a, b)); their gradients are reduced back to each input's
// shape with sum_to. Unary ops run one kernel forward and one fused kernel backward
// (grad_x = g · f'(x); the formulas, forward and derivative side by side, are in
// ops/elementwise_math.h, shared by both backends). Shapes are in ops/elementwise.h.
//
// Extend: see ops/elementwise.h.
#include "ops/elementwise.h"

#include "autograd/node.h"
#include "ops/cpu/elementwise.h"
#include "ops/dispatch.h"
#include "ops/reduce.h"

namespace sieve {

namespace {

Tensor binary_forward(BinaryKind kind, const Tensor& a, const Tensor& b) {
  const Op op = op_of(kind);
  check_defined(op, {&a, &b});
  check_same_device(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
  if (kind == BinaryKind::div) check_floating(op, a);
  const Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op_name(op));
  Tensor out = empty(shape, {.dtype = a.dtype(), .device = a.device()});
  SIEVE_DISPATCH(op, out.device(), /*flops=*/out.numel(), binary, kind, a, b, out);
  return out;
}

// A double operand becomes a 0-d tensor of the other operand's dtype and device.
Tensor scalar_like(double value, const Tensor& like) {
  return scalar(value, {.dtype = like.dtype(), .device = like.device()});
}

// FLOPs: op_list.h's column (unary_flops), the backward two more per element.
Tensor unary_op(UnaryKind kind, const Tensor& x, UnaryParams params = {}) {
  const Op op = op_of(kind);
  check_defined(op, {&x});
  if (!unary_takes_int(kind)) check_floating(op, x);
  Tensor out = empty_like(x);
  SIEVE_DISPATCH(op, x.device(), /*flops=*/unary_flops(kind) * x.numel(), unary, kind, x, out, params);
  autograd::record(op, out, {x}, [op, kind, x, y = out.detach(), params](const Tensor& g) {
    Tensor gx = empty_like(x);
    SIEVE_DISPATCH(op, x.device(), /*flops=*/(unary_flops(kind) + 2) * x.numel(), unary_backward, kind,
                   x.contiguous(), y, g.contiguous(), gx, params);
    return Grads{gx};
  });
  return out;
}

}  // namespace

// ---------------------------------------------------------------- binary

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryKind::add, a, b);
  autograd::record(Op::add, out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(g, sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryKind::sub, a, b);
  autograd::record(Op::sub, out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(neg(g), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryKind::mul, a, b);
  autograd::record(Op::mul, out, {a, b}, [a, b](const Tensor& g) {
    return Grads{a.requires_grad() ? sum_to(g * b, a.shape()) : Tensor(),
                 b.requires_grad() ? sum_to(g * a, b.shape()) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryKind::div, a, b);
  autograd::record(Op::div, out, {a, b}, [a, b, y = out.detach()](const Tensor& g) {
    // d(a/b)/da = 1/b;  d(a/b)/db = −a/b² = −y/b
    Tensor ga = a.requires_grad() ? sum_to(g / b, a.shape()) : Tensor();
    Tensor gb = b.requires_grad() ? sum_to(neg(g * y / b), b.shape()) : Tensor();
    return Grads{ga, gb};
  });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }
Tensor operator-(const Tensor& x) { return neg(x); }

// ---------------------------------------------------------------- unary

Tensor neg(const Tensor& x) { return unary_op(UnaryKind::neg, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryKind::exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryKind::log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryKind::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryKind::rsqrt, x); }
Tensor pow(const Tensor& x, double exponent) {
  return unary_op(UnaryKind::pow, x, {.exponent = exponent});
}
Tensor abs(const Tensor& x) { return unary_op(UnaryKind::abs, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryKind::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryKind::sigmoid, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryKind::relu, x); }
Tensor gelu(const Tensor& x, GeluApprox approx) {
  return approx == GeluApprox::tanh ? unary_op(UnaryKind::gelu_tanh, x)
                                    : unary_op(UnaryKind::gelu, x);
}
Tensor silu(const Tensor& x) { return unary_op(UnaryKind::silu, x); }
Tensor softplus(const Tensor& x, double beta, double threshold) {
  SIEVE_CHECK(beta > 0, "softplus: beta must be positive, got {}", beta);
  return unary_op(UnaryKind::softplus, x, {.beta = beta, .threshold = threshold});
}

// ---------------------------------------------------------------- selection

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(Op::where, {&cond, &a, &b});
  check_same_device(Op::where, {&cond, &a, &b});
  check_same_dtype(Op::where, {&a, &b});
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, {.dtype = a.dtype(), .device = a.device()});
  SIEVE_DISPATCH(Op::where, out.device(), /*flops=*/out.numel(), where, cond, a, b, out);
  autograd::record(Op::where, out, {cond, a, b}, [cond, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    Tensor zero = scalar_like(0.0, g);
    return Grads{Tensor(), sum_to(where(cond, g, zero), sa), sum_to(where(cond, zero, g), sb)};
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined(Op::masked_fill, {&x, &mask});
  check_same_device(Op::masked_fill, {&x, &mask});
  SIEVE_CHECK(broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(),
              "masked_fill: mask {} does not broadcast to input {}", mask.describe(), x.describe());
  Tensor out = empty_like(x);
  SIEVE_DISPATCH(Op::masked_fill, x.device(), /*flops=*/out.numel(), where, mask, scalar_like(value, x), x, out);
  autograd::record(Op::masked_fill, out, {x, mask}, [mask](const Tensor& g) {
    return Grads{masked_fill(g, mask, 0.0), Tensor()};
  });
  return out;
}

}  // namespace sieve
