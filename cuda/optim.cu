// cuda/optim.cu — CUDA kernels of the fused optimizer updates (front end: ops/optim.cpp; CPU twin
// and the readable reference: ops/cpu/optim.cpp): AdamW/Adam and SGD with momentum.
//
// One launch per parameter tensor (w, g and the state are contiguous, n elements each). The
// per-tensor scalars (bias corrections, step size, decay) come in as doubles computed on the host
// exactly as the CPU computes them, and are cast to T once, so both backends use the same numbers:
//   AdamW  g' = g + l2·w;  m = β1·m + (1 − β1)·g';  v = β2·v + (1 − β2)·g'²
//          w = w·decay − step_size·m / (sqrt(v)·inv_bc2_sqrt + eps)
//   SGD    d = g + wd·w;  b = init ? d : μ·b + (1 − dampening)·d;  w −= lr·(nesterov ? d + μ·b : b)
//
// Extend: another optimizer is another flat kernel with its scalars in a struct like AdamScalars.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

template <typename T>
__global__ void adamw_flat(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, int64_t n,
                           AdamScalars s) {
  const T decay = static_cast<T>(s.decay), l2 = static_cast<T>(s.l2);
  const T b1 = static_cast<T>(s.beta1), b2 = static_cast<T>(s.beta2);
  const T step_size = static_cast<T>(s.step_size), inv_bc2_sqrt = static_cast<T>(s.inv_bc2_sqrt);
  const T eps = static_cast<T>(s.eps);
  SIEVE_GRID_STRIDE(i, n) {
    const T gi = g[i] + l2 * w[i];
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * decay - step_size * mi / (dmath::sqrt(vi) * inv_bc2_sqrt + eps);
  }
}

template <typename T>
__global__ void sgd_flat(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ buf, int64_t n, SgdScalars s) {
  const T lr = static_cast<T>(s.lr), wd = static_cast<T>(s.weight_decay);
  const T mu = static_cast<T>(s.momentum), take = static_cast<T>(1.0 - s.dampening);
  SIEVE_GRID_STRIDE(i, n) {
    const T d = g[i] + wd * w[i];
    if (buf == nullptr) {  // no momentum
      w[i] -= lr * d;
      continue;
    }
    // A select, not 0·b, so an uninitialised buffer cannot leak a NaN on the first step.
    const T bi = s.init_buffer ? d : mu * buf[i] + take * d;
    buf[i] = bi;
    w[i] -= lr * (s.nesterov ? d + mu * bi : bi);
  }
}

}  // namespace

void launch_adamw(const TensorArg& w, const TensorArg& g, const TensorArg& m, const TensorArg& v,
                  const AdamScalars& scalars) {
  if (w.numel == 0) return;
  with_dtype(w.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      adamw_flat<T><<<grid_for(w.numel), kBlock, 0, stream()>>>(static_cast<T*>(w.data), static_cast<const T*>(g.data),
                                                                static_cast<T*>(m.data), static_cast<T*>(v.data),
                                                                w.numel, scalars);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_sgd(const TensorArg& w, const TensorArg& g, const TensorArg& buf, const SgdScalars& scalars) {
  if (w.numel == 0) return;
  with_dtype(w.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      sgd_flat<T><<<grid_for(w.numel), kBlock, 0, stream()>>>(static_cast<T*>(w.data), static_cast<const T*>(g.data),
                                                              static_cast<T*>(buf.data), w.numel, scalars);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
