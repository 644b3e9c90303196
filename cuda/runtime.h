// cuda/runtime.h — for files inside cuda/ only: sieve's CUDA stream, and the checks that turn a
// failed CUDA call into a sieve::Error naming the call, the function it was made from and
// CUDA's own error string. Plain enough for nvcc (no fmt, no core/tensor.h).
//
//   SIEVE_CUDA_CHECK(cudaMemsetAsync(p, 0, n, stream()));
//   my_kernel<<<grid, block, 0, stream()>>>(...);
//   SIEVE_CUDA_CHECK_LAUNCH();
//
// Extend: another CUDA library (cuBLAS is in cuda/blas.h) gets its own check macro beside its handle.
#pragma once

#include <cuda_runtime_api.h>

namespace sieve::cuda {

// The one stream every sieve kernel, copy and cuBLAS call is queued on (created on first use,
// after checking that a GPU is visible; throws sieve::Error when none is).
cudaStream_t stream();

// Throws sieve::Error("<where>: <call> failed: <CUDA's message> (<error name>)").
[[noreturn]] void throw_cuda_error(const char* call, const char* where, cudaError_t error);

}  // namespace sieve::cuda

#define SIEVE_CUDA_CHECK(call)                                                             \
  do {                                                                                     \
    const cudaError_t sieve_cuda_error_ = (call);                                          \
    if (sieve_cuda_error_ != cudaSuccess) ::sieve::cuda::throw_cuda_error(#call, __func__, \
                                                                          sieve_cuda_error_); \
  } while (0)

// After a kernel launch: a bad launch configuration shows up here; a fault inside the kernel
// shows up at the next synchronising call, whose check then names that call.
#define SIEVE_CUDA_CHECK_LAUNCH() SIEVE_CUDA_CHECK(cudaGetLastError())
