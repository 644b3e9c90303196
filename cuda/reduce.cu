// cuda/reduce.cu — CUDA kernels of the reduce family (front end: ops/reduce.cpp; CPU twin:
// ops/cpu/reduce.cpp): sum (with a scale, so mean too), max, min and var over any set of dims;
// argmax along one dim; equal_mask (the ties behind max/min's backward); cumsum.
//
// Shapes: x is any shape and strides; out is contiguous in keepdim layout (x's shape with the
// reduced dims set to 1), so output element o is the o-th combination of the kept dims.
// One block per output element (a grid-stride loop over outputs): its threads stride through
// the reduced elements, then combine in shared memory. The block is sized to the reduction
// (32 to 256 threads) so short rows do not leave most threads idle. Sums accumulate in double
// (float inputs keep float precision, as on the CPU); a NaN makes max/min NaN, as in PyTorch.
//
// var is the same block loop run twice: the mean first, then Σ (x − mean)², both in double.
// argmax is one thread per output scanning its row in order (as the CPU does, so the first
// maximum and the first NaN win); cumsum is one thread per (a, b) column of the contiguous
// (A, N, B) view, a running sum in double; equal_mask is elementwise.
//
// Extend: a new reduction over dims reuses split_dims and the block loop of reduce_blocks.
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

// var of the reduced elements of each output: block pass 1 sums for the mean, pass 2 sums the
// squared deviations from it (two passes, accurate even when |mean| ≫ spread).
template <typename T>
__global__ void var_blocks(Layout<1> kept, Layout<1> reduced, const T* __restrict__ x, T* __restrict__ out,
                           int64_t outputs, int64_t count, double correction) {
  __shared__ double partial[kMaxReduceBlock];
  // Σ over the block's threads of v, left in partial[0] (every thread reads it after).
  auto block_total = [&](double v) {
    partial[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
      __syncthreads();
    }
    const double total = partial[0];
    __syncthreads();  // partial is reused by the next call
    return total;
  };
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    int64_t base[1];
    kept.offsets(o, base);
    double s = 0;
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      int64_t off[1];
      reduced.offsets(r, off);
      s += static_cast<double>(x[base[0] + off[0]]);
    }
    const double mean = count > 0 ? block_total(s) / static_cast<double>(count) : 0.0;
    double m2 = 0;
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      int64_t off[1];
      reduced.offsets(r, off);
      const double d = static_cast<double>(x[base[0] + off[0]]) - mean;
      m2 += d * d;
    }
    m2 = block_total(m2);
    if (threadIdx.x == 0) {
      const double denom = static_cast<double>(count) - correction;
      out[o] = static_cast<T>(m2 / (denom > 0 ? denom : 0.0));
    }
  }
}

// out[o] := index of the first maximum along the dim (a NaN counts as the maximum: the first wins).
template <typename T>
__global__ void argmax_threads(Layout<1> kept, const T* __restrict__ x, int64_t* __restrict__ out, int64_t outputs,
                               int64_t n, int64_t stride) {
  SIEVE_GRID_STRIDE(o, outputs) {
    int64_t base[1];
    kept.offsets(o, base);
    const T* p = x + base[0];
    T best = p[0];
    int64_t at = 0;
    for (int64_t j = 1; j < n && best == best; ++j) {
      const T v = p[j * stride];
      if (v > best || v != v) {
        best = v;
        at = j;
      }
    }
    out[o] = at;
  }
}

// Operands: 0 out, 1 x, 2 value (x's shape, stride 0 along the reduced dims).
template <typename T>
__global__ void equal_mask_flat(Layout<3> layout, T* __restrict__ out, const T* __restrict__ x,
                                const T* __restrict__ value, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[3];
    layout.offsets(i, off);
    const T a = x[off[1]], b = value[off[2]];
    out[off[0]] = (a == b || (a != a && b != b)) ? T(1) : T(0);
  }
}

// One thread per (a, b) column of the contiguous (A, N, B) view; reverse runs from the end.
template <typename T>
__global__ void cumsum_columns(const T* __restrict__ x, T* __restrict__ out, int64_t a_size, int64_t n,
                               int64_t b_size, bool reverse) {
  SIEVE_GRID_STRIDE(col, a_size * b_size) {
    const int64_t base = (col / b_size) * n * b_size + col % b_size;
    double acc = 0.0;  // double: a long running sum of floats stays exact to float precision
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = base + (reverse ? n - 1 - k : k) * b_size;
      acc += static_cast<double>(x[i]);
      out[i] = static_cast<T>(acc);
    }
  }
}

// x's dims split into kept and reduced ones (each keeping x's strides), dims merged where possible.
struct Split {
  Layout<1> kept, reduced;
  int64_t count = 1;  // elements reduced into each output
};

Split split_dims(const TensorArg& x, const bool* reduced) {
  int64_t kept_shape[kMaxDims], kept_strides[kMaxDims], red_shape[kMaxDims], red_strides[kMaxDims];
  int nk = 0, nr = 0;
  Split split;
  for (int d = 0; d < x.ndim; ++d) {
    if (reduced[d]) {
      red_shape[nr] = x.shape[d];
      red_strides[nr++] = x.strides[d];
      split.count *= x.shape[d];
    } else {
      kept_shape[nk] = x.shape[d];
      kept_strides[nk++] = x.strides[d];
    }
  }
  const int64_t* ks[1] = {kept_strides};
  const int64_t* rs[1] = {red_strides};
  split.kept = make_layout<1>(nk, kept_shape, ks);
  split.reduced = make_layout<1>(nr, red_shape, rs);
  return split;
}

// Threads per block for `count` reduced elements: 32 to kMaxReduceBlock, a power of two.
int reduce_threads(int64_t count) {
  int threads = 32;
  while (threads < kMaxReduceBlock && threads < count) threads *= 2;
  return threads;
}

unsigned output_blocks(int64_t outputs) { return static_cast<unsigned>(outputs < 65536 ? outputs : 65536); }

template <typename F>
void with_float(DType dtype, F&& f) {
  with_dtype(dtype, [&](auto tag) {
    if constexpr (!std::is_integral_v<decltype(tag)>) f(tag);
  });
}

}  // namespace

void launch_reduce(int kind, const TensorArg& x, const bool* reduced, const TensorArg& out, double scale) {
  const int64_t outputs = out.numel;
  if (outputs == 0) return;
  const Split sp = split_dims(x, reduced);
  const int threads = reduce_threads(sp.count);
  const unsigned blocks = output_blocks(outputs);
  with_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.data);
    T* po = static_cast<T*>(out.data);
    switch (static_cast<Reduce>(kind)) {
      case Reduce::sum:
        reduce_blocks<Reduce::sum, T><<<blocks, threads, 0, stream()>>>(sp.kept, sp.reduced, px, po, outputs, sp.count, scale);
        break;
      case Reduce::max:
        reduce_blocks<Reduce::max, T><<<blocks, threads, 0, stream()>>>(sp.kept, sp.reduced, px, po, outputs, sp.count, scale);
        break;
      case Reduce::min:
        reduce_blocks<Reduce::min, T><<<blocks, threads, 0, stream()>>>(sp.kept, sp.reduced, px, po, outputs, sp.count, scale);
        break;
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_var(const TensorArg& x, const bool* reduced, int64_t correction, const TensorArg& out) {
  const int64_t outputs = out.numel;
  if (outputs == 0) return;
  const Split sp = split_dims(x, reduced);
  with_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    var_blocks<T><<<output_blocks(outputs), reduce_threads(sp.count), 0, stream()>>>(
        sp.kept, sp.reduced, static_cast<const T*>(x.data), static_cast<T*>(out.data), outputs, sp.count,
        static_cast<double>(correction));
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_argmax(const TensorArg& x, int dim, const TensorArg& out) {
  const int64_t outputs = out.numel;
  if (outputs == 0) return;
  bool flags[kMaxDims] = {};
  if (x.ndim > 0) flags[dim] = true;
  const Split sp = split_dims(x, flags);
  const int64_t n = x.ndim > 0 ? x.shape[dim] : 1;
  const int64_t stride = x.ndim > 0 ? x.strides[dim] : 1;
  with_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    argmax_threads<T><<<grid_for(outputs), kBlock, 0, stream()>>>(sp.kept, static_cast<const T*>(x.data),
                                                                  static_cast<int64_t*>(out.data), outputs, n, stride);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_equal_mask(const TensorArg& x, const TensorArg& value, const TensorArg& out) {
  if (out.numel == 0) return;
  const int64_t* strides[3] = {out.strides, x.strides, value.strides};
  const Layout<3> layout = make_layout<3>(out.ndim, out.shape, strides);
  with_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    equal_mask_flat<T><<<grid_for(out.numel), kBlock, 0, stream()>>>(
        layout, static_cast<T*>(out.data), static_cast<const T*>(x.data), static_cast<const T*>(value.data), out.numel);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_cumsum(const TensorArg& x, int dim, bool reverse, const TensorArg& out) {
  if (x.numel == 0) return;
  int64_t a_size = 1, b_size = 1;
  const int64_t n = x.ndim > 0 ? x.shape[dim] : 1;
  for (int d = 0; d < x.ndim; ++d) {
    if (d < dim) a_size *= x.shape[d];
    if (d > dim) b_size *= x.shape[d];
  }
  with_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cumsum_columns<T><<<grid_for(a_size * b_size), kBlock, 0, stream()>>>(
        static_cast<const T*>(x.data), static_cast<T*>(out.data), a_size, n, b_size, reverse);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
