// ops/cpu/elementwise.cpp — CPU kernels for binary, unary and where ops.
//
// The formulas are written once for both backends, as small functions templated on the op kind
// (ops/elementwise_math.h: apply_binary, apply_unary and unary_derivative side by side; CpuMath
// gives them the CPU's vectorisable exp, GELU and softplus). Here are the loops around them,
// shared by every kind: a flat vectorised loop when everything is contiguous, else the strided
// row walker of loops.h with fast cases for a row that is contiguous or a broadcast scalar.
//
// Extend: nothing here for a new unary or binary op: its line in op_list.h and its formula in
// ops/elementwise_math.h reach these loops through with_unary_kind / with_binary_kind.
#include "ops/cpu/elementwise.h"

#include <type_traits>

#include "ops/cpu/fastmath.h"
#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

// ---------------------------------------------------------------- binary

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

// ---------------------------------------------------------------- unary

template <UnaryKind K, typename T>
void unary_loop(const Tensor& x, const Tensor& out, const UnaryParams& params) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const int64_t total = out.numel();
  if (x.is_contiguous()) {
#pragma omp parallel for simd schedule(static) if (total >= kParallelGrain)
    for (int64_t i = 0; i < total; ++i) po[i] = apply_unary<K, CpuMath>(px[i], params);
    return;
  }
  for_each_row<2>(out.shape(), {&out.strides(), &x.strides()},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                    for (int64_t i = 0; i < n; ++i) po[off[0] + i] = apply_unary<K, CpuMath>(px[off[1] + i * step[1]], params);
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
  for (int64_t i = 0; i < total; ++i) pgx[i] = pg[i] * unary_derivative<K, CpuMath>(px[i], py[i], p);
}

}  // namespace

void binary(BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all(out.dtype(), op_of(kind), [&]<typename T>() {
    with_binary_kind(kind, [&]<BinaryKind K>() { binary_loop<K, T>(a, b, out); });
  });
}

void unary(UnaryKind kind, const Tensor& x, const Tensor& out, const UnaryParams& params) {
  if (unary_takes_int(kind)) {  // neg, abs: int64 as well
    dispatch_all(x.dtype(), op_of(kind), [&]<typename T>() {
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
  dispatch_float(x.dtype(), op_of(kind), [&]<typename T>() {
    with_unary_kind(kind, [&]<UnaryKind K>() { unary_loop<K, T>(x, out, params); });
  });
}

void unary_backward(UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out, const Tensor& grad_x,
                    const UnaryParams& params) {
  dispatch_float(x.dtype(), op_of(kind), [&]<typename T>() {
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
