// cuda/optim.cu — CUDA kernels of the fused optimizer updates (front end: ops/optim.cpp; CPU twin
// and the readable reference: ops/cpu/optim.cpp): AdamW/Adam and SGD with momentum.
//
// One launch per parameter tensor (w, g and the state are contiguous, n elements each). The
// per-tensor scalars (bias corrections, step size, decay) come in as doubles computed on the host
// exactly as the CPU computes them, and are cast to T once (ops/optim_math.h's *Coefficients);
// every element then runs the CPU's own update (adam_update, sgd_update, sgd_momentum_update).
//
// Extend: another optimizer is another flat kernel around its formula in ops/optim_math.h.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

template <typename T>
__global__ void adamw_flat(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, int64_t n,
                           AdamScalars s) {
  const AdamCoefficients<T> c(s);
  SIEVE_GRID_STRIDE(i, n) adam_update<DeviceMath>(w[i], g[i], m[i], v[i], c);
}

template <typename T>
__global__ void sgd_flat(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ buf, int64_t n, SgdScalars s) {
  const SgdCoefficients<T> c(s);
  SIEVE_GRID_STRIDE(i, n) {
    if (buf == nullptr)  // no momentum
      sgd_update(w[i], g[i], c);
    else
      sgd_momentum_update(w[i], g[i], buf[i], c);
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
