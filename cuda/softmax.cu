// cuda/softmax.cu — CUDA kernels of softmax / log_softmax (front end: ops/softmax.cpp; CPU twin
// and the readable reference: ops/cpu/softmax.cpp), forward and backward.
//
// Shapes: x, y, g, dx are contiguous and seen as (A, C, B) around the softmax dim (C values per
// softmax). B = 1 is the row case: one block per row of C contiguous values (rows.cuh), its
// threads striding through the row and combining by block_max / block_sum. B > 1 is the column
// case: one thread per (a, b) column walking its C values B apart, so neighbouring threads read
// neighbouring addresses.
//
//   forward   m = max x;  s = Σ exp(x − m);  softmax y = exp(x − m) / s;  log_softmax y = x − m − log s
//   backward  softmax dx = y ⊙ (g − Σ g⊙y);  log_softmax dx = g − exp(y) ⊙ Σ g
// Sums accumulate in double, as the CPU's chunked sums end in double; each exp is taken in T.
//
// Extend: a masked or scaled softmax adds its argument to both kernel pairs.
#include "cuda/launchers.h"
#include "cuda/rows.cuh"

namespace sieve::cuda {

namespace {

template <typename T>
__global__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t c, bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    T m = -INFINITY;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) m = xr[i] > m ? xr[i] : m;
    m = block_max(m);
    double s = 0;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) s += static_cast<double>(dmath::exp(xr[i] - m));
    s = block_sum(s);
    if (log) {
      const T lse = static_cast<T>(static_cast<double>(m) + ::log(s));
      for (int64_t i = threadIdx.x; i < c; i += blockDim.x) yr[i] = xr[i] - lse;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t i = threadIdx.x; i < c; i += blockDim.x) yr[i] = dmath::exp(xr[i] - m) * inv;
    }
  }
}

template <typename T>
__global__ void softmax_backward_rows(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ dx,
                                      int64_t rows, int64_t c, bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* yr = y + r * c;
    const T* gr = g + r * c;
    T* dr = dx + r * c;
    double acc = 0;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) acc += static_cast<double>(log ? gr[i] : gr[i] * yr[i]);
    const T s = static_cast<T>(block_sum(acc));
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x)
      dr[i] = log ? gr[i] - dmath::exp(yr[i]) * s : yr[i] * (gr[i] - s);
  }
}

// Column (a, b) starts at a·C·B + b; its values are B apart.
template <typename T>
__global__ void softmax_columns(const T* __restrict__ x, T* __restrict__ y, int64_t a_size, int64_t c,
                                int64_t b_size, bool log) {
  SIEVE_GRID_STRIDE(col, a_size * b_size) {
    const int64_t base = (col / b_size) * c * b_size + col % b_size;
    const T* xc = x + base;
    T* yc = y + base;
    T m = -INFINITY;
    for (int64_t k = 0; k < c; ++k) m = xc[k * b_size] > m ? xc[k * b_size] : m;
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += static_cast<double>(dmath::exp(xc[k * b_size] - m));
    const T f = static_cast<T>(log ? static_cast<double>(m) + ::log(s) : 1.0 / s);  // logsumexp or 1 / sum
    for (int64_t k = 0; k < c; ++k)
      yc[k * b_size] = log ? xc[k * b_size] - f : dmath::exp(xc[k * b_size] - m) * f;
  }
}

template <typename T>
__global__ void softmax_backward_columns(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ dx,
                                         int64_t a_size, int64_t c, int64_t b_size, bool log) {
  SIEVE_GRID_STRIDE(col, a_size * b_size) {
    const int64_t base = (col / b_size) * c * b_size + col % b_size;
    double acc = 0;
    for (int64_t k = 0; k < c; ++k) {
      const int64_t i = base + k * b_size;
      acc += static_cast<double>(log ? g[i] : g[i] * y[i]);
    }
    const T s = static_cast<T>(acc);
    for (int64_t k = 0; k < c; ++k) {
      const int64_t i = base + k * b_size;
      dx[i] = log ? g[i] - dmath::exp(y[i]) * s : y[i] * (g[i] - s);
    }
  }
}

}  // namespace

void launch_softmax(const TensorArg& x, const TensorArg& y, int64_t a, int64_t c, int64_t b, bool log) {
  if (x.numel == 0) return;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const T* px = static_cast<const T*>(x.data);
      T* py = static_cast<T*>(y.data);
      if (b == 1)
        softmax_rows<T><<<row_grid_for(a), row_block_for(c), 0, stream()>>>(px, py, a, c, log);
      else
        softmax_columns<T><<<grid_for(a * b), kBlock, 0, stream()>>>(px, py, a, c, b, log);
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_softmax_backward(const TensorArg& y, const TensorArg& g, const TensorArg& dx, int64_t a, int64_t c,
                             int64_t b, bool log) {
  if (y.numel == 0) return;
  with_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const T* py = static_cast<const T*>(y.data);
      const T* pg = static_cast<const T*>(g.data);
      T* pd = static_cast<T*>(dx.data);
      if (b == 1)
        softmax_backward_rows<T><<<row_grid_for(a), row_block_for(c), 0, stream()>>>(py, pg, pd, a, c, log);
      else
        softmax_backward_columns<T><<<grid_for(a * b), kBlock, 0, stream()>>>(py, pg, pd, a, c, b, log);
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
