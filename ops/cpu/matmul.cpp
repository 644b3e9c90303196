// ops/cpu/matmul.cpp — batched, strided GEMM on OpenBLAS (cblas_sgemm / cblas_dgemm).
//
// Every (M, K) matrix of a and (K, N) matrix of b is described to BLAS by a transpose flag and a
// leading dimension read off its strides, so a transposed view (strides (1, ld)) costs nothing.
// Only a layout BLAS cannot express (both strides ≠ 1, a broadcast row, ...) is copied first.
//
// Batches, in order of preference:
//   1. one product (no batch, or every batch dim has size 1);
//   2. b shared by the whole batch and a's (..., M) dims collapsible into one: fold the batch into
//      M and make a single big GEMM — (B·T, C)·(C, D) for a Linear on (B, T, C);
//   3. a loop over the broadcast batch, reading each input at its own batch strides (0 where it
//      is broadcast).
// Threads: sieve makes every threading decision itself and calls OpenBLAS single-threaded
// (SingleThreadedBlas, ops/cpu/threads.h): OpenBLAS's own threading gives other bits on another thread
// count, and the thread count that runs now follows the machine's load, so results could not stay
// the same under load. Many or small products in a batch run one per thread; a few large ones
// one at a time, each cut by split_gemm.
// Threads in one product (cases 1 and 2): OpenBLAS 0.3.21's own threading hardly sped up the
// skinny products a transformer makes — a Linear's (B·T, 64)·(64, 192), its backward's (B·T, 192)·
// (192, 64) and weight gradient (64, B·T)·(B·T, 192) ran 1.0–1.4× faster on 2 threads than on one,
// measured on this project's 2-core machine. split_gemm cuts a product into one single-threaded
// call per piece, each at a core's full speed (1.7–1.9× on 2 threads): blocks of about 256 rows of
// C when M is long (a block of C stays in L2 between BLAS's zeroing pass and its kernel), slices
// of K with per-slice partial products added afterwards when K is the long dim and C small, else
// blocks of columns; small products are one call, where one call beats a region.
//
// The optional bias (N) is written into each piece of C just before BLAS adds the product onto it
// (beta = 1); the K slices add it with their partial sums (fill_bias below).
//
// What it is not: checks or autograd (ops/matmul.cpp). Extend: another BLAS type adds a gemm()
// overload below.
#include "ops/cpu/matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "ops/cpu/threads.h"
#include "ops/dispatch.h"
#include "ops/matmul_layout.h"

namespace sieve::cpu {

namespace {

using matmul_layout::batch_strides;
using BlasMatrix = matmul_layout::Matrix;

// C := op(A)·op(B) + beta·C; beta is 0 (C is overwritten, its old values never read) or 1.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  const SingleThreadedBlas one_thread;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), 1.0f, A, static_cast<int>(lda), B, static_cast<int>(ldb),
              beta, C, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
          int64_t ldb, double beta, double* C, int64_t ldc) {
  const SingleThreadedBlas one_thread;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), 1.0, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

// The bias (nullptr: none). It is added without a pass of its own: each row of C is set to the
// bias, then BLAS adds the product onto it (beta = 1). With beta = 0 BLAS would have spent that
// same pass zeroing C, so writing the bias rows instead costs nothing extra, and a row block of C
// is filled just before its own BLAS call, while it is in cache. (Measured on the ViT step, one
// thread: 21 ms of matmul forward per step this way, 24 ms adding the bias after each BLAS call.)
template <typename T>
void fill_bias(const T* bias, int64_t rows, int64_t N, T* C, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) std::memcpy(C + i * ldc, bias, static_cast<size_t>(N) * sizeof(T));
}

// C := op(A)·op(B) (+ bias in every row), one BLAS call.
template <typename T>
void gemm_bias(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
               const T* bias, T* C, int64_t ldc) {
  if (bias) fill_bias(bias, M, N, C, ldc);
  gemm(ta, tb, M, N, K, A, lda, B, ldb, bias ? T(1) : T(0), C, ldc);
}

// Where row `row` of op(X) starts in a BLAS operand stored with transpose flag t and leading
// dimension ld (element (i, j) of op(X) at i·ld + j, or at i + j·ld when t). A column of op(X) is
// a row of op(X)ᵀ: row_offset(!t, ...).
inline int64_t row_offset(bool t, int64_t row, int64_t ld) { return t ? row : row * ld; }

constexpr double kSmallProduct = 128.0 * 128.0 * 128.0;  // M·N·K below which one call beats a region
constexpr int64_t kBlockRows = 256;      // rows of C per single-threaded call
constexpr int64_t kMinSliceK = 1024;     // K per slice before slicing K pays for the partial sums
constexpr int64_t kSliceMaxC = 1024 * 1024 / 4;  // elements of C up to which K slices are worth their adds
constexpr int64_t kMinBlockColumns = 16;  // columns of C per call, at least (one AVX-512 vector)

// C (M, N) := op(A)·op(B) (+ bias), cut into single-threaded BLAS calls over the OpenMP threads
// (see the file comment): row blocks when M is long, K slices when K is long and C small, column
// blocks otherwise, one call when the product is small. The pieces are fixed by the thread
// ceiling alone (ops/cpu/threads.h), never by how many threads run now, so a result is the same
// from run to run and under any load for the same --threads.
template <typename T>
void split_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                int64_t ldb, const T* bias, T* C, int64_t ldc) {
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const int64_t threads = omp_in_parallel() || work < kSmallProduct ? 1 : thread_ceiling();
  if (threads > 1 && M >= threads * kBlockRows) {
    // Row blocks, a multiple of the thread count so the static schedule gives each thread as many.
    const int64_t blocks = threads * ((M + threads * kBlockRows - 1) / (threads * kBlockRows));
    const int64_t rows = (M + blocks - 1) / blocks;
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t m0 = blk * rows, m = std::min(rows, M - m0);
      if (m > 0) gemm_bias(ta, tb, m, N, K, A + row_offset(ta, m0, lda), lda, B, ldb, bias, C + m0 * ldc, ldc);
    }
    return;
  }
  if (threads > 1 && K >= threads * kMinSliceK && M * N <= kSliceMaxC) {
    // K slices, one per thread of the ceiling: slice 0 writes C, the others a partial product
    // each; then C += Σ partials in slice order (+ bias).
    const int64_t n = threads;
    std::vector<T> partials(static_cast<size_t>((n - 1) * M * N));
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < n; ++t) {
        const int64_t k0 = K * t / n, k1 = K * (t + 1) / n;
        T* out = t == 0 ? C : partials.data() + (t - 1) * M * N;
        gemm(ta, tb, M, N, k1 - k0, A + row_offset(!ta, k0, lda), lda, B + row_offset(tb, k0, ldb), ldb, T(0), out,
             t == 0 ? ldc : N);
      }  // the loop's barrier: every slice is done
#pragma omp for schedule(static)
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t u = 1; u < n; ++u) {
          const T* part = partials.data() + (u - 1) * M * N + i * N;
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += part[j];
        }
        if (bias) {
#pragma omp simd
          for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += bias[j];
        }
      }
    }
    return;
  }
  if (threads > 1 && N >= threads * kMinBlockColumns) {
    // Column blocks: C[:, j0:j1] = op(A)·op(B)[:, j0:j1], one per thread of the ceiling, their
    // widths multiples of kMinBlockColumns. A column of op(B) is a row of op(B)ᵀ.
    const int64_t vectors = (N + kMinBlockColumns - 1) / kMinBlockColumns;
    const int64_t width = (vectors + threads - 1) / threads * kMinBlockColumns;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < threads; ++t) {
      const int64_t j0 = t * width, n = std::min(width, N - j0);
      if (n > 0)
        gemm_bias(ta, tb, M, n, K, A, lda, B + row_offset(!tb, j0, ldb), ldb, bias ? bias + j0 : nullptr, C + j0,
                  ldc);
    }
    return;
  }
  gemm_bias(ta, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
}

template <typename T>
void matmul_typed(Tensor a, Tensor b, const Tensor& bias_tensor, const Tensor& out) {
  const int nd = out.ndim();
  const int64_t M = out.shape()[nd - 2], N = out.shape()[nd - 1], K = a.shape()[a.ndim() - 1];
  if (out.numel() == 0) return;
  T* c = out.data<T>();
  // bias: N values read with stride 1 (a strided bias view is copied; a Linear's never is).
  const Tensor bias_c = bias_tensor.defined() ? bias_tensor.detach().contiguous() : Tensor();
  const T* bias = bias_c.defined() ? bias_c.data<T>() : nullptr;
  if (K == 0) {  // an empty sum: the bias alone
    if (bias) {
      fill_bias(bias, out.numel() / N, N, c, N);
    } else {
      std::memset(c, 0, static_cast<size_t>(out.numel()) * sizeof(T));
    }
    return;
  }
  const BlasMatrix la = matmul_layout::of(a);
  const BlasMatrix lb = matmul_layout::of(b);
  SIEVE_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && la.ld <= INT_MAX && lb.ld <= INT_MAX,
              "matmul: {} · {} exceeds BLAS's 32-bit sizes", a.describe(), b.describe());

  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const int64_t count = numel_of(batch);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();

  // 1. One product: split_gemm (a small one goes straight to BLAS, no OpenMP region: entering one
  // costs about a microsecond).
  if (count == 1) {
    split_gemm(la.trans, lb.trans, M, N, K, pa, la.ld, pb, lb.ld, bias, c, N);
    return;
  }

  // 2. b shared by every batch entry: fold the batch into M when a's rows line up.
  const Shape sa = batch_strides(a, batch), sb = batch_strides(b, batch);
  if (const BlasMatrix fa = matmul_layout::batch_folded_into_rows(a, la, batch, sa, sb, M, K); fa.ok) {
    split_gemm(false, lb.trans, count * M, N, K, pa, fa.ld, pb, lb.ld, bias, c, N);
    return;
  }

  // 3. One product per batch entry: many or small ones one per thread, a few large ones one at a
  // time, each cut by split_gemm.
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const int threads = thread_ceiling();
  const bool over_batch = threads > 1 && (work < kSmallProduct || count >= 4 * threads);
  if (!over_batch) {
    for (int64_t i = 0; i < count; ++i) {
      const auto [oa, ob] = matmul_layout::entry_offsets(i, batch, sa, sb);
      split_gemm(la.trans, lb.trans, M, N, K, pa + oa, la.ld, pb + ob, lb.ld, bias, c + i * M * N, N);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    const auto [oa, ob] = matmul_layout::entry_offsets(i, batch, sa, sb);
    gemm_bias(la.trans, lb.trans, M, N, K, pa + oa, la.ld, pb + ob, lb.ld, bias, c + i * M * N, N);
  }
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  dispatch_float(out.dtype(), Op::matmul, [&]<typename T>() { matmul_typed<T>(a, b, bias, out); });
}

}  // namespace sieve::cpu
