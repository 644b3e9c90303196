// cuda/dropout.cu — the CUDA kernel of dropout (front end: ops/dropout.cpp; CPU twin and the
// readable reference: ops/cpu/dropout.cpp), with a device copy of Philox4x32-10.
//
// Shapes: x: any shape and strides → out: x's shape, contiguous; element i counts x's elements
// in row-major order. Element i is kept iff uniform(philox(seed, first + i / 4)[i % 4]) ≥ p, and
// a kept value is multiplied by scale = 1 / (1 − p) (computed once on the host, as the CPU does).
// One thread per Philox counter: it makes the four words once and writes elements 4q … 4q + 3,
// so neighbouring threads write neighbouring 4-element groups (coalesced).
//
// Bit-identical to the CPU: philox_words and uniform_from_word are the CPU's own functions
// (core/philox.h, compiled for the device here); the comparison is in double and the scaling one
// multiply in T, as on the CPU. tests/cuda/test_cuda_dropout.cpp compares the masks bit for bit.
//
// Extend: another Philox consumer (random tensors on the device, drop path) calls philox_words.
#include "core/philox.h"
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

// layout: x's shape with x's strides (one stride-1 dim when x is contiguous); out contiguous.
template <typename T>
__global__ void dropout_kernel(Layout<1> layout, const T* __restrict__ x, T* __restrict__ out, int64_t n, double p,
                               double scale, uint64_t seed, uint64_t first) {
  const T s = static_cast<T>(scale);
  SIEVE_GRID_STRIDE(q, (n + 3) / 4) {
    const PhiloxWords words = philox_words(seed, first + static_cast<uint64_t>(q));
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t i = 4 * q + r;
      if (i >= n) break;
      int64_t off[1];
      layout.offsets(i, off);
      out[i] = uniform_from_word(words.w[r]) >= p ? x[off[0]] * s : T(0);
    }
  }
}

}  // namespace

void launch_dropout(const TensorArg& x, const TensorArg& out, double p, double scale, uint64_t seed, uint64_t first) {
  const int64_t n = x.numel;
  if (n == 0) return;
  const int64_t* strides[1] = {x.strides};
  const Layout<1> layout = make_layout<1>(x.ndim, x.shape, strides);
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      dropout_kernel<T><<<grid_for((n + 3) / 4), kBlock, 0, stream()>>>(
          layout, static_cast<const T*>(x.data), static_cast<T*>(out.data), n, p, scale, seed, first);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
