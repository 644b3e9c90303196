// nn/attention.h — the transformer layers: patch embedding, multi-head self-attention and the
// pre-LN transformer block, named and laid out as timm's ViT so its state dicts map one to one:
//
//   patch_embed.proj.weight (D, C, p, p)   blocks.0.norm1.{weight,bias}   blocks.0.attn.qkv.{weight,bias}
//   blocks.0.attn.proj.{weight,bias}       blocks.0.norm2.{weight,bias}   blocks.0.mlp.fc1/fc2.{weight,bias}
//
// Legend: B batch, C image channels, p patch side, N = (H/p)·(W/p) patches, L tokens, D model width
// ("dim"), h heads, Dh = D / h head size.
//
// What it is not: the attention arithmetic (the fused op, ops/attention.h), whole models
// (models/). Extend: a new block variant derives from Module and reuses MultiHeadAttention.
#pragma once

#include <memory>

#include "core/random.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "ops/attention.h"

namespace sieve::nn {

// PyTorch's Conv2d(C, D, kernel_size=p, stride=p) — the non-overlapping patch convolution, the
// only Conv2d a ViT has — but returning tokens channels-last: x: (B, C, H, W) → (B, N, D), patches
// in row-major order (what timm's PatchEmbed gets from proj(x).flatten(2).transpose(1, 2)).
// weight: (D, C, p, p) as Conv2d's, bias: (D); init as Conv2d's (U(±1/√(C·p·p))).
// Computed as unfold_patches then one matmul with weight viewed as (D, C·p·p): no copy of the
// weight per step (the view is free, its transpose goes to BLAS as a flag).
class PatchConv2d : public Module {
 public:
  PatchConv2d(int64_t in_channels, int64_t out_channels, int64_t patch, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int64_t in_channels, out_channels, patch;
};

// Images → patch tokens: x: (B, C, H, W) → (B, N, D). H and W must be multiples of p.
class PatchEmbed : public Module {
 public:
  PatchEmbed(int64_t in_channels, int64_t patch, int64_t dim, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<PatchConv2d> proj;
};

// The keys and values a decoder has computed, for one attention layer: k and v are
// (B, h, capacity, Dh) buffers whose first `length` positions are filled; capacity grows by
// doubling, so appending a position costs its own keys and values, not a copy of the prefix.
// Inference only (the buffers are written in place, outside autograd).
struct KVCache {
  Tensor k, v;
  int64_t length = 0;
};

// Multi-head self-attention, x: (B, L, D) → (B, L, D):
//   q, k, v = split(qkv(x)) as (B, h, L, Dh);  y = attention(q, k, v);  out = proj_drop(proj(y))
// qkv.weight is (3D, D) with rows [q; k; v] and heads contiguous inside each, as timm's. The three
// projections are three matmuls on row slices of qkv.weight, not one matmul and a split: each
// q/k/v is then a permuted view of its own (B, L, D) block, and the attention op hands its
// gradients back in that layout, so backward makes no (B, L, 3D) zero-padded copies.
// qkv_bias as timm's qkv_bias (proj always has a bias). dropout applies after proj (timm's
// proj_drop); the fused op has no dropout on the attention probabilities.
class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t dim, int64_t heads, double dropout = 0.0, bool qkv_bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;  // no masks
  // options: causal, key_padding_mask (B, L), scale, want_cls_probs, key_bias (see ops/attention.h).
  // key_mean, when not null, receives the keys averaged over heads, (B, L, Dh), without gradient:
  // ToMe's similarity metric (models/token_reduction.h).
  Tensor forward(const Tensor& x, const AttentionOptions& options, Tensor* key_mean = nullptr);
  // Causal decoding with a cache, under NoGradGuard: x (B, L, D) holds the next L positions; they
  // attend to the cache's positions and causally to each other, and their keys and values are
  // appended. The first call (empty cache) is the prompt's prefill, each later one usually L = 1.
  Tensor forward_cached(const Tensor& x, KVCache& cache);
  std::string constants() const override;
  std::shared_ptr<Linear> qkv, proj;
  std::shared_ptr<Dropout> proj_drop;
  int64_t dim, heads, head_dim;
  // Set by every forward: the head-mean attention probabilities of token 0 (CLS), (B, L), when
  // options.want_cls_probs; otherwise undefined. No gradient flows through them.
  Tensor last_cls_probs;

 private:
  Tensor project(const Tensor& x, int64_t part) const;  // part 0/1/2: q/k/v as (B, h, L, Dh)
};

// Pre-LN transformer block (timm's ViT Block):
//   x = x + attn(norm1(x));   x = x + mlp_drop(mlp(norm2(x)))      x: (B, L, D) → (B, L, D)
// norm eps 1e-6 (timm's ViT), MLP: fc1 D → mlp_hidden, exact GELU, fc2 back to D. dropout is
// used after attn.proj, inside the MLP after GELU and after fc2 (timm's proj_drop, drop1, drop2).
class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t dim, int64_t heads, int64_t mlp_hidden, double dropout = 0.0, double norm_eps = 1e-6,
                   Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const AttentionOptions& options);  // attention masks, CLS probs
  Tensor forward_cached(const Tensor& x, KVCache& cache);            // causal decoding (see above)
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<MultiHeadAttention> attn;  // attn->last_cls_probs after a forward that asked
  std::shared_ptr<MLP> mlp;
  std::shared_ptr<Dropout> mlp_drop;
};

}  // namespace sieve::nn
