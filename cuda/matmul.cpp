// cuda/matmul.cpp — the CUDA matmul (front end: ops/matmul.cpp; CPU twin: ops/cpu/matmul.cpp):
// strided batched GEMM through cuBLAS, no kernel of its own.
//
//   a: (..., M, K) · b: (..., K, N) [+ bias: (N)] → out: (broadcast(...), M, N), contiguous
//
// cuBLAS is column-major; a row-major (M, N) matrix is the column-major (N, M) matrix, so
// out = a·b is computed as outᵀ = bᵀ·aᵀ: cuBLAS's "A" is b and its "B" is a. A row-major operand
// goes in untransposed with its row stride as leading dimension; a transposed view (strides
// (1, ld)) goes in with the transpose flag, as on the CPU. Other layouts are copied first.
//
// Batches, in order of preference (as the CPU kernel):
//   1. one product;
//   2. b shared by every batch entry and a's (..., M) rows one stride apart: fold the batch into
//      M, one GEMM — a Linear on (B, T, C);
//   3. each operand's batch dims collapse to a single stride (0 when broadcast): one
//      strided-batched call;
//   4. otherwise one GEMM per batch entry (each queued on the stream, no host waits).
// The bias is written into every row of out first (launch_copy of the (N) bias expanded to
// (rows, N)), then cuBLAS adds the product onto it with beta = 1.
// TF32: off unless cuda::set_tf32(true) or SIEVE_TF32=1 (cuda/runtime.cpp sets the math mode).
//
// Extend: a half-precision product would call cublasGemmStridedBatchedEx with its own types here.
#include <climits>

#include "cuda/backend.h"
#include "cuda/blas.h"
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"
#include "ops/matmul_layout.h"

namespace sieve::cuda {

namespace {

using matmul_layout::batch_strides;
using GemmOperand = matmul_layout::Matrix;

// The single stride that steps through every batch entry in row-major order, or -1.
int64_t single_batch_stride(const Shape& batch, const Shape& strides) {
  int64_t stride = -1, span = 1;
  for (size_t d = batch.size(); d-- > 0;) {
    if (batch[d] == 1) continue;
    if (stride < 0) {
      stride = strides[d];
    } else if (strides[d] != stride * span) {
      return -1;
    }
    span *= batch[d];
  }
  return stride < 0 ? 0 : stride;
}

cublasOperation_t op_of(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major C (M, N, ldc) := op(A)·op(B) + beta·C for `count` products, the i-th at A + i·sa,
// B + i·sb, C + i·sc.
void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, int64_t sa,
                  const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                  int64_t count) {
  const float one = 1.0f;
  if (count == 1)
    SIEVE_CUBLAS_CHECK(cublasSgemm(blas_handle(), op_of(tb), op_of(ta), static_cast<int>(N), static_cast<int>(M),
                                   static_cast<int>(K), &one, B, static_cast<int>(ldb), A, static_cast<int>(lda), &beta,
                                   C, static_cast<int>(ldc)));
  else
    SIEVE_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_handle(), op_of(tb), op_of(ta), static_cast<int>(N),
                                                 static_cast<int>(M), static_cast<int>(K), &one, B,
                                                 static_cast<int>(ldb), sb, A, static_cast<int>(lda), sa, &beta, C,
                                                 static_cast<int>(ldc), sc, static_cast<int>(count)));
}

void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, int64_t sa,
                  const double* B, int64_t ldb, int64_t sb, double beta, double* C, int64_t ldc, int64_t sc,
                  int64_t count) {
  const double one = 1.0;
  if (count == 1)
    SIEVE_CUBLAS_CHECK(cublasDgemm(blas_handle(), op_of(tb), op_of(ta), static_cast<int>(N), static_cast<int>(M),
                                   static_cast<int>(K), &one, B, static_cast<int>(ldb), A, static_cast<int>(lda), &beta,
                                   C, static_cast<int>(ldc)));
  else
    SIEVE_CUBLAS_CHECK(cublasDgemmStridedBatched(blas_handle(), op_of(tb), op_of(ta), static_cast<int>(N),
                                                 static_cast<int>(M), static_cast<int>(K), &one, B,
                                                 static_cast<int>(ldb), sb, A, static_cast<int>(lda), sa, &beta, C,
                                                 static_cast<int>(ldc), sc, static_cast<int>(count)));
}

// out (viewed as rows × N, contiguous) := the bias in every row.
void fill_bias_rows(const Tensor& bias, const Tensor& out, int64_t rows, int64_t N) {
  TensorArg src = tensor_arg(bias, "matmul");
  src.ndim = 2;
  src.shape[0] = rows;
  src.shape[1] = N;
  src.strides[0] = 0;
  src.strides[1] = bias.stride(0);
  src.numel = rows * N;
  TensorArg dst = tensor_arg(out, "matmul");
  dst.ndim = 2;
  dst.shape[0] = rows;
  dst.shape[1] = N;
  dst.strides[0] = N;
  dst.strides[1] = 1;
  dst.numel = rows * N;
  launch_copy(src, dst);
}

template <typename T>
void matmul_typed(Tensor a, Tensor b, const Tensor& bias, const Tensor& out) {
  const int nd = out.ndim();
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a.shape()[a.ndim() - 1];
  if (out.numel() == 0) return;
  const int64_t rows = out.numel() / N;
  if (bias.defined()) {
    fill_bias_rows(bias, out, rows, N);
  } else if (K == 0) {
    launch_fill(tensor_arg(out, "matmul"), 0.0);
  }
  if (K == 0) return;  // an empty sum: the bias (or zeros) alone
  const T beta = bias.defined() ? T(1) : T(0);
  const GemmOperand la = matmul_layout::of(a);
  const GemmOperand lb = matmul_layout::of(b);
  SIEVE_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && la.ld <= INT_MAX && lb.ld <= INT_MAX,
              "matmul: {} · {} exceeds cuBLAS's 32-bit sizes", a.describe(), b.describe());
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* pc = static_cast<T*>(out.raw_data());

  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const int64_t count = numel_of(batch);
  // 1. One product.
  if (count == 1) {
    gemm_batched(la.trans, lb.trans, M, N, K, pa, la.ld, 0, pb, lb.ld, 0, beta, pc, N, 0, 1);
    return;
  }
  const Shape sa = batch_strides(a, batch), sb = batch_strides(b, batch);
  // 2. b shared: fold the batch into M.
  if (const GemmOperand fa = matmul_layout::batch_folded_into_rows(a, la, batch, sa, sb, M, K); fa.ok) {
    gemm_batched(false, lb.trans, rows, N, K, pa, fa.ld, 0, pb, lb.ld, 0, beta, pc, N, 0, 1);
    return;
  }
  // 3. One strided-batched call.
  const int64_t stride_a = single_batch_stride(batch, sa), stride_b = single_batch_stride(batch, sb);
  if (stride_a >= 0 && stride_b >= 0 && count <= INT_MAX) {
    gemm_batched(la.trans, lb.trans, M, N, K, pa, la.ld, stride_a, pb, lb.ld, stride_b, beta, pc, N, M * N, count);
    return;
  }
  // 4. One product per batch entry.
  for (int64_t i = 0; i < count; ++i) {
    const auto [oa, ob] = matmul_layout::entry_offsets(i, batch, sa, sb);
    gemm_batched(la.trans, lb.trans, M, N, K, pa + oa, la.ld, 0, pb + ob, lb.ld, 0, beta, pc + i * M * N, N, 0, 1);
  }
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  dispatch_float(out.dtype(), Op::matmul, [&]<typename T>() { matmul_typed<T>(a, b, bias, out); });
}

// The bench's reference (backend.h): the one cuBLAS call a hand-written program would make.
void reference_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc) {
  const float one = 1.0f, zero = 0.0f;
  SIEVE_CUBLAS_CHECK(cublasSgemm(blas_handle(), op_of(trans_b), op_of(trans_a), static_cast<int>(N),
                                 static_cast<int>(M), static_cast<int>(K), &one, B, static_cast<int>(ldb), A,
                                 static_cast<int>(lda), &zero, C, static_cast<int>(ldc)));
}

}  // namespace sieve::cuda
