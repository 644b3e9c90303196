// ops/elementwise_math.h — the elementwise family's kinds and scalar formulas, written once for the
// CPU (ops/cpu/elementwise.cpp) and CUDA (cuda/elementwise.cu) alike.
//
// From op_list.h's sublists: BinaryKind and UnaryKind, the FLOPs of a unary op, whether it takes
// int64, the Op it is, and with_binary_kind / with_unary_kind, which turn a runtime kind into a
// template argument once per call (never inside a loop). Then the formulas: apply_binary,
// apply_unary and unary_derivative, each a small function templated on the kind.
//
// The formulas call elementary functions through a Math policy that each backend supplies, since
// each evaluates them its own way: the CPU with vectorisable float32 approximations
// (ops/cpu/fastmath.h's CpuMath), CUDA with its accurate library functions (cuda/loops.cuh's
// DeviceMath). A policy is a struct of static functions overloaded on float and double:
//   exp, log, sqrt, pow(x, e), abs, tanh, normal_cdf (Φ), gelu (x·Φ(x)), softplus (log(1 + eˣ)).
//
// What it is not: the loops around the formulas (each backend's own), or the front ends
// (ops/elementwise.cpp). This header is plain C++ that nvcc reads: no fmt, no Tensor.
// Extend: a new unary op is its line in op_list.h's SIEVE_UNARY_OPS plus its case in apply_unary
// and unary_derivative below; both backends then have it (ops/README.md walks it through).
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "ops/op_list.h"

namespace sieve {

enum class BinaryKind {
#define SIEVE_KIND_(name, ...) name,
  SIEVE_BINARY_OPS(SIEVE_KIND_)
};

enum class UnaryKind { SIEVE_UNARY_OPS(SIEVE_KIND_) };
#undef SIEVE_KIND_

// Extra numbers some unary ops take: pow's exponent; softplus's beta and threshold.
struct UnaryParams {
  double exponent = 1.0;
  double beta = 1.0;
  double threshold = 20.0;
};

// FLOPs per element of the forward (op_list.h's column); the backward counts two more.
constexpr int64_t unary_flops(UnaryKind kind) {
  switch (kind) {
#define SIEVE_FLOPS_(name, flops, dtypes) \
  case UnaryKind::name: return flops;
    SIEVE_UNARY_OPS(SIEVE_FLOPS_)
#undef SIEVE_FLOPS_
  }
  return 1;
}

// True for the unary ops that take int64 as well as floats (op_list.h's dtypes column).
constexpr bool unary_takes_int(UnaryKind kind) {
  constexpr bool any = true, floats = false;  // the column's two values
  switch (kind) {
#define SIEVE_DTYPES_(name, flops, dtypes) \
  case UnaryKind::name: return dtypes;
    SIEVE_UNARY_OPS(SIEVE_DTYPES_)
#undef SIEVE_DTYPES_
  }
  return false;
}

// The Op a kind is (the same name in op_list.h).
constexpr Op op_of(BinaryKind kind) {
  switch (kind) {
#define SIEVE_OP_OF_(name, ...) \
  case BinaryKind::name: return Op::name;
    SIEVE_BINARY_OPS(SIEVE_OP_OF_)
#undef SIEVE_OP_OF_
  }
  return Op::add;
}

constexpr Op op_of(UnaryKind kind) {
  switch (kind) {
#define SIEVE_OP_OF_(name, ...) \
  case UnaryKind::name: return Op::name;
    SIEVE_UNARY_OPS(SIEVE_OP_OF_)
#undef SIEVE_OP_OF_
  }
  return Op::neg;
}

// f.template operator()<K>() for the runtime kind: how a kernel picks its compiled formula.
template <typename F>
void with_binary_kind(BinaryKind kind, F&& f) {
  switch (kind) {
#define SIEVE_CASE_(name, ...) \
  case BinaryKind::name: f.template operator()<BinaryKind::name>(); return;
    SIEVE_BINARY_OPS(SIEVE_CASE_)
#undef SIEVE_CASE_
  }
}

template <typename F>
void with_unary_kind(UnaryKind kind, F&& f) {
  switch (kind) {
#define SIEVE_CASE_(name, ...) \
  case UnaryKind::name: f.template operator()<UnaryKind::name>(); return;
    SIEVE_UNARY_OPS(SIEVE_CASE_)
#undef SIEVE_CASE_
  }
}

// ---------------------------------------------------------------- the formulas

// A kind listed in op_list.h without a case below stops the build there, not at run time.
template <auto K>
inline constexpr bool no_formula_for = false;

template <BinaryKind K, typename T>
SIEVE_HOST_DEVICE inline T apply_binary(T a, T b) {
  if constexpr (K == BinaryKind::add) return a + b;
  else if constexpr (K == BinaryKind::sub) return a - b;
  else if constexpr (K == BinaryKind::mul) return a * b;
  else if constexpr (K == BinaryKind::div) return a / b;
  else static_assert(no_formula_for<K>, "apply_binary: this BinaryKind has no case here yet");
}

namespace elementwise_constants {
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/√(2π)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // √(2/π)
constexpr double kGeluCubic = 0.044715;
}  // namespace elementwise_constants

template <typename Math, typename T>
SIEVE_HOST_DEVICE inline T sigmoid_of(T x) {
  return T(1) / (T(1) + Math::exp(-x));
}

// f(x) for the op K.
template <UnaryKind K, typename Math, typename T>
SIEVE_HOST_DEVICE inline T apply_unary(T x, const UnaryParams& p) {
  using namespace elementwise_constants;
  if constexpr (K == UnaryKind::neg) return -x;
  else if constexpr (K == UnaryKind::exp) return Math::exp(x);
  else if constexpr (K == UnaryKind::log) return Math::log(x);
  else if constexpr (K == UnaryKind::sqrt) return Math::sqrt(x);
  else if constexpr (K == UnaryKind::rsqrt) return T(1) / Math::sqrt(x);
  else if constexpr (K == UnaryKind::pow) return Math::pow(x, static_cast<T>(p.exponent));
  else if constexpr (K == UnaryKind::abs) return Math::abs(x);
  else if constexpr (K == UnaryKind::tanh) return Math::tanh(x);
  else if constexpr (K == UnaryKind::sigmoid) return sigmoid_of<Math>(x);
  else if constexpr (K == UnaryKind::relu) return x < T(0) ? T(0) : x;  // NaN stays NaN, as PyTorch
  else if constexpr (K == UnaryKind::gelu) return Math::gelu(x);  // x·Φ(x)
  else if constexpr (K == UnaryKind::gelu_tanh) {
    // 0.5·x·(1 + tanh(u)) = x·σ(2u): same function, one exp instead of a tanh.
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    return x * sigmoid_of<Math>(T(2) * u);
  } else if constexpr (K == UnaryKind::silu) return x * sigmoid_of<Math>(x);
  else if constexpr (K == UnaryKind::softplus) {
    // Past the threshold softplus(βx)/β is x to float precision (PyTorch's rule).
    const T bx = static_cast<T>(p.beta) * x;
    return bx > static_cast<T>(p.threshold) ? x : Math::softplus(bx) / static_cast<T>(p.beta);
  } else static_assert(no_formula_for<K>, "apply_unary: this UnaryKind has no case here yet");
}

// d f(x) / dx for the op K, given x and y = f(x) (whichever reads better).
template <UnaryKind K, typename Math, typename T>
SIEVE_HOST_DEVICE inline T unary_derivative(T x, T y, const UnaryParams& p) {
  using namespace elementwise_constants;
  if constexpr (K == UnaryKind::neg) return T(-1);
  else if constexpr (K == UnaryKind::exp) return y;
  else if constexpr (K == UnaryKind::log) return T(1) / x;
  else if constexpr (K == UnaryKind::sqrt) return T(0.5) / y;
  else if constexpr (K == UnaryKind::rsqrt) return T(-0.5) * y * y * y;
  else if constexpr (K == UnaryKind::pow) return static_cast<T>(p.exponent) * Math::pow(x, static_cast<T>(p.exponent - 1));
  else if constexpr (K == UnaryKind::abs) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  else if constexpr (K == UnaryKind::tanh) return T(1) - y * y;
  else if constexpr (K == UnaryKind::sigmoid) return y * (T(1) - y);
  else if constexpr (K == UnaryKind::relu) return x > T(0) ? T(1) : T(0);
  else if constexpr (K == UnaryKind::gelu) {
    const T pdf = T(kInvSqrt2Pi) * Math::exp(T(-0.5) * x * x);
    return Math::normal_cdf(x) + x * pdf;
  } else if constexpr (K == UnaryKind::gelu_tanh) {
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    const T s = sigmoid_of<Math>(T(2) * u);  // (1 + tanh u) / 2
    const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
    return s + x * T(2) * s * (T(1) - s) * du;  // d/dx x·σ(2u)
  } else if constexpr (K == UnaryKind::silu) {
    const T s = sigmoid_of<Math>(x);
    return s * (T(1) + x * (T(1) - s));
  } else if constexpr (K == UnaryKind::softplus) {
    const T bx = static_cast<T>(p.beta) * x;
    return bx > static_cast<T>(p.threshold) ? T(1) : sigmoid_of<Math>(bx);
  } else static_assert(no_formula_for<K>, "unary_derivative: this UnaryKind has no case here yet");
}

}  // namespace sieve
