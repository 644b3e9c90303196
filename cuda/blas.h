// cuda/blas.h — for files inside cuda/ only: the cuBLAS handle (bound to sieve's stream, TF32 as
// cuda::set_tf32 says) and the check that turns a cuBLAS status into a sieve::Error.
//
// Extend: another cuBLAS-backed op includes this and calls blas_handle().
#pragma once

#include <cublas_v2.h>

#include "cuda/runtime.h"

namespace sieve::cuda {

cublasHandle_t blas_handle();

[[noreturn]] void throw_cublas_error(const char* call, const char* where, cublasStatus_t status);

}  // namespace sieve::cuda

#define SIEVE_CUBLAS_CHECK(call)                                                                  \
  do {                                                                                            \
    const cublasStatus_t sieve_cublas_status_ = (call);                                           \
    if (sieve_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                            \
      ::sieve::cuda::throw_cublas_error(#call, __func__, sieve_cublas_status_);                   \
  } while (0)
