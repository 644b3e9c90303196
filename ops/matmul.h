// ops/matmul.h — matrix products through BLAS.
//
// Shapes (as torch.matmul for ≥ 2-D inputs):
//   a: (M, K),        b: (K, N)        → (M, N)
//   a: (..., M, K),   b: (..., K, N)   → (broadcast(...), M, N)
//   bias: (N) or undefined             added to every output row: out[..., m, n] += bias[n]
// A transposed view (strides (1, ld) in the last two dims) reaches BLAS as a transpose flag,
// never as a copy; batch dims are looped (or collapsed into M when b is shared).
// The bias is added by the kernel while each block of the output is still in cache (a Linear's
// x·Wᵀ + b in one op and one autograd node, instead of a product and a broadcasting add); its
// gradient is g summed over every dim but the last.
//
// Extend: other products (bmm variants, low precision) belong here as options of the same op,
// as the bias is.
#pragma once

#include "core/tensor.h"

namespace sieve {

Tensor matmul(const Tensor& a, const Tensor& b, const Tensor& bias = {});

}  // namespace sieve
