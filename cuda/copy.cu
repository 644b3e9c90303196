// cuda/copy.cu — CUDA kernels of the copy family (front end: ops/copy.cpp; CPU twin:
// ops/cpu/copy.cpp): strided copy with dtype conversion, and fill.
//
// Shapes: dst is any shape of up to kMaxDims dims; src has dst's shape (a broadcast source
// arrives with stride 0 along its expanded dims). Each element is read at src's strides,
// converted, and written at dst's. A plain same-dtype copy between contiguous tensors is one
// cudaMemcpyAsync; contiguous conversions and fills take a flat loop without index arithmetic.
//
// Kernels first, launchers after (declared in cuda/launchers.h; called by cuda/copy.cpp and by
// cuda/matmul.cpp, which fills its output with the bias rows through launch_copy).
// Extend: a new dtype is a case of with_dtype (cuda/loops.cuh).
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

// ---------------------------------------------------------------- kernels

template <typename S, typename D>
__global__ void copy_flat(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) dst[i] = static_cast<D>(src[i]);
}

// layout operand 0: dst, operand 1: src.
template <typename S, typename D>
__global__ void copy_strided(Layout<2> layout, const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[2];
    layout.offsets(i, off);
    dst[off[0]] = static_cast<D>(src[off[1]]);
  }
}

template <typename T>
__global__ void fill_flat(T* __restrict__ dst, T value, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) dst[i] = value;
}

template <typename T>
__global__ void fill_strided(Layout<1> layout, T* __restrict__ dst, T value, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[1];
    layout.offsets(i, off);
    dst[off[0]] = value;
  }
}

}  // namespace

// ---------------------------------------------------------------- launchers

void launch_copy(const TensorArg& src, const TensorArg& dst) {
  const int64_t n = dst.numel;
  if (n == 0) return;
  const int64_t* strides[2] = {dst.strides, src.strides};
  const Layout<2> layout = make_layout<2>(dst.ndim, dst.shape, strides);
  const bool flat = layout.ndim <= 1 && (layout.ndim == 0 || (layout.strides[0][0] == 1 && layout.strides[1][0] == 1));
  if (flat && src.dtype == dst.dtype) {
    SIEVE_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, static_cast<size_t>(n) * dtype_size(dst.dtype),
                                     cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  with_dtype(src.dtype, [&](auto s_tag) {
    using S = decltype(s_tag);
    with_dtype(dst.dtype, [&](auto d_tag) {
      using D = decltype(d_tag);
      const S* s = static_cast<const S*>(src.data);
      D* d = static_cast<D*>(dst.data);
      if (flat)
        copy_flat<S, D><<<grid_for(n), kBlock, 0, stream()>>>(s, d, n);
      else
        copy_strided<S, D><<<grid_for(n), kBlock, 0, stream()>>>(layout, s, d, n);
    });
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_fill(const TensorArg& dst, double value) {
  const int64_t n = dst.numel;
  if (n == 0) return;
  const int64_t* strides[1] = {dst.strides};
  const Layout<1> layout = make_layout<1>(dst.ndim, dst.shape, strides);
  const bool flat = layout.ndim == 0 || (layout.ndim == 1 && layout.strides[0][0] == 1);
  with_dtype(dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(dst.data);
    const T v = static_cast<T>(value);
    if (flat)
      fill_flat<T><<<grid_for(n), kBlock, 0, stream()>>>(d, v, n);
    else
      fill_strided<T><<<grid_for(n), kBlock, 0, stream()>>>(layout, d, v, n);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
