// cuda/loops.cuh — what every .cu file in cuda/ shares: the launch shape of an elementwise grid,
// the grid-stride loop, the dtype switch for launchers, and float/double overloads of the math
// functions so one templated formula serves both precisions.
//
// Kernels are written as grid-stride loops: a capped grid whose threads each step through the
// elements by the grid's size, so one launch shape serves every size and no index overflows.
//
// Extend: a math function a new kernel needs gets its float/double pair in namespace dmath.
#pragma once

#include <cstdint>

#include "cuda/runtime.h"
#include "cuda/tensor_arg.h"

namespace sieve::cuda {

constexpr int kBlock = 256;          // threads per block of an elementwise kernel
constexpr int64_t kMaxBlocks = 8192;  // 132 SMs × 2048 threads is ~1056 blocks; a few waves more hide tails

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

#define SIEVE_GRID_STRIDE(i, n)                                                          \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Calls f(T{}) with T the C++ type of dtype (the caller writes `using T = decltype(tag);`).
template <typename F>
void with_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i64: f(int64_t{}); return;
  }
}

namespace dmath {
__host__ __device__ inline float exp(float x) { return ::expf(x); }
__host__ __device__ inline double exp(double x) { return ::exp(x); }
__host__ __device__ inline float log(float x) { return ::logf(x); }
__host__ __device__ inline double log(double x) { return ::log(x); }
__host__ __device__ inline float log1p(float x) { return ::log1pf(x); }
__host__ __device__ inline double log1p(double x) { return ::log1p(x); }
__host__ __device__ inline float sqrt(float x) { return ::sqrtf(x); }
__host__ __device__ inline double sqrt(double x) { return ::sqrt(x); }
__host__ __device__ inline float pow(float x, float y) { return ::powf(x, y); }
__host__ __device__ inline double pow(double x, double y) { return ::pow(x, y); }
__host__ __device__ inline float abs(float x) { return ::fabsf(x); }
__host__ __device__ inline double abs(double x) { return ::fabs(x); }
__host__ __device__ inline float tanh(float x) { return ::tanhf(x); }
__host__ __device__ inline double tanh(double x) { return ::tanh(x); }
__host__ __device__ inline float erfc(float x) { return ::erfcf(x); }
__host__ __device__ inline double erfc(double x) { return ::erfc(x); }
}  // namespace dmath

// CUDA's Math policy for the formulas both backends share (ops/elementwise_math.h): the accurate
// library functions in float and double, host-callable too so the shared formulas may be
// SIEVE_HOST_DEVICE. softplus as max(x, 0) + log1p(exp(−|x|)), which never overflows.
struct DeviceMath {
  template <typename T> __host__ __device__ static T exp(T x) { return dmath::exp(x); }
  template <typename T> __host__ __device__ static T log(T x) { return dmath::log(x); }
  template <typename T> __host__ __device__ static T sqrt(T x) { return dmath::sqrt(x); }
  template <typename T> __host__ __device__ static T pow(T x, T e) { return dmath::pow(x, e); }
  template <typename T> __host__ __device__ static T abs(T x) { return dmath::abs(x); }
  template <typename T> __host__ __device__ static T tanh(T x) { return dmath::tanh(x); }
  template <typename T> __host__ __device__ static T normal_cdf(T x) {
    return T(0.5) * dmath::erfc(-x * T(0.70710678118654752440));  // Φ(x) = erfc(−x/√2) / 2
  }
  template <typename T> __host__ __device__ static T gelu(T x) { return x * normal_cdf(x); }
  template <typename T> __host__ __device__ static T softplus(T x) {
    return (x > T(0) ? x : T(0)) + dmath::log1p(dmath::exp(-dmath::abs(x)));
  }
};

// A TensorArg's data as T, read-only or writable (the launchers' dtype switch picked T).
template <typename T>
const T* as_const(const TensorArg& t) {
  return static_cast<const T*>(t.data);
}

template <typename T>
T* as_mut(const TensorArg& t) {
  return static_cast<T*>(t.data);
}

}  // namespace sieve::cuda
