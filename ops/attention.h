// ops/attention.h — fused scaled-dot-product attention, forward and backward in one op.
//
// Legend: B batch, H heads, Lq query tokens, Lk key/value tokens, D head size.
//   q: (B, H, Lq, D), k: (B, H, Lk, D), v: (B, H, Lk, D) → out: (B, H, Lq, D)
//   out = softmax(q·kᵀ·scale + mask)·v,   scale = 1/√D unless given
//
// Masks (a masked score is −∞ before the softmax):
//   causal            query i sees keys j ≤ i + (Lk − Lq): bottom-right aligned, so with a KV cache
//                     (Lq < Lk) the last query sees every key. With Lq == Lk this is the usual lower
//                     triangle. (PyTorch 2's scaled_dot_product_attention(is_causal=True) aligns
//                     top-left instead; the two agree when Lq == Lk.)
//   key_padding_mask  (B, Lk), any dtype, nonzero = padded key that no query may see (as
//                     torch.nn.MultiheadAttention's key_padding_mask with True = padded).
// key_bias (B, Lk), q's dtype, is added to every query's score of key j before the softmax:
// ToMe's proportional attention passes log(size) of each merged token, so a token that stands for
// n patches gets n times the weight. No gradient flows to it (backward reads the probabilities).
// A query row whose keys are all masked has no softmax: its probabilities and its output row are
// zeros (a "safe softmax"), and it passes no gradient — never NaN.
//
// want_cls_probs also hands back the attention probabilities of query row 0 (the CLS token)
// averaged over heads, cls_probs: (B, Lk). Vision-token pruning ranks tokens by them. They are a
// plain tensor with no gradient: nothing may backpropagate through them.
//
// Layout: any strides are accepted for q, k, v and the upstream gradient (a q/k/v that is a
// permuted view of one projection is read in place, not copied). out is stored as (B, Lq, H, D) and
// returned as the permuted view (B, H, Lq, D), so the usual out.transpose(1, 2).reshape(B, Lq, H·D)
// is free. Each input's gradient gets that input's layout when it is a permuted dense block.
//
// Memory: the probabilities (B, H, Lq, Lk) are saved for backward — 5 MB for ViT-tiny sizes
// (128, 4, 50, 50) in float32. A flash-style backward that recomputes them from q and k is the
// option for long sequences.
//
// What it is not: multi-head projections (nn/attention.h), dropout on the probabilities, an
// additive float mask. Extend: a new mask kind is a field here, read by the kernels'
// visible-keys rule in ops/cpu/attention.cpp (softmax_columns) and cuda/attention.cu.
#pragma once

#include <optional>

#include "core/tensor.h"

namespace sieve {

struct AttentionOptions {
  bool causal = false;
  Tensor key_padding_mask = {};      // (B, Lk), nonzero = padded; undefined: no padding
  std::optional<double> scale = {};  // default 1/√D
  bool want_cls_probs = false;       // fill AttentionOutput::cls_probs
  Tensor key_bias = {};              // (B, Lk) added to the scores of key j; undefined: none
};

struct AttentionOutput {
  Tensor out = {};        // (B, H, Lq, D)
  Tensor cls_probs = {};  // (B, Lk) when want_cls_probs, else undefined; no gradient
};

AttentionOutput attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options = {});

}  // namespace sieve
