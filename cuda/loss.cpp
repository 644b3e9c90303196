// cuda/loss.cpp — the loss family's CUDA entry points (cuda/kernels.h), called by SIEVE_DISPATCH
// from ops/loss.cpp with contiguous inputs; the kernels are in cuda/loss.cu. Here the scratch
// buffers are made: the per-row losses a reduced cross-entropy sums, and the double partials of
// the deterministic sums (freed at once: the caching allocator hands them out again only to
// work queued later on the same stream).
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {
Tensor scratch_partials(const Tensor& like) {
  return empty({loss_scratch_size()}, {.dtype = DType::f64, .device = like.device()});
}
}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double smoothing, bool reduce,
                   double divisor, const Tensor& out, const Tensor& lse) {
  check_floating(Op::cross_entropy, logits);
  SIEVE_CHECK(logits.is_contiguous() && target.is_contiguous() && target.dtype() == DType::i64,
              "cross_entropy: expected contiguous logits and int64 targets, got {} and {}", logits.describe(),
              target.describe());
  const Tensor losses = reduce ? empty({target.numel()}, {.dtype = logits.dtype(), .device = logits.device()}) : out;
  const Tensor scratch = scratch_partials(logits);
  launch_cross_entropy(tensor_arg(logits, "cross_entropy"), tensor_arg(target, "cross_entropy"), ignore_index,
                       smoothing, reduce, divisor, tensor_arg(losses, "cross_entropy"), tensor_arg(out, "cross_entropy"),
                       tensor_arg(lse, "cross_entropy"), tensor_arg(scratch, "cross_entropy"));
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& g,
                            int64_t ignore_index, double smoothing, double divisor, const Tensor& dlogits) {
  SIEVE_CHECK(logits.is_contiguous() && g.is_contiguous() && dlogits.is_contiguous(),
              "cross_entropy: backward expects contiguous tensors, got {}, {} and {}", logits.describe(),
              g.describe(), dlogits.describe());
  launch_cross_entropy_backward(tensor_arg(logits, "cross_entropy"), tensor_arg(target, "cross_entropy"),
                                tensor_arg(lse, "cross_entropy"), tensor_arg(g, "cross_entropy"), ignore_index,
                                smoothing, divisor, tensor_arg(dlogits, "cross_entropy"));
}

void mse_loss(const Tensor& a, const Tensor& b, bool reduce, double scale, const Tensor& out) {
  check_floating(Op::mse_loss, a);
  SIEVE_CHECK(a.is_contiguous() && b.is_contiguous(), "mse_loss: expected contiguous tensors, got {} and {}",
              a.describe(), b.describe());
  const Tensor scratch = reduce ? scratch_partials(a) : Tensor();
  launch_mse_loss(tensor_arg(a, "mse_loss"), tensor_arg(b, "mse_loss"), reduce, scale, tensor_arg(out, "mse_loss"),
                  optional_tensor_arg(scratch, "mse_loss"));
}

void mse_loss_backward(const Tensor& a, const Tensor& b, const Tensor& g, double scale, const Tensor& da,
                       const Tensor& db) {
  SIEVE_CHECK(a.is_contiguous() && b.is_contiguous() && g.is_contiguous(),
              "mse_loss: backward expects contiguous tensors, got {}, {} and {}", a.describe(), b.describe(),
              g.describe());
  launch_mse_loss_backward(tensor_arg(a, "mse_loss"), tensor_arg(b, "mse_loss"), tensor_arg(g, "mse_loss"), scale,
                           optional_tensor_arg(da, "mse_loss"), optional_tensor_arg(db, "mse_loss"));
}

}  // namespace sieve::cuda
