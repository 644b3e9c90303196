// ops/cpu/elementwise.cpp — CPU kernels for binary, unary and where ops.
//
// Each formula is written once, as a small function templated on the op kind, and the loops
// around it are shared: a flat vectorised loop when everything is contiguous, else the strided
// row walker of loops.h with fast cases for a row that is contiguous or a broadcast scalar.
// The forward formula and its derivative sit next to each other in apply_unary / derivative.
//
// Extend: a new unary op adds a UnaryKind, a case in apply_unary and in derivative, and a line in
// the dispatch switch at the bottom.
#include "ops/cpu/elementwise.h"

#include <cmath>
#include <numbers>

#include "ops/cpu/fastmath.h"
#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

// ---------------------------------------------------------------- binary

template <BinaryKind K, typename T>
inline T apply_binary(T a, T b) {
  if constexpr (K == BinaryKind::add) return a + b;
  if constexpr (K == BinaryKind::sub) return a - b;
  if constexpr (K == BinaryKind::mul) return a * b;
  if constexpr (K == BinaryKind::div) return a / b;
}

template <BinaryKind K, typename T>
void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const int64_t total = out.numel();
  if (a.shape() == out.shape() && b.shape() == out.shape() && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for simd schedule(static) if (total >= kParallelGrain)
    for (int64_t i = 0; i < total; ++i) po[i] = apply_binary<K>(pa[i], pb[i]);
    return;
  }
  const Shape sa = stretched_strides(a.shape(), a.strides(), out.shape());
  const Shape sb = stretched_strides(b.shape(), b.strides(), out.shape());
  for_each_row<3>(out.shape(), {&out.strides(), &sa, &sb},
                  [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
                    T* o = po + off[0];
                    const T* x = pa + off[1];
                    const T* y = pb + off[2];
                    if (step[1] == 1 && step[2] == 1) {
#pragma omp simd
                      for (int64_t i = 0; i < n; ++i) o[i] = apply_binary<K>(x[i], y[i]);
                    } else if (step[1] == 1 && step[2] == 0) {
                      const T yv = *y;
#pragma omp simd
                      for (int64_t i = 0; i < n; ++i) o[i] = apply_binary<K>(x[i], yv);
                    } else if (step[1] == 0 && step[2] == 1) {
                      const T xv = *x;
#pragma omp simd
                      for (int64_t i = 0; i < n; ++i) o[i] = apply_binary<K>(xv, y[i]);
                    } else {
                      for (int64_t i = 0; i < n; ++i) o[i] = apply_binary<K>(x[i * step[1]], y[i * step[2]]);
                    }
                  });
}

// ---------------------------------------------------------------- unary: formula and derivative

template <typename T>
inline T sigmoid_of(T x) {
  return T(1) / (T(1) + exp_any(-x));
}

constexpr double kInvSqrt2Pi = 0.39894228040143267794;     // 1/√(2π)
constexpr double kSqrt2OverPi = 0.79788456080286535588;    // √(2/π)
constexpr double kGeluCubic = 0.044715;

template <UnaryKind K, typename T>
inline T apply_unary(T x, const UnaryParams& p) {
  if constexpr (K == UnaryKind::neg) return -x;
  if constexpr (K == UnaryKind::exp) return exp_any(x);
  if constexpr (K == UnaryKind::log) return std::log(x);
  if constexpr (K == UnaryKind::sqrt) return std::sqrt(x);
  if constexpr (K == UnaryKind::rsqrt) return T(1) / std::sqrt(x);
  if constexpr (K == UnaryKind::pow) return static_cast<T>(std::pow(x, static_cast<T>(p.exponent)));
  if constexpr (K == UnaryKind::abs) return std::fabs(x);
  if constexpr (K == UnaryKind::tanh) return std::tanh(x);
  if constexpr (K == UnaryKind::sigmoid) return sigmoid_of(x);
  if constexpr (K == UnaryKind::relu) return x > T(0) ? x : T(0);
  if constexpr (K == UnaryKind::gelu) return gelu_any(x);  // x·Φ(x)
  if constexpr (K == UnaryKind::gelu_tanh) {
    // 0.5·x·(1 + tanh(u)) = x·σ(2u): same function, one exp instead of a tanh.
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    return x * sigmoid_of(T(2) * u);
  }
  if constexpr (K == UnaryKind::silu) return x * sigmoid_of(x);
  if constexpr (K == UnaryKind::softplus) {
    const T bx = static_cast<T>(p.beta) * x;
    return bx > static_cast<T>(p.threshold) ? x : softplus_any(bx) / static_cast<T>(p.beta);
  }
}

// d f(x) / dx, given x and y = f(x).
template <UnaryKind K, typename T>
inline T derivative(T x, T y, const UnaryParams& p) {
  if constexpr (K == UnaryKind::neg) return T(-1);
  if constexpr (K == UnaryKind::exp) return y;
  if constexpr (K == UnaryKind::log) return T(1) / x;
  if constexpr (K == UnaryKind::sqrt) return T(0.5) / y;
  if constexpr (K == UnaryKind::rsqrt) return T(-0.5) * y * y * y;
  if constexpr (K == UnaryKind::pow)
    return static_cast<T>(p.exponent) * static_cast<T>(std::pow(x, static_cast<T>(p.exponent - 1)));
  if constexpr (K == UnaryKind::abs) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  if constexpr (K == UnaryKind::tanh) return T(1) - y * y;
  if constexpr (K == UnaryKind::sigmoid) return y * (T(1) - y);
  if constexpr (K == UnaryKind::relu) return x > T(0) ? T(1) : T(0);
  if constexpr (K == UnaryKind::gelu) {
    const T cdf = normal_cdf_any(x);
    const T pdf = T(kInvSqrt2Pi) * exp_any(T(-0.5) * x * x);
    return cdf + x * pdf;
  }
  if constexpr (K == UnaryKind::gelu_tanh) {
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    const T s = sigmoid_of(T(2) * u);  // (1 + tanh u) / 2
    const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
    return s + x * T(2) * s * (T(1) - s) * du;  // d/dx x·σ(2u)
  }
  if constexpr (K == UnaryKind::silu) {
    const T s = sigmoid_of(x);
    return s * (T(1) + x * (T(1) - s));
  }
  if constexpr (K == UnaryKind::softplus) {
    const T bx = static_cast<T>(p.beta) * x;
    return bx > static_cast<T>(p.threshold) ? T(1) : sigmoid_of(bx);
  }
}

template <UnaryKind K, typename T>
void unary_loop(const Tensor& x, const Tensor& out, const UnaryParams& params) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const int64_t total = out.numel();
  if (x.is_contiguous()) {
#pragma omp parallel for simd schedule(static) if (total >= kParallelGrain)
    for (int64_t i = 0; i < total; ++i) po[i] = apply_unary<K>(px[i], params);
    return;
  }
  for_each_row<2>(out.shape(), {&out.strides(), &x.strides()},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                    for (int64_t i = 0; i < n; ++i) po[off[0] + i] = apply_unary<K>(px[off[1] + i * step[1]], params);
                  });
}

template <UnaryKind K, typename T>
void unary_backward_loop(const Tensor& x, const Tensor& y, const Tensor& g, const Tensor& gx, const UnaryParams& p) {
  // x, y, g are made contiguous by the front end; gx is fresh.
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  const T* pg = g.data<T>();
  T* pgx = gx.data<T>();
  const int64_t total = gx.numel();
#pragma omp parallel for simd schedule(static) if (total >= kParallelGrain)
  for (int64_t i = 0; i < total; ++i) pgx[i] = pg[i] * derivative<K>(px[i], py[i], p);
}

// Turns the runtime kind into the template argument, once per call (never inside a loop).
template <typename F>
void with_unary_kind(UnaryKind kind, F&& f) {
  switch (kind) {
#define SIEVE_UNARY_CASE(name) \
  case UnaryKind::name: f.template operator()<UnaryKind::name>(); return;
    SIEVE_UNARY_CASE(neg) SIEVE_UNARY_CASE(exp) SIEVE_UNARY_CASE(log) SIEVE_UNARY_CASE(sqrt)
    SIEVE_UNARY_CASE(rsqrt) SIEVE_UNARY_CASE(pow) SIEVE_UNARY_CASE(abs) SIEVE_UNARY_CASE(tanh)
    SIEVE_UNARY_CASE(sigmoid) SIEVE_UNARY_CASE(relu) SIEVE_UNARY_CASE(gelu) SIEVE_UNARY_CASE(gelu_tanh)
    SIEVE_UNARY_CASE(silu) SIEVE_UNARY_CASE(softplus)
#undef SIEVE_UNARY_CASE
  }
}

}  // namespace

void binary(BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Op op = kind == BinaryKind::add ? Op::add : kind == BinaryKind::sub ? Op::sub
              : kind == BinaryKind::mul ? Op::mul : Op::div;
  dispatch_all(out.dtype(), op, [&]<typename T>() {
    switch (kind) {
      case BinaryKind::add: binary_loop<BinaryKind::add, T>(a, b, out); break;
      case BinaryKind::sub: binary_loop<BinaryKind::sub, T>(a, b, out); break;
      case BinaryKind::mul: binary_loop<BinaryKind::mul, T>(a, b, out); break;
      case BinaryKind::div: binary_loop<BinaryKind::div, T>(a, b, out); break;
    }
  });
}

void unary(UnaryKind kind, const Tensor& x, const Tensor& out, const UnaryParams& params) {
  if (kind == UnaryKind::neg || kind == UnaryKind::abs) {
    dispatch_all(x.dtype(), Op::neg, [&]<typename T>() {
      if constexpr (std::is_integral_v<T>) {
        const T* px = x.contiguous().data<T>();
        T* po = out.data<T>();
        for (int64_t i = 0; i < out.numel(); ++i) po[i] = kind == UnaryKind::neg ? -px[i] : (px[i] < 0 ? -px[i] : px[i]);
      } else {
        with_unary_kind(kind, [&]<UnaryKind K>() { unary_loop<K, T>(x, out, params); });
      }
    });
    return;
  }
  dispatch_float(x.dtype(), Op::exp, [&]<typename T>() {
    with_unary_kind(kind, [&]<UnaryKind K>() { unary_loop<K, T>(x, out, params); });
  });
}

void unary_backward(UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out, const Tensor& grad_x,
                    const UnaryParams& params) {
  dispatch_float(x.dtype(), Op::exp, [&]<typename T>() {
    with_unary_kind(kind, [&]<UnaryKind K>() { unary_backward_loop<K, T>(x, y, grad_out, grad_x, params); });
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape sc = stretched_strides(cond.shape(), cond.strides(), out.shape());
  const Shape sa = stretched_strides(a.shape(), a.strides(), out.shape());
  const Shape sb = stretched_strides(b.shape(), b.strides(), out.shape());
  dispatch_all(cond.dtype(), Op::where, [&]<typename C>() {
    dispatch_all(out.dtype(), Op::where, [&]<typename T>() {
      const C* pc = cond.data<C>();
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = out.data<T>();
      for_each_row<4>(out.shape(), {&out.strides(), &sc, &sa, &sb},
                      [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& step) {
                        for (int64_t i = 0; i < n; ++i)
                          po[off[0] + i] = pc[off[1] + i * step[1]] != C(0) ? pa[off[2] + i * step[2]]
                                                                            : pb[off[3] + i * step[3]];
                      });
    });
  });
}

}  // namespace sieve::cpu
