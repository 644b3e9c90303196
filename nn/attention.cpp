// nn/attention.cpp — PatchConv2d, PatchEmbed, MultiHeadAttention, TransformerBlock (shapes and
// names in nn/attention.h). Each is a few ops; the attention itself is the fused op.
//
// Extend: a layer registers its parameters in its constructor (so a seeded generator reproduces
// it) and composes ops in forward.
#include "nn/attention.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/matmul.h"
#include "ops/reduce.h"

namespace sieve::nn {

PatchConv2d::PatchConv2d(int64_t in, int64_t out, int64_t p, Generator* gen)
    : Module("PatchConv2d"), in_channels(in), out_channels(out), patch(p) {
  SIEVE_CHECK(in > 0 && out > 0 && p > 0, "PatchConv2d: channels and patch must be positive, got ({}, {}, {})", in,
              out, p);
  weight = register_parameter("weight", empty({out, in, p, p}));
  init::kaiming_uniform_(weight, std::sqrt(5.0), gen);  // fan_in C·p·p, as Conv2d's reset_parameters
  bias = register_parameter("bias", empty({out}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * p * p));
  init::uniform_(bias, -bound, bound, gen);
}

Tensor PatchConv2d::forward(const Tensor& x) {
  const ModuleScope scope(this);
  SIEVE_CHECK(x.ndim() == 4 && x.size(1) == in_channels, "PatchConv2d({}, {}, patch {}): input {} is not (B, {}, H, W)",
              in_channels, out_channels, patch, x.describe(), in_channels);
  // unfold flattens each patch as (c, i, j), the order of weight's last three dims.
  Tensor w = weight.view({out_channels, in_channels * patch * patch});
  return matmul(unfold_patches(x, patch), w.t(), bias);
}

PatchEmbed::PatchEmbed(int64_t in_channels, int64_t patch, int64_t dim, Generator* gen) : Module("PatchEmbed") {
  proj = register_module("proj", std::make_shared<PatchConv2d>(in_channels, dim, patch, gen));
}

Tensor PatchEmbed::forward(const Tensor& x) {
  const ModuleScope scope(this);
  return proj->forward(x);
}

MultiHeadAttention::MultiHeadAttention(int64_t dim_, int64_t heads_, double dropout, bool qkv_bias, Generator* gen)
    : Module("MultiHeadAttention"), dim(dim_), heads(heads_), head_dim(heads_ > 0 ? dim_ / heads_ : 0) {
  SIEVE_CHECK(dim > 0 && heads > 0 && dim % heads == 0,
              "MultiHeadAttention: dim {} must be a positive multiple of heads {}", dim, heads);
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, qkv_bias, gen));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim, true, gen));
  // Dropout draws from the default generator (the one a training checkpoint saves), not gen.
  proj_drop = register_module("proj_drop", std::make_shared<Dropout>(dropout));
}

Tensor MultiHeadAttention::project(const Tensor& x, int64_t part) const {
  const ModuleScope scope(qkv.get());  // qkv's weight is used here, so its ops are qkv's
  const int64_t B = x.size(0), L = x.size(1);
  // Rows of W and entries of the bias: views, BLAS-readable; the bias is added inside the product.
  const Tensor bias = qkv->bias.defined() ? qkv->bias.narrow(0, part * dim, dim) : Tensor();
  Tensor y = matmul(x, qkv->weight.narrow(0, part * dim, dim).t(), bias);
  return y.view({B, L, heads, head_dim}).permute({0, 2, 1, 3});
}

Tensor MultiHeadAttention::forward(const Tensor& x) { return forward(x, {}); }

// The default scale; a caller that passes options.scale owns that choice (and records it in its config).
std::string MultiHeadAttention::constants() const { return "softmax scale 1/sqrt(head_dim)"; }

Tensor MultiHeadAttention::forward(const Tensor& x, const AttentionOptions& options, Tensor* key_mean) {
  SIEVE_CHECK(x.ndim() == 3 && x.size(2) == dim, "MultiHeadAttention(dim {}, heads {}): input {} is not (B, L, {})",
              dim, heads, x.describe(), dim);
  const ModuleScope scope(this);
  const int64_t B = x.size(0), L = x.size(1);
  const Tensor k = project(x, 1);
  if (key_mean != nullptr) {
    NoGradGuard no_grad;
    *key_mean = mean(k.detach(), {1});  // (B, h, L, Dh) → (B, L, Dh)
  }
  AttentionOutput a = attention(project(x, 0), k, project(x, 2), options);
  last_cls_probs = a.cls_probs;
  // a.out is stored (B, L, h, Dh): this transpose and reshape are views, no copy.
  return proj_drop->forward(proj->forward(a.out.transpose(1, 2).reshape({B, L, dim})));
}

namespace {

// cache's k and v with room for `needed` positions: new buffers of twice the capacity (or what is
// needed) holding the filled prefix, when the old ones are too small.
void reserve(KVCache& cache, const Tensor& like, int64_t needed) {
  const int64_t capacity = cache.k.defined() ? cache.k.size(2) : 0;
  if (needed <= capacity) return;
  const int64_t grown = std::max(needed, 2 * capacity);
  const Shape shape{like.size(0), like.size(1), grown, like.size(3)};
  Tensor k = empty(shape, {.dtype = like.dtype(), .device = like.device()});
  Tensor v = empty(shape, {.dtype = like.dtype(), .device = like.device()});
  if (cache.length > 0) {
    copy_(k.narrow(2, 0, cache.length), cache.k.narrow(2, 0, cache.length));
    copy_(v.narrow(2, 0, cache.length), cache.v.narrow(2, 0, cache.length));
  }
  cache.k = k;
  cache.v = v;
}

}  // namespace

Tensor MultiHeadAttention::forward_cached(const Tensor& x, KVCache& cache) {
  SIEVE_CHECK(!grad_enabled(), "MultiHeadAttention::forward_cached is for inference: call it under NoGradGuard");
  SIEVE_CHECK(x.ndim() == 3 && x.size(2) == dim, "MultiHeadAttention(dim {}, heads {}): input {} is not (B, L, {})",
              dim, heads, x.describe(), dim);
  SIEVE_CHECK(!cache.k.defined() || cache.k.size(0) == x.size(0),
              "MultiHeadAttention: the cache holds {} sequences, the input {}", cache.k.defined() ? cache.k.size(0) : 0,
              x.size(0));
  const ModuleScope scope(this);
  const int64_t B = x.size(0), L = x.size(1), total = cache.length + L;
  const Tensor k = project(x, 1);  // (B, h, L, Dh)
  reserve(cache, k, total);
  copy_(cache.k.narrow(2, cache.length, L), k);
  copy_(cache.v.narrow(2, cache.length, L), project(x, 2));
  cache.length = total;
  // Causal masks align bottom-right (ops/attention.h): query i of the L new ones sees the cached
  // positions and the new ones up to itself.
  AttentionOptions options;
  options.causal = true;
  AttentionOutput a = attention(project(x, 0), cache.k.narrow(2, 0, total), cache.v.narrow(2, 0, total), options);
  return proj_drop->forward(proj->forward(a.out.transpose(1, 2).reshape({B, L, dim})));
}

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, int64_t mlp_hidden, double dropout, double norm_eps,
                                   Generator* gen)
    : Module("TransformerBlock") {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, norm_eps));
  attn = register_module("attn", std::make_shared<MultiHeadAttention>(dim, heads, dropout, true, gen));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, norm_eps));
  mlp = register_module("mlp", std::make_shared<MLP>(dim, mlp_hidden, dim, GeluApprox::none, dropout, gen));
  mlp_drop = register_module("mlp_drop", std::make_shared<Dropout>(dropout));
}

Tensor TransformerBlock::forward(const Tensor& x) { return forward(x, {}); }

Tensor TransformerBlock::forward(const Tensor& x, const AttentionOptions& options) {
  const ModuleScope scope(this);
  Tensor h = x + attn->forward(norm1->forward(x), options);
  return h + mlp_drop->forward(mlp->forward(norm2->forward(h)));
}

Tensor TransformerBlock::forward_cached(const Tensor& x, KVCache& cache) {
  const ModuleScope scope(this);
  Tensor h = x + attn->forward_cached(norm1->forward(x), cache);
  return h + mlp_drop->forward(mlp->forward(norm2->forward(h)));
}

}  // namespace sieve::nn
