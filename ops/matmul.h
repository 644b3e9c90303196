// ops/matmul.h — matrix products through BLAS.
//
// Shapes (as torch.matmul for ≥ 2-D inputs):
//   a: (M, K),        b: (K, N)        → (M, N)
//   a: (..., M, K),   b: (..., K, N)   → (broadcast(...), M, N)
// A transposed view (strides (1, ld) in the last two dims) reaches BLAS as a transpose flag,
// never as a copy; batch dims are looped (or collapsed into M when b is shared).
//
// Extend: other products (bmm variants, low precision) belong here as options of the same op.
#pragma once

#include "core/tensor.h"

namespace sieve {

Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace sieve
