// cuda/loss.cu — CUDA kernels of the loss family (front end: ops/loss.cpp; CPU twin and the
// readable reference: ops/cpu/loss.cpp): cross-entropy fused with log_softmax, and mean squared
// error, forward and backward.
//
// Shapes: logits (R, C) rows and target (R) int64, contiguous; the front end has checked every
// target (in [0, C) or ignore_index). mse: a, b, g contiguous, n elements.
//
//   cross-entropy  lse = m + log Σ exp(x − m);  loss = lse − (1 − ε)·x[t] − (ε/C)·Σx  (0 if ignored)
//                  dx = (exp(x − lse) − ε/C − (1 − ε)·[c = t]) · g_r / divisor
//   mse            (a − b)², summed in double times scale when reduced;  da = 2·scale·(a − b)·g
// The forward is one block per row (cuda/rows.cuh); backward kernels are flat over elements.
// Reduced losses are deterministic: a fixed number of blocks each writes a double partial into a
// scratch buffer (from the entry point), and one block adds the partials in order.
//
// Extend: class weights would scale each row's loss and gradient here.
#include "cuda/launchers.h"
#include "cuda/rows.cuh"

namespace sieve::cuda {

namespace {

template <typename T>
__global__ void cross_entropy_rows(const T* __restrict__ x, const int64_t* __restrict__ target, T* __restrict__ losses,
                                   T* __restrict__ lse, int64_t rows, int64_t c, int64_t ignore_index,
                                   double smoothing) {
  const double on_target = 1.0 - smoothing, uniform = smoothing / static_cast<double>(c);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = target[r];
    if (t == ignore_index) {  // the same for the whole block: no thread skips a block_sum
      if (threadIdx.x == 0) losses[r] = lse[r] = T(0);
      continue;
    }
    const T* xr = x + r * c;
    T m = -INFINITY;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) m = xr[i] > m ? xr[i] : m;
    m = block_max(m);
    double s = 0, sx = 0;  // Σ exp(x − m) and, for label smoothing, Σ x
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      s += static_cast<double>(dmath::exp(xr[i] - m));
      sx += static_cast<double>(xr[i]);
    }
    s = block_sum(s);
    sx = smoothing > 0 ? block_sum(sx) : 0.0;
    if (threadIdx.x == 0) {
      const double row_lse = static_cast<double>(m) + ::log(s);
      lse[r] = static_cast<T>(row_lse);
      losses[r] = static_cast<T>(row_lse - on_target * static_cast<double>(xr[t]) - uniform * sx);
    }
  }
}

template <typename T>
__global__ void cross_entropy_backward_flat(const T* __restrict__ x, const int64_t* __restrict__ target,
                                            const T* __restrict__ lse, const T* __restrict__ g, T* __restrict__ dx,
                                            int64_t rows, int64_t c, int64_t ignore_index, double smoothing,
                                            double divisor, bool per_row) {
  const T uniform = static_cast<T>(smoothing / static_cast<double>(c));
  SIEVE_GRID_STRIDE(i, rows * c) {
    const int64_t r = i / c, k = i % c, t = target[r];
    if (t == ignore_index) {
      dx[i] = T(0);
      continue;
    }
    const T scale = static_cast<T>(static_cast<double>(g[per_row ? r : 0]) / divisor);
    T d = (dmath::exp(x[i] - lse[r]) - uniform) * scale;
    if (k == t) d -= static_cast<T>(1.0 - smoothing) * scale;
    dx[i] = d;
  }
}

constexpr int kPartials = 256;  // blocks of the first pass of a deterministic sum

// partial[block] := Σ over this block's grid-stride share of the terms, in double.
// Kind 0: the values of v (per-row losses); kind 1: (a − b)² in double (mse).
template <typename T, int kKind>
__global__ void partial_sums(const T* __restrict__ a, const T* __restrict__ b, int64_t n, double* __restrict__ partial) {
  double s = 0;
  SIEVE_GRID_STRIDE(i, n) {
    if constexpr (kKind == 0) {
      s += static_cast<double>(a[i]);
    } else {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      s += d * d;
    }
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[0] := T(Σ partial · scale / divisor), partials added in block order by one block.
template <typename T>
__global__ void finish_sum(const double* __restrict__ partial, int count, double scale, double divisor, T* out) {
  double s = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = static_cast<T>(s * scale / divisor);
}

// out := Σ terms · scale / divisor, deterministic (see the header).
template <typename T, int kKind>
void deterministic_sum(const T* a, const T* b, int64_t n, double* scratch, double scale, double divisor, T* out) {
  partial_sums<T, kKind><<<kPartials, kBlock, 0, stream()>>>(a, b, n, scratch);
  finish_sum<T><<<1, kBlock, 0, stream()>>>(scratch, kPartials, scale, divisor, out);
}

template <typename T>
__global__ void mse_flat(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) out[i] = (a[i] - b[i]) * (a[i] - b[i]);
}

template <typename T>
__global__ void mse_backward_flat(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ g,
                                  T* __restrict__ da, T* __restrict__ db, int64_t n, double scale, bool per_element) {
  const T two_scale = static_cast<T>(2.0 * scale);
  SIEVE_GRID_STRIDE(i, n) {
    const T d = two_scale * (a[i] - b[i]) * g[per_element ? i : 0];
    if (da) da[i] = d;
    if (db) db[i] = -d;
  }
}

template <typename F>
void with_float(DType dtype, F&& f) {
  with_dtype(dtype, [&](auto tag) {
    if constexpr (!std::is_integral_v<decltype(tag)>) f(tag);
  });
}

}  // namespace

int64_t loss_scratch_size() { return kPartials; }

void launch_cross_entropy(const TensorArg& logits, const TensorArg& target, int64_t ignore_index, double smoothing,
                          bool reduce, double divisor, const TensorArg& losses, const TensorArg& out,
                          const TensorArg& lse, const TensorArg& scratch) {
  const int64_t rows = target.numel;
  const int64_t c = logits.ndim > 0 ? logits.shape[logits.ndim - 1] : 1;
  with_float(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* pl = static_cast<T*>(losses.data);
    if (rows > 0)
      cross_entropy_rows<T><<<row_grid_for(rows), row_block_for(c), 0, stream()>>>(
          static_cast<const T*>(logits.data), static_cast<const int64_t*>(target.data), pl,
          static_cast<T*>(lse.data), rows, c, ignore_index, smoothing);
    if (reduce)
      deterministic_sum<T, 0>(pl, nullptr, rows, static_cast<double*>(scratch.data), 1.0, divisor,
                              static_cast<T*>(out.data));
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_cross_entropy_backward(const TensorArg& logits, const TensorArg& target, const TensorArg& lse,
                                   const TensorArg& g, int64_t ignore_index, double smoothing, double divisor,
                                   const TensorArg& dlogits) {
  const int64_t rows = target.numel;
  const int64_t c = logits.ndim > 0 ? logits.shape[logits.ndim - 1] : 1;
  if (rows * c == 0) return;
  with_float(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_backward_flat<T><<<grid_for(rows * c), kBlock, 0, stream()>>>(
        static_cast<const T*>(logits.data), static_cast<const int64_t*>(target.data), static_cast<const T*>(lse.data),
        static_cast<const T*>(g.data), static_cast<T*>(dlogits.data), rows, c, ignore_index, smoothing, divisor,
        g.numel != 1);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_mse_loss(const TensorArg& a, const TensorArg& b, bool reduce, double scale, const TensorArg& out,
                     const TensorArg& scratch) {
  const int64_t n = a.numel;
  with_float(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.data);
    const T* pb = static_cast<const T*>(b.data);
    if (reduce)
      deterministic_sum<T, 1>(pa, pb, n, static_cast<double*>(scratch.data), scale, 1.0, static_cast<T*>(out.data));
    else if (n > 0)
      mse_flat<T><<<grid_for(n), kBlock, 0, stream()>>>(pa, pb, static_cast<T*>(out.data), n);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_mse_loss_backward(const TensorArg& a, const TensorArg& b, const TensorArg& g, double scale,
                              const TensorArg& da, const TensorArg& db) {
  const int64_t n = a.numel;
  if (n == 0) return;
  with_float(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    mse_backward_flat<T><<<grid_for(n), kBlock, 0, stream()>>>(
        static_cast<const T*>(a.data), static_cast<const T*>(b.data), static_cast<const T*>(g.data),
        static_cast<T*>(da.data), static_cast<T*>(db.data), n, scale, g.numel != 1 || n == 1);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
