// models/vit.h — the Vision Transformer (Dosovitskiy et al. 2021), sized for MNIST-scale images.
//
//   images (B, C, H, W) → patch_embed → (B, N, D), N = (H/p)·(W/p)
//   → prepend cls_token, add pos_embed → (B, 1+N, D) → depth × pre-LN TransformerBlock
//   → norm(token 0) → head → logits (B, classes)
// Names as timm's VisionTransformer (cls_token, pos_embed, patch_embed.proj.weight,
// blocks.3.attn.qkv.weight, norm.weight, head.weight), so its state dicts map one to one.
// cls_token and pos_embed are drawn from a truncated normal (std 0.02, as timm) and are not decayed.
// The norm is applied to the CLS token only: LayerNorm works per token, so the logits are those of
// timm's norm-everything-then-take-CLS, without normalising tokens nobody reads.
//
// Images of another size than image_size run with the grid of positions resized bilinearly
// (models/positions.h); the class token keeps its position.
// embed() and classify() are exposed so DD-ViT (dynamic depth) can run blocks one by one; DD-ViT
// derives from this class through the protected constructor, which builds everything but norm and
// head (it has one classifier per block instead, models/ddvit.h).
// reduction (models/token_reduction.h: EViT, L2, SVTR pruning, ToMe merging) makes forward run
// the blocks on fewer tokens; none (the default) is the plain loop below.
// Extend: a variant (distillation token, mean pooling) changes embed/classify, not the blocks.
#pragma once

#include "models/token_reduction.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sieve::models {

struct VitConfig {
  int64_t in_channels = 1, image_size = 28, patch = 4, dim = 64, depth = 4, heads = 4, mlp_hidden = 128;
  int64_t num_classes = 10;
  double dropout = 0.0;
};

class VisionTransformer : public nn::Module {
 public:
  explicit VisionTransformer(const VitConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& images) override;  // (B, C, H, W) → (B, classes)
  Tensor embed(const Tensor& images) const;        // → tokens (B, 1+N, D), before the blocks
  Tensor classify(const Tensor& tokens) const;     // tokens (B, 1+N, D) → logits of token 0; needs norm/head

  VitConfig config;
  std::shared_ptr<nn::PatchEmbed> patch_embed;
  Tensor cls_token;  // (1, 1, D)
  Tensor pos_embed;  // (1, 1+N, D)
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::LayerNorm> norm;  // null in a variant built without them
  std::shared_ptr<nn::Linear> head;
  TokenReduction reduction;  // used by forward; no parameters of its own

 protected:
  // The backbone alone (patch_embed, cls_token, pos_embed, blocks) when !with_head: a variant
  // registers its own classifiers after these, under the same Module as type `type_name`.
  VisionTransformer(std::string type_name, const VitConfig& config, Generator* gen, bool with_head);
};

}  // namespace sieve::models
