// cuda/reduce.cu — CUDA kernels of the reduce family (front end: ops/reduce.cpp; CPU twin:
// ops/cpu/reduce.cpp). So far: sum (with a scale, so mean too), max and min over any set of dims.
// var, argmax, equal_mask and cumsum are still missing (cuda/kernels.h).
//
// Shapes: x is any shape and strides; out is contiguous in keepdim layout (x's shape with the
// reduced dims set to 1), so output element o is the o-th combination of the kept dims.
// One block per output element (a grid-stride loop over outputs): its threads stride through
// the reduced elements, then combine in shared memory. The block is sized to the reduction
// (32 to 256 threads) so short rows do not leave most threads idle. Sums accumulate in double
// (float inputs keep float precision, as on the CPU); a NaN makes max/min NaN, as in PyTorch.
//
// Extend: var is a second pass with the mean; argmax carries (value, index) pairs through the
// same block combine.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

enum class Reduce { sum, max, min };  // == cpu::ReduceKind

constexpr int kMaxReduceBlock = 256;

template <Reduce K, typename T>
struct Acc {
  using type = std::conditional_t<K == Reduce::sum, double, T>;
};

template <Reduce K, typename A>
__device__ __forceinline__ A combine(A a, A b) {
  if constexpr (K == Reduce::sum) {
    return a + b;
  } else {
    if (a != a || b != b) return a != a ? a : b;  // NaN sticks
    if constexpr (K == Reduce::max) return a > b ? a : b;
    return a < b ? a : b;
  }
}

// kept: the kept dims of x (operand: x's strides); reduced: the reduced dims.
template <Reduce K, typename T>
__global__ void reduce_blocks(Layout<1> kept, Layout<1> reduced, const T* __restrict__ x, T* __restrict__ out,
                              int64_t outputs, int64_t count, double scale) {
  using A = typename Acc<K, T>::type;
  __shared__ A partial[kMaxReduceBlock];
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    int64_t base[1];
    kept.offsets(o, base);
    A acc;
    bool have = false;
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      int64_t off[1];
      reduced.offsets(r, off);
      const A v = static_cast<A>(x[base[0] + off[0]]);
      acc = have ? combine<K>(acc, v) : v;
      have = true;
    }
    if (!have) acc = K == Reduce::sum ? A(0) : static_cast<A>(x[base[0]]);  // idle thread: a neutral value
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) partial[threadIdx.x] = combine<K>(partial[threadIdx.x], partial[threadIdx.x + half]);
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const A result = partial[0];
      out[o] = K == Reduce::sum ? static_cast<T>(result * scale) : static_cast<T>(result);
    }
    __syncthreads();  // partial is reused by the next output
  }
}

}  // namespace

void launch_reduce(int kind, const TensorArg& x, const bool* reduced, const TensorArg& out, double scale) {
  const int64_t outputs = out.numel;
  if (outputs == 0) return;
  // Split x's dims into kept and reduced ones, each keeping x's strides.
  int64_t kept_shape[kMaxDims], kept_strides[kMaxDims], red_shape[kMaxDims], red_strides[kMaxDims];
  int nk = 0, nr = 0;
  int64_t count = 1;
  for (int d = 0; d < x.ndim; ++d) {
    if (reduced[d]) {
      red_shape[nr] = x.shape[d];
      red_strides[nr++] = x.strides[d];
      count *= x.shape[d];
    } else {
      kept_shape[nk] = x.shape[d];
      kept_strides[nk++] = x.strides[d];
    }
  }
  const int64_t* ks[1] = {kept_strides};
  const int64_t* rs[1] = {red_strides};
  const Layout<1> kept = make_layout<1>(nk, kept_shape, ks);
  const Layout<1> red = make_layout<1>(nr, red_shape, rs);
  int threads = 32;
  while (threads < kMaxReduceBlock && threads < count) threads *= 2;
  const unsigned blocks = static_cast<unsigned>(outputs < 65536 ? outputs : 65536);
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const T* px = static_cast<const T*>(x.data);
      T* po = static_cast<T*>(out.data);
      switch (static_cast<Reduce>(kind)) {
        case Reduce::sum:
          reduce_blocks<Reduce::sum, T><<<blocks, threads, 0, stream()>>>(kept, red, px, po, outputs, count, scale);
          break;
        case Reduce::max:
          reduce_blocks<Reduce::max, T><<<blocks, threads, 0, stream()>>>(kept, red, px, po, outputs, count, scale);
          break;
        case Reduce::min:
          reduce_blocks<Reduce::min, T><<<blocks, threads, 0, stream()>>>(kept, red, px, po, outputs, count, scale);
          break;
      }
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
