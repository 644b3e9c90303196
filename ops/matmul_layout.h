// ops/matmul_layout.h — how a BLAS-style library (OpenBLAS on CPU, cuBLAS on CUDA) reads the
// operands of matmul: one strided matrix as (transposed?, leading dimension), batch strides with
// broadcasting, and whether a's batch dims fold into its rows (one big GEMM instead of a batch).
//
// Both backends' matmul kernels use these, so they agree on which layouts are read in place and
// which are copied first. Pure index arithmetic: no BLAS or CUDA here.
//
// Extend: a layout rule changes here once, for both backends; tests/ops/test_matmul.cpp runs its
// layout cases on every device.
#pragma once

#include <climits>
#include <cstdint>
#include <utility>

#include "core/tensor.h"

namespace sieve::matmul_layout {

// How BLAS reads one rows × cols matrix whose element (i, j) is at i·rs + j·cs.
struct Matrix {
  bool ok = false;     // false: BLAS cannot read this layout; copy it first
  bool trans = false;  // stored transposed (column-major): element (i, j) at j·ld + i
  int64_t ld = 0;      // leading dimension
};

inline Matrix view(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // Row-major, (i, j) at i·rs + j. With one row rs is never used, but BLAS still wants ld ≥ cols.
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return {true, false, rows == 1 ? cols : rs};
  // Column-major (a transposed view), (i, j) at i + j·cs.
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) return {true, true, cols == 1 ? rows : cs};
  return {};
}

// The layout of t's last two dims; t is replaced by a contiguous copy when BLAS cannot read it.
inline Matrix of(Tensor& t) {
  const int nd = t.ndim();
  Matrix m = view(t.shape()[nd - 2], t.shape()[nd - 1], t.strides()[nd - 2], t.strides()[nd - 1]);
  if (m.ok) return m;
  t = t.detach().contiguous();
  return view(t.shape()[nd - 2], t.shape()[nd - 1], t.strides()[nd - 2], t.strides()[nd - 1]);
}

// t's strides for the batch dims of the output (right-aligned), 0 where t is broadcast.
inline Shape batch_strides(const Tensor& t, const Shape& batch) {
  Shape s(batch.size(), 0);
  const size_t own = static_cast<size_t>(t.ndim() - 2);
  const size_t lead = batch.size() - own;
  for (size_t i = 0; i < own; ++i) s[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

// The single row stride of a's (batch..., M) dims when they collapse into one dim, else -1.
inline int64_t folded_row_stride(const Shape& batch, const Shape& a_batch_strides, int64_t M, int64_t rs) {
  int64_t stride = -1, span = 1;  // stride of the innermost non-trivial dim, elements it covers
  auto visit = [&](int64_t size, int64_t st) {
    if (size == 1) return true;
    if (stride < 0) {
      stride = st;
    } else if (st != stride * span) {
      return false;
    }
    span *= size;
    return true;
  };
  if (!visit(M, rs)) return -1;
  for (size_t d = batch.size(); d-- > 0;)
    if (!visit(batch[d], a_batch_strides[d])) return -1;
  return stride < 0 ? 0 : stride;
}

// When b is the same matrix for every batch entry (broadcast) and a's (batch..., M) rows line up
// as one (count·M) × K matrix, the whole batch is one product: a's layout as that matrix, else
// ok = false. la: a's own layout (matmul_layout::of), sa/sb: batch_strides of a and b.
inline Matrix batch_folded_into_rows(const Tensor& a, const Matrix& la, const Shape& batch, const Shape& sa,
                                     const Shape& sb, int64_t M, int64_t K) {
  if (la.trans) return {};
  for (size_t d = 0; d < batch.size(); ++d)
    if (batch[d] != 1 && sb[d] != 0) return {};
  const int nd = a.ndim();
  const int64_t rs = folded_row_stride(batch, sa, M, a.strides()[nd - 2]);
  const int64_t rows = numel_of(batch) * M;
  if (rs < 0 || rows > INT_MAX) return {};
  const Matrix fa = view(rows, K, rs, a.strides()[nd - 1]);
  if (!fa.ok || fa.trans || fa.ld > INT_MAX) return {};
  return fa;
}

// The element offsets of batch entry i (row-major over batch) in a and b.
inline std::pair<int64_t, int64_t> entry_offsets(int64_t i, const Shape& batch, const Shape& sa, const Shape& sb) {
  int64_t oa = 0, ob = 0, rest = i;
  for (size_t d = batch.size(); d-- > 0;) {
    const int64_t index = rest % batch[d];
    rest /= batch[d];
    oa += index * sa[d];
    ob += index * sb[d];
  }
  return {oa, ob};
}

}  // namespace sieve::matmul_layout
