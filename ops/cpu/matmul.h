// ops/cpu/matmul.h — the CPU kernel of the matmul family (ops/matmul.cpp): strided batched GEMM
// through OpenBLAS.
//
// What it is not: shape checking or autograd (the front end does both before calling here).
// Extend: a new BLAS-backed product adds a kernel here with the same layout rules.
#pragma once

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernel, for every backend (ops/kernel_list.h):
//   matmul: out := a · b (+ bias) for a: (..., M, K), b: (..., K, N), bias: (N) or undefined,
//     out: (broadcast(...), M, N), contiguous. The bias is added to every row of out. a and b may
//     have any strides; a matrix whose last two dims are row-major or transposed goes to BLAS as
//     it is (a transpose flag and a leading dimension), anything else is copied first. float32
//     and float64 only (the front end rejects int64).
#define SIEVE_MATMUL_KERNELS(X) \
  X(matmul, (const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out))

namespace sieve::cpu {

SIEVE_MATMUL_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
