// cuda/attention.cpp — the attention family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/attention.cpp with the CPU kernels' arguments; the kernels are in
// cuda/attention.cu (forward) and cuda/attention_backward.cu. q, k, v, g, out and the gradients
// go to the kernels as they are, strides and all (no contiguous copies); here are the checks, and
// the two scratch buffers the kernels need:
//   row0 (B, H, Lk)      query row 0's probabilities per head, for cls when probs is not kept
//                        (with probs, cls is read from it)
//   dS   (B, H, Lq, Lk)  the scores' gradient, from the backward's row kernel to its key
//                        kernel, when dk is wanted
//
// Legend as ops/attention.h. What it is not: the front end's shape checks (ops/attention.cpp
// already made them). Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {

constexpr const char* kName = "attention";

void check_head_size(const Tensor& q) {
  SIEVE_CHECK(q.size(3) <= kAttentionMaxHeadSize,
              "attention: the CUDA kernels take head sizes D up to {}, got q {} on {}", kAttentionMaxHeadSize,
              shape_str(q.shape()), q.device().str());
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const cpu::AttentionMasks& masks, const Tensor& out,
               const Tensor& probs, const Tensor& cls) {
  check_floating(Op::attention, q);
  check_head_size(q);
  const Tensor& padded = masks.key_padding;
  SIEVE_CHECK(!probs.defined() || probs.is_contiguous(), "attention: probs must be contiguous, got {}",
              probs.describe());
  SIEVE_CHECK(!padded.defined() || padded.is_contiguous(), "attention: key_padding_mask must be contiguous, got {}",
              padded.describe());
  SIEVE_CHECK(!masks.key_bias.defined() || masks.key_bias.is_contiguous(),
              "attention: key_bias must be contiguous, got {}", masks.key_bias.describe());
  SIEVE_CHECK(!cls.defined() || cls.is_contiguous(), "attention: cls_probs must be contiguous, got {}",
              cls.describe());
  const Tensor row0 = cls.defined() && !probs.defined()
                          ? empty({q.size(0), q.size(1), k.size(2)}, {.dtype = q.dtype(), .device = q.device()})
                          : Tensor();
  launch_attention(tensor_arg(q, kName), tensor_arg(k, kName), tensor_arg(v, kName), optional_tensor_arg(padded, kName),
                   optional_tensor_arg(masks.key_bias, kName), masks.scale, masks.causal, tensor_arg(out, kName), optional_tensor_arg(probs, kName),
                   optional_tensor_arg(row0, kName), optional_tensor_arg(cls, kName));
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& g,
                        const cpu::AttentionMasks& masks, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  check_head_size(q);
  SIEVE_CHECK(probs.defined() && probs.is_contiguous(), "attention: backward needs the contiguous probs, got {}",
              probs.describe());
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), Lk = k.size(2);
  const Tensor ds = dk.defined() && Lq > 0 && Lk > 0
                        ? empty({B, H, Lq, Lk}, {.dtype = q.dtype(), .device = q.device()})
                        : Tensor();
  launch_attention_backward(tensor_arg(q, kName), tensor_arg(k, kName), tensor_arg(v, kName), tensor_arg(probs, kName),
                            tensor_arg(g, kName), masks.scale, masks.causal, optional_tensor_arg(dq, kName),
                            optional_tensor_arg(dk, kName), optional_tensor_arg(dv, kName),
                            optional_tensor_arg(ds, kName));
}

}  // namespace sieve::cuda
