// cuda/reduce.cpp — the reduce family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/reduce.cpp; the kernels are in cuda/reduce.cu. So far only `reduce`
// (sum, mean through its scale, max, min); the rest of the family is listed as missing.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

static_assert(static_cast<int>(cpu::ReduceKind::min) == 2, "cuda/reduce.cu mirrors ReduceKind's order");

void reduce(cpu::ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, const Tensor& out, double scale) {
  check_floating(Op::sum, x);
  SIEVE_CHECK(static_cast<int>(reduce.size()) == x.ndim() && out.is_contiguous(),
              "reduce: {} flags for {}, output {}", reduce.size(), x.describe(), out.describe());
  bool flags[kMaxDims] = {};
  for (size_t d = 0; d < reduce.size(); ++d) flags[d] = reduce[d];
  launch_reduce(static_cast<int>(kind), tensor_arg(x, "reduce"), flags, tensor_arg(out, "reduce"), scale);
}

}  // namespace sieve::cuda
