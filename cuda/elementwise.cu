// cuda/elementwise.cu — CUDA kernels of the elementwise family (front end: ops/elementwise.cpp;
// CPU twin and the readable reference: ops/cpu/elementwise.cpp): binary ops with broadcasting,
// unary ops and their fused backward, where.
//
// Shapes: out is any shape; every input arrives with out's shape and strides stretched for
// broadcasting (0 along a broadcast dim). Contiguous operands of out's shape take a flat
// grid-stride loop; anything else computes each operand's offset from the output index
// (Layout, cuda/tensor_arg.h, after merging dims).
//
// The formulas are the CPU's, in the same order of operations. float32 uses CUDA's accurate
// math functions (expf, erfcf, ...), not the CPU's vectorised approximations (fastmath.h), so the
// two agree to float rounding (~1e-6 relative); float64 uses the same exact library forms.
// softplus is evaluated as max(x, 0) + log1p(exp(−|x|)), which never overflows.
//
// Kinds: BinaryKind / UnaryKind values of ops/cpu/elementwise.h, passed as int (this file cannot
// include that header: it pulls in fmt). Their order is mirrored below; a new kind must be added
// to both enums and to with_unary_kind / with_binary_kind.
// Extend: a new unary op adds a case in apply_unary and derivative (mirroring the CPU's) and a
// line in with_unary_kind.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

enum class Binary { add, sub, mul, div };  // == cpu::BinaryKind
enum class Unary { neg, exp, log, sqrt, rsqrt, pow, abs, tanh, sigmoid, relu, gelu, gelu_tanh, silu, softplus };  // == cpu::UnaryKind

struct UnaryArgs {
  double exponent, beta, threshold;
};

// ---------------------------------------------------------------- formulas

template <Binary K, typename T>
__device__ __forceinline__ T apply_binary(T a, T b) {
  if constexpr (K == Binary::add) return a + b;
  if constexpr (K == Binary::sub) return a - b;
  if constexpr (K == Binary::mul) return a * b;
  if constexpr (K == Binary::div) return a / b;
}

template <typename T>
__device__ __forceinline__ T sigmoid_of(T x) {
  return T(1) / (T(1) + dmath::exp(-x));
}

constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/√(2π)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // √(2/π)
constexpr double kInvSqrt2 = 0.70710678118654752440;     // 1/√2
constexpr double kGeluCubic = 0.044715;

template <typename T>
__device__ __forceinline__ T normal_cdf(T x) {
  return T(0.5) * dmath::erfc(-x * T(kInvSqrt2));
}

template <Unary K, typename T>
__device__ __forceinline__ T apply_unary(T x, const UnaryArgs& p) {
  if constexpr (K == Unary::neg) return -x;
  if constexpr (K == Unary::exp) return dmath::exp(x);
  if constexpr (K == Unary::log) return dmath::log(x);
  if constexpr (K == Unary::sqrt) return dmath::sqrt(x);
  if constexpr (K == Unary::rsqrt) return T(1) / dmath::sqrt(x);
  if constexpr (K == Unary::pow) return dmath::pow(x, static_cast<T>(p.exponent));
  if constexpr (K == Unary::abs) return dmath::abs(x);
  if constexpr (K == Unary::tanh) return dmath::tanh(x);
  if constexpr (K == Unary::sigmoid) return sigmoid_of(x);
  if constexpr (K == Unary::relu) return x > T(0) ? x : T(0);
  if constexpr (K == Unary::gelu) return x * normal_cdf(x);
  if constexpr (K == Unary::gelu_tanh) {
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    return x * sigmoid_of(T(2) * u);
  }
  if constexpr (K == Unary::silu) return x * sigmoid_of(x);
  if constexpr (K == Unary::softplus) {
    const T beta = static_cast<T>(p.beta);
    const T bx = beta * x;
    if (bx > static_cast<T>(p.threshold)) return x;
    return ((bx > T(0) ? bx : T(0)) + dmath::log1p(dmath::exp(-dmath::abs(bx)))) / beta;
  }
}

// d f(x) / dx, given x and y = f(x).
template <Unary K, typename T>
__device__ __forceinline__ T derivative(T x, T y, const UnaryArgs& p) {
  if constexpr (K == Unary::neg) return T(-1);
  if constexpr (K == Unary::exp) return y;
  if constexpr (K == Unary::log) return T(1) / x;
  if constexpr (K == Unary::sqrt) return T(0.5) / y;
  if constexpr (K == Unary::rsqrt) return T(-0.5) * y * y * y;
  if constexpr (K == Unary::pow) return static_cast<T>(p.exponent) * dmath::pow(x, static_cast<T>(p.exponent - 1));
  if constexpr (K == Unary::abs) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  if constexpr (K == Unary::tanh) return T(1) - y * y;
  if constexpr (K == Unary::sigmoid) return y * (T(1) - y);
  if constexpr (K == Unary::relu) return x > T(0) ? T(1) : T(0);
  if constexpr (K == Unary::gelu) {
    const T pdf = T(kInvSqrt2Pi) * dmath::exp(T(-0.5) * x * x);
    return normal_cdf(x) + x * pdf;
  }
  if constexpr (K == Unary::gelu_tanh) {
    const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
    const T s = sigmoid_of(T(2) * u);
    const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
    return s + x * T(2) * s * (T(1) - s) * du;
  }
  if constexpr (K == Unary::silu) {
    const T s = sigmoid_of(x);
    return s * (T(1) + x * (T(1) - s));
  }
  if constexpr (K == Unary::softplus) {
    const T bx = static_cast<T>(p.beta) * x;
    return bx > static_cast<T>(p.threshold) ? T(1) : sigmoid_of(bx);
  }
}

// ---------------------------------------------------------------- kernels

template <Binary K, typename T>
__global__ void binary_flat(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) out[i] = apply_binary<K>(a[i], b[i]);
}

// layout operands: out, a, b.
template <Binary K, typename T>
__global__ void binary_strided(Layout<3> layout, const T* __restrict__ a, const T* __restrict__ b,
                               T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[3];
    layout.offsets(i, off);
    out[off[0]] = apply_binary<K>(a[off[1]], b[off[2]]);
  }
}

template <Unary K, typename T>
__global__ void unary_flat(const T* __restrict__ x, T* __restrict__ out, UnaryArgs p, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) out[i] = apply_unary<K>(x[i], p);
}

// layout operands: out, x.
template <Unary K, typename T>
__global__ void unary_strided(Layout<2> layout, const T* __restrict__ x, T* __restrict__ out, UnaryArgs p,
                              int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[2];
    layout.offsets(i, off);
    out[off[0]] = apply_unary<K>(x[off[1]], p);
  }
}

template <Unary K, typename T>
__global__ void unary_backward_flat(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ g,
                                    T* __restrict__ gx, UnaryArgs p, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) gx[i] = g[i] * derivative<K>(x[i], y[i], p);
}

// neg and abs of int64 (the only unary ops the front end allows on integers).
__global__ void unary_int_strided(bool negate, Layout<2> layout, const int64_t* __restrict__ x,
                                  int64_t* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[2];
    layout.offsets(i, off);
    const int64_t v = x[off[1]];
    out[off[0]] = negate ? -v : (v < 0 ? -v : v);
  }
}

// layout operands: out, cond, a, b.
template <typename C, typename T>
__global__ void where_strided(Layout<4> layout, const C* __restrict__ cond, const T* __restrict__ a,
                              const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[4];
    layout.offsets(i, off);
    out[off[0]] = cond[off[1]] != C(0) ? a[off[2]] : b[off[3]];
  }
}

// ---------------------------------------------------------------- kind switches

template <typename F>
void with_binary_kind(int kind, F&& f) {
  switch (static_cast<Binary>(kind)) {
    case Binary::add: f.template operator()<Binary::add>(); return;
    case Binary::sub: f.template operator()<Binary::sub>(); return;
    case Binary::mul: f.template operator()<Binary::mul>(); return;
    case Binary::div: f.template operator()<Binary::div>(); return;
  }
}

template <typename F>
void with_unary_kind(int kind, F&& f) {
  switch (static_cast<Unary>(kind)) {
#define SIEVE_UNARY_CASE(name) \
  case Unary::name: f.template operator()<Unary::name>(); return;
    SIEVE_UNARY_CASE(neg) SIEVE_UNARY_CASE(exp) SIEVE_UNARY_CASE(log) SIEVE_UNARY_CASE(sqrt)
    SIEVE_UNARY_CASE(rsqrt) SIEVE_UNARY_CASE(pow) SIEVE_UNARY_CASE(abs) SIEVE_UNARY_CASE(tanh)
    SIEVE_UNARY_CASE(sigmoid) SIEVE_UNARY_CASE(relu) SIEVE_UNARY_CASE(gelu) SIEVE_UNARY_CASE(gelu_tanh)
    SIEVE_UNARY_CASE(silu) SIEVE_UNARY_CASE(softplus)
#undef SIEVE_UNARY_CASE
  }
}

template <typename F>
void with_float_dtype(DType dtype, F&& f) {
  if (dtype == DType::f32) f(float{});
  if (dtype == DType::f64) f(double{});
}

bool all_flat(const Layout<3>& l) {
  return l.ndim == 0 || (l.ndim == 1 && l.strides[0][0] == 1 && l.strides[1][0] == 1 && l.strides[2][0] == 1);
}

}  // namespace

// ---------------------------------------------------------------- launchers

void launch_binary(int kind, const TensorArg& a, const TensorArg& b, const TensorArg& out) {
  const int64_t n = out.numel;
  if (n == 0) return;
  const int64_t* strides[3] = {out.strides, a.strides, b.strides};
  const Layout<3> layout = make_layout<3>(out.ndim, out.shape, strides);
  const bool flat = all_flat(layout);
  with_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.data);
    const T* pb = static_cast<const T*>(b.data);
    T* po = static_cast<T*>(out.data);
    with_binary_kind(kind, [&]<Binary K>() {
      if (flat)
        binary_flat<K, T><<<grid_for(n), kBlock, 0, stream()>>>(pa, pb, po, n);
      else
        binary_strided<K, T><<<grid_for(n), kBlock, 0, stream()>>>(layout, pa, pb, po, n);
    });
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_unary(int kind, const TensorArg& x, const TensorArg& out, double exponent, double beta,
                  double threshold) {
  const int64_t n = out.numel;
  if (n == 0) return;
  const int64_t* strides[2] = {out.strides, x.strides};
  const Layout<2> layout = make_layout<2>(out.ndim, out.shape, strides);
  const bool flat = layout.ndim == 0 || (layout.ndim == 1 && layout.strides[0][0] == 1 && layout.strides[1][0] == 1);
  const UnaryArgs p{exponent, beta, threshold};
  if (x.dtype == DType::i64) {
    unary_int_strided<<<grid_for(n), kBlock, 0, stream()>>>(static_cast<Unary>(kind) == Unary::neg, layout,
                                                            static_cast<const int64_t*>(x.data),
                                                            static_cast<int64_t*>(out.data), n);
  } else {
    with_float_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.data);
      T* po = static_cast<T*>(out.data);
      with_unary_kind(kind, [&]<Unary K>() {
        if (flat)
          unary_flat<K, T><<<grid_for(n), kBlock, 0, stream()>>>(px, po, p, n);
        else
          unary_strided<K, T><<<grid_for(n), kBlock, 0, stream()>>>(layout, px, po, p, n);
      });
    });
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_unary_backward(int kind, const TensorArg& x, const TensorArg& y, const TensorArg& g,
                           const TensorArg& gx, double exponent, double beta, double threshold) {
  const int64_t n = gx.numel;
  if (n == 0) return;
  const UnaryArgs p{exponent, beta, threshold};
  with_float_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    with_unary_kind(kind, [&]<Unary K>() {
      unary_backward_flat<K, T><<<grid_for(n), kBlock, 0, stream()>>>(
          static_cast<const T*>(x.data), static_cast<const T*>(y.data), static_cast<const T*>(g.data),
          static_cast<T*>(gx.data), p, n);
    });
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_where(const TensorArg& cond, const TensorArg& a, const TensorArg& b, const TensorArg& out) {
  const int64_t n = out.numel;
  if (n == 0) return;
  const int64_t* strides[4] = {out.strides, cond.strides, a.strides, b.strides};
  const Layout<4> layout = make_layout<4>(out.ndim, out.shape, strides);
  with_dtype(cond.dtype, [&](auto c_tag) {
    using C = decltype(c_tag);
    with_dtype(out.dtype, [&](auto tag) {
      using T = decltype(tag);
      where_strided<C, T><<<grid_for(n), kBlock, 0, stream()>>>(
          layout, static_cast<const C*>(cond.data), static_cast<const T*>(a.data), static_cast<const T*>(b.data),
          static_cast<T*>(out.data), n);
    });
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
