// models/vit.cpp — VisionTransformer (see vit.h).
#include "models/vit.h"

#include "models/positions.h"
#include "nn/init.h"
#include "ops/shape.h"

namespace sieve::models {

VisionTransformer::VisionTransformer(const VitConfig& c, Generator* gen)
    : VisionTransformer("VisionTransformer", c, gen, /*with_head=*/true) {}

VisionTransformer::VisionTransformer(std::string type_name, const VitConfig& c, Generator* gen, bool with_head)
    : Module(std::move(type_name)), config(c) {
  SIEVE_CHECK(c.patch > 0 && c.image_size % c.patch == 0, "vit: image_size {} is not a multiple of patch {}",
              c.image_size, c.patch);
  SIEVE_CHECK(c.heads > 0 && c.dim % c.heads == 0, "vit: dim {} is not a multiple of heads {}", c.dim, c.heads);
  const int64_t patches = (c.image_size / c.patch) * (c.image_size / c.patch);
  patch_embed = register_module("patch_embed", std::make_shared<nn::PatchEmbed>(c.in_channels, c.patch, c.dim, gen));
  Tensor cls = zeros({1, 1, c.dim}), pos = zeros({1, 1 + patches, c.dim});
  nn::init::trunc_normal_(cls, 0.02, -2.0, 2.0, 0.0, gen);
  nn::init::trunc_normal_(pos, 0.02, -2.0, 2.0, 0.0, gen);
  cls_token = register_parameter("cls_token", cls, /*no_weight_decay=*/true);
  pos_embed = register_parameter("pos_embed", pos, /*no_weight_decay=*/true);
  blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.depth; ++i)
    blocks->push_back(std::make_shared<nn::TransformerBlock>(c.dim, c.heads, c.mlp_hidden, c.dropout, 1e-6, gen));
  if (!with_head) return;
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(c.dim, 1e-6));
  head = register_module("head", std::make_shared<nn::Linear>(c.dim, c.num_classes, true, gen));
}

Tensor VisionTransformer::embed(const Tensor& images) const {
  const Tensor patches = patch_embed->forward(images);  // (B, N, D)
  const Tensor cls = cls_token.expand({patches.size(0), 1, config.dim});
  const int64_t N = patches.size(1), trained = pos_embed.size(1) - 1;
  if (N == trained) return cat({cls, patches}, 1) + pos_embed;
  // Another input size: the grid of positions resized to the new grid (models/positions.h).
  const Tensor grid = resize_grid_positions(pos_embed.narrow(1, 1, trained), grid_side(N, "vit"));
  return cat({cls, patches}, 1) + cat({pos_embed.narrow(1, 0, 1), grid}, 1);
}

Tensor VisionTransformer::classify(const Tensor& tokens) const {
  SIEVE_CHECK(head != nullptr, "{}: built without the final norm/head; classify through its own exits", type_name());
  return head->forward(norm->forward(tokens.select(1, 0)));
}

Tensor VisionTransformer::forward(const Tensor& images) {
  const nn::ModuleScope scope(this);
  Tensor x = embed(images);
  // Moved, not copied: the embedded tokens are freed as soon as the first reduction replaces them.
  if (reduction.method != Reduction::none) return classify(run_reduced_blocks(*this, std::move(x), reduction));
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->at<nn::TransformerBlock>(i)->forward(x);
  return classify(x);
}

}  // namespace sieve::models
