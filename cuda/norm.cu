// cuda/norm.cu — CUDA kernels of layer_norm and rms_norm over the last dim (front end:
// ops/norm.cpp; CPU twin and the readable reference: ops/cpu/norm.cpp), forward and backward.
//
// Shapes: x, y, g, dx: (R, C) contiguous rows; mean, rstd: (R); weight, bias, dweight, dbias: (C).
// A null weight/bias pointer means "no affine part" (w = 1, b = 0); rms_norm has no mean (null)
// and no centring. Per row (x̂ = (x − μ)·rstd):
//   forward   μ = mean x;  rstd = 1/sqrt(mean (x − μ)² + eps);  y = x̂·w + b
//   backward  a = g·w;  dx = rstd·(a − mean(a) − x̂·mean(a·x̂))     (rms: no mean(a) term)
//             dw = Σ_rows g·x̂;  db = Σ_rows g
// Row statistics: one block per row (cuda/rows.cuh), sums in double, two passes (mean first).
// dw/db are column sums over all rows, done deterministically in two kernels: blocks of columns ×
// chunks of rows write double partials into a scratch buffer (chunk-major), then one thread per
// column adds its chunks in order. No atomics, so every run gives the same bits.
//
// Extend: another last-dim norm is another flag on these kernels.
#include "cuda/launchers.h"
#include "cuda/rows.cuh"

namespace sieve::cuda {

namespace {

template <typename T>
__global__ void norm_forward_rows(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ rstd_out, int64_t rows,
                                  int64_t c, double eps) {
  const bool center = mean_out != nullptr;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    double mean = 0;
    if (center) {
      double s = 0;
      for (int64_t i = threadIdx.x; i < c; i += blockDim.x) s += static_cast<double>(xr[i]);
      mean = block_sum(s) / static_cast<double>(c);
    }
    double ss = 0;
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const double d = static_cast<double>(xr[i]) - mean;
      ss += d * d;
    }
    ss = block_sum(ss);
    const T m = static_cast<T>(mean);
    const T rstd = static_cast<T>(1.0 / ::sqrt(ss / static_cast<double>(c) + eps));
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      T v = (xr[i] - m) * rstd;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
    if (threadIdx.x == 0) {
      if (center) mean_out[r] = m;
      rstd_out[r] = rstd;
    }
  }
}

template <typename T>
__global__ void norm_backward_rows(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ mean,
                                   const T* __restrict__ rstd, const T* __restrict__ g, T* __restrict__ dx,
                                   int64_t rows, int64_t c) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * c;
    const T* gr = g + r * c;
    T* dr = dx + r * c;
    const T m = mean ? mean[r] : T(0), rs = rstd[r];
    double s1 = 0, s2 = 0;  // Σ a and Σ a·x̂
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const T xhat = (xr[i] - m) * rs;
      const T a = w ? gr[i] * w[i] : gr[i];
      s1 += static_cast<double>(a);
      s2 += static_cast<double>(a * xhat);
    }
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    const T c1 = mean ? static_cast<T>(s1 / static_cast<double>(c)) : T(0);
    const T c2 = static_cast<T>(s2 / static_cast<double>(c));
    for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
      const T xhat = (xr[i] - m) * rs;
      const T a = w ? gr[i] * w[i] : gr[i];
      dr[i] = rs * (a - c1 - xhat * c2);
    }
  }
}

// Block (column block, chunk): partial[chunk][0][col] = Σ g·x̂, partial[chunk][1][col] = Σ g over
// the chunk's rows. Threads of a warp take neighbouring columns, so the reads are coalesced.
template <typename T>
__global__ void norm_param_partials(const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ rstd,
                                    const T* __restrict__ g, double* __restrict__ partial, int64_t rows, int64_t c,
                                    int64_t rows_per_chunk) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= c) return;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double sw = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const T gi = g[r * c + col];
    const T xhat = (x[r * c + col] - (mean ? mean[r] : T(0))) * rstd[r];
    sw += static_cast<double>(gi * xhat);
    sb += static_cast<double>(gi);
  }
  partial[chunk * 2 * c + col] = sw;
  partial[chunk * 2 * c + c + col] = sb;
}

template <typename T>
__global__ void norm_param_finish(const double* __restrict__ partial, int64_t chunks, int64_t c, T* __restrict__ dw,
                                  T* __restrict__ db) {
  SIEVE_GRID_STRIDE(col, c) {
    double sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sw += partial[k * 2 * c + col];
      sb += partial[k * 2 * c + c + col];
    }
    if (dw) dw[col] = static_cast<T>(sw);
    if (db) db[col] = static_cast<T>(sb);
  }
}

}  // namespace

int64_t norm_param_chunks(int64_t rows) {
  // About 64 rows per chunk, at most 128 chunks: enough blocks to fill the GPU for a few hundred
  // columns, and few enough partials that the finishing pass stays cheap.
  const int64_t chunks = (rows + 63) / 64;
  return chunks < 1 ? 1 : (chunks > 128 ? 128 : chunks);
}

void launch_norm_forward(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, double eps,
                         const TensorArg& y, const TensorArg& mean, const TensorArg& rstd, int64_t rows, int64_t c) {
  if (rows == 0) return;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      norm_forward_rows<T><<<row_grid_for(rows), row_block_for(c), 0, stream()>>>(
          as_const<T>(x), as_const<T>(weight), as_const<T>(bias), as_mut<T>(y), as_mut<T>(mean), as_mut<T>(rstd), rows,
          c, eps);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_norm_backward(const TensorArg& x, const TensorArg& weight, const TensorArg& mean, const TensorArg& rstd,
                          const TensorArg& g, const TensorArg& dx, const TensorArg& dweight, const TensorArg& dbias,
                          const TensorArg& scratch, int64_t rows, int64_t c) {
  if (c == 0) return;
  const bool params = dweight.data != nullptr || dbias.data != nullptr;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      if (rows > 0)  // with no rows, dweight/dbias still get their zeros below
        norm_backward_rows<T><<<row_grid_for(rows), row_block_for(c), 0, stream()>>>(
            as_const<T>(x), as_const<T>(weight), as_const<T>(mean), as_const<T>(rstd), as_const<T>(g), as_mut<T>(dx),
            rows, c);
      if (params) {
        const int64_t chunks = norm_param_chunks(rows);
        const int64_t per_chunk = (rows + chunks - 1) / chunks;
        const dim3 grid(static_cast<unsigned>((c + kBlock - 1) / kBlock), static_cast<unsigned>(chunks));
        norm_param_partials<T><<<grid, kBlock, 0, stream()>>>(as_const<T>(x), as_const<T>(mean), as_const<T>(rstd),
                                                              as_const<T>(g), as_mut<double>(scratch), rows, c,
                                                              per_chunk);
        norm_param_finish<T><<<grid_for(c), kBlock, 0, stream()>>>(as_const<double>(scratch), chunks, c,
                                                                   as_mut<T>(dweight), as_mut<T>(dbias));
      }
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
