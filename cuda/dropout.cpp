// cuda/dropout.cpp — the dropout family's CUDA entry point (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/dropout.cpp (forward, and backward on the gradient with the same seed
// and counter); the kernel and the device Philox are in cuda/dropout.cu.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

// x: any shape and strides → out: x's shape, contiguous
void dropout(const Tensor& x, const Tensor& out, double p, uint64_t seed, uint64_t first) {
  check_floating(Op::dropout, x);
  SIEVE_CHECK(out.is_contiguous(), "dropout: expected a contiguous output, got {}", out.describe());
  // The scale in double here, cast to T in the kernel: the CPU's static_cast<T>(1.0 / (1.0 − p)).
  launch_dropout(tensor_arg(x, "dropout"), tensor_arg(out, "dropout"), p, 1.0 / (1.0 - p), seed, first);
}

}  // namespace sieve::cuda
