// cuda/reduce.cpp — the reduce family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/reduce.cpp: reduce (sum, mean through its scale, max, min), var, argmax,
// equal_mask (max/min's backward) and cumsum; the kernels are in cuda/reduce.cu.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

static_assert(static_cast<int>(cpu::ReduceKind::min) == 2, "cuda/reduce.cu mirrors ReduceKind's order");

namespace {
// The flags as the fixed array the launchers take, after checking their count and out's layout.
void flags_of(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out, const char* op,
              bool (&flags)[kMaxDims]) {
  SIEVE_CHECK(static_cast<int>(reduce.size()) == x.ndim() && out.is_contiguous(), "{}: {} flags for {}, output {}",
              op, reduce.size(), x.describe(), out.describe());
  for (size_t d = 0; d < reduce.size(); ++d) flags[d] = reduce[d];
}
}  // namespace

void reduce(cpu::ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, const Tensor& out, double scale) {
  check_floating(Op::sum, x);
  bool flags[kMaxDims] = {};
  flags_of(x, reduce, out, "reduce", flags);
  launch_reduce(static_cast<int>(kind), tensor_arg(x, "reduce"), flags, tensor_arg(out, "reduce"), scale);
}

void var(const Tensor& x, const std::vector<bool>& reduce, int64_t correction, const Tensor& out) {
  check_floating(Op::var, x);
  bool flags[kMaxDims] = {};
  flags_of(x, reduce, out, "var", flags);
  launch_var(tensor_arg(x, "var"), flags, correction, tensor_arg(out, "var"));
}

void argmax(const Tensor& x, int dim, const Tensor& out) {
  check_floating(Op::argmax, x);
  SIEVE_CHECK(out.is_contiguous() && out.dtype() == DType::i64, "argmax: expected a contiguous int64 output, got {}",
              out.describe());
  launch_argmax(tensor_arg(x, "argmax"), dim, tensor_arg(out, "argmax"));
}

void equal_mask(const Tensor& x, const Tensor& value, const Tensor& out) {
  check_floating(Op::max, x);
  launch_equal_mask(tensor_arg(x, "equal_mask"), tensor_arg_as(value, out.shape(), "equal_mask"),
                    tensor_arg(out, "equal_mask"));
}

void cumsum(const Tensor& x, int dim, bool reverse, const Tensor& out) {
  check_floating(Op::cumsum, x);
  SIEVE_CHECK(x.is_contiguous() && out.is_contiguous(), "cumsum: expected contiguous tensors, got {} and {}",
              x.describe(), out.describe());
  launch_cumsum(tensor_arg(x, "cumsum"), dim, reverse, tensor_arg(out, "cumsum"));
}

}  // namespace sieve::cuda
