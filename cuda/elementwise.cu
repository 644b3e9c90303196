// cuda/elementwise.cu — CUDA kernels of the elementwise family (front end: ops/elementwise.cpp;
// CPU twin and the readable reference: ops/cpu/elementwise.cpp): binary ops with broadcasting,
// unary ops and their fused backward, where.
//
// Shapes: out is any shape; every input arrives with out's shape and strides stretched for
// broadcasting (0 along a broadcast dim). Contiguous operands of out's shape take a flat
// grid-stride loop; anything else computes each operand's offset from the output index
// (Layout, cuda/tensor_arg.h, after merging dims).
//
// The formulas are the CPU's own (ops/elementwise_math.h: apply_binary, apply_unary,
// unary_derivative, the kinds and with_*_kind), given CUDA's accurate math functions (DeviceMath,
// cuda/loops.cuh: expf, erfcf, ...) where the CPU uses vectorised approximations (fastmath.h),
// so the two agree to float rounding (~1e-6 relative); float64 uses the same exact library forms.
//
// Extend: nothing here for a new unary or binary op: its line in ops/op_list.h and its formula in
// ops/elementwise_math.h reach these kernels through with_unary_kind / with_binary_kind.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

// ---------------------------------------------------------------- kernels

template <BinaryKind K, typename T>
__global__ void binary_flat(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) out[i] = apply_binary<K>(a[i], b[i]);
}

// layout operands: out, a, b.
template <BinaryKind K, typename T>
__global__ void binary_strided(Layout<3> layout, const T* __restrict__ a, const T* __restrict__ b,
                               T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[3];
    layout.offsets(i, off);
    out[off[0]] = apply_binary<K>(a[off[1]], b[off[2]]);
  }
}

template <UnaryKind K, typename T>
__global__ void unary_flat(const T* __restrict__ x, T* __restrict__ out, const UnaryParams p, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) out[i] = apply_unary<K, DeviceMath>(x[i], p);
}

// layout operands: out, x.
template <UnaryKind K, typename T>
__global__ void unary_strided(Layout<2> layout, const T* __restrict__ x, T* __restrict__ out, const UnaryParams p,
                              int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[2];
    layout.offsets(i, off);
    out[off[0]] = apply_unary<K, DeviceMath>(x[off[1]], p);
  }
}

template <UnaryKind K, typename T>
__global__ void unary_backward_flat(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ g,
                                    T* __restrict__ gx, const UnaryParams p, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) gx[i] = g[i] * unary_derivative<K, DeviceMath>(x[i], y[i], p);
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

void launch_binary(BinaryKind kind, const TensorArg& a, const TensorArg& b, const TensorArg& out) {
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
    with_binary_kind(kind, [&]<BinaryKind K>() {
      if (flat)
        binary_flat<K, T><<<grid_for(n), kBlock, 0, stream()>>>(pa, pb, po, n);
      else
        binary_strided<K, T><<<grid_for(n), kBlock, 0, stream()>>>(layout, pa, pb, po, n);
    });
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_unary(UnaryKind kind, const TensorArg& x, const TensorArg& out, const UnaryParams& p) {
  const int64_t n = out.numel;
  if (n == 0) return;
  const int64_t* strides[2] = {out.strides, x.strides};
  const Layout<2> layout = make_layout<2>(out.ndim, out.shape, strides);
  const bool flat = layout.ndim == 0 || (layout.ndim == 1 && layout.strides[0][0] == 1 && layout.strides[1][0] == 1);
  if (x.dtype == DType::i64) {
    unary_int_strided<<<grid_for(n), kBlock, 0, stream()>>>(kind == UnaryKind::neg, layout,
                                                            static_cast<const int64_t*>(x.data),
                                                            static_cast<int64_t*>(out.data), n);
  } else {
    with_float_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.data);
      T* po = static_cast<T*>(out.data);
      with_unary_kind(kind, [&]<UnaryKind K>() {
        if (flat)
          unary_flat<K, T><<<grid_for(n), kBlock, 0, stream()>>>(px, po, p, n);
        else
          unary_strided<K, T><<<grid_for(n), kBlock, 0, stream()>>>(layout, px, po, p, n);
      });
    });
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_unary_backward(UnaryKind kind, const TensorArg& x, const TensorArg& y, const TensorArg& g,
                           const TensorArg& gx, const UnaryParams& p) {
  const int64_t n = gx.numel;
  if (n == 0) return;
  with_float_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    with_unary_kind(kind, [&]<UnaryKind K>() {
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
