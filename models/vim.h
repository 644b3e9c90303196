// models/vim.h — Vision Mamba (Zhu et al. 2024, hustvl/Vim): bidirectional Mamba over image patches,
// sized for MNIST-scale images.
//
//   images (B, C, H, W) → patch_embed → (B, N, D), N = (H/p)·(W/p)
//   → a class token inserted in the middle (position N/2) → + pos_embed (1, N + 1, D)
//   → depth × [ x + mixer(RMSNorm(x)) ] → norm_f (RMSNorm) → the class token → head → (B, classes)
//
// The bidirectional mixer (Vim's "v2"), C = expand·D channels:
//   u (B, L, D) → in_proj (shared) → x, z (B, L, C)
//   forward:  conv1d → SiLU → x_proj, dt_proj, A_log, D → scan over the sequence
//   backward: the same on the sequence reversed, with its own conv1d_b, x_proj_b, dt_proj_b,
//             A_b_log, D_b (z reversed too), the result reversed back
//   → out_proj((forward + backward) / 2)   (the halving Vim's users needed against NaN losses)
// Both directions are ONE selective_scan over 2C channels with grouped B and C (ops/scan.h):
// group 0 reads the sequence forwards, group 1 reads it reversed; one conv call over 2C channels.
//
// Names as hustvl/Vim: patch_embed.proj, cls_token, pos_embed, layers.0.mixer.in_proj,
// .mixer.conv1d/.conv1d_b, .mixer.x_proj/.x_proj_b, .mixer.dt_proj/.dt_proj_b, .mixer.A_log/.A_b_log,
// .mixer.D/.D_b, .mixer.out_proj, layers.0.norm, norm_f, head.
//
// Another input size: the patches' grid of positions is resized (models/positions.h); the class
// token keeps its own position, at the new middle.
// What it is not: Vim's ImageNet sizes, drop-path or the other "bimamba" variants.
#pragma once

#include "models/mamba.h"
#include "nn/attention.h"

namespace sieve::models {

struct VimConfig {
  int64_t in_channels = 1, image_size = 28, num_classes = 10;
  int64_t patch = 4, dim = 64, depth = 4, d_state = 16, expand = 2, d_conv = 4;
  int64_t dt_rank = 0;  // 0: ceil(dim / 16)
};

// u (B, L, D) → (B, L, D), the bidirectional mixer above.
class BiMambaMixer : public SelectiveSSM {
 public:
  BiMambaMixer(int64_t dim, int64_t channels, int64_t d_state, int64_t dt_rank, int64_t d_conv, Generator* gen = nullptr);
  Tensor forward(const Tensor& u) override;
  std::shared_ptr<nn::Linear> in_proj, out_proj, x_proj_b, dt_proj_b;
  std::shared_ptr<CausalConv1d> conv1d, conv1d_b;
  Tensor A_b_log, D_b;  // (C, N), (C); no weight decay
};

// x (B, L, C) with its steps in reverse order.
Tensor reverse_steps(const Tensor& x);

class Vim : public nn::Module {
 public:
  explicit Vim(const VimConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& images) override;  // (B, C, H, W) → (B, classes)
  Tensor embed(const Tensor& images) const;        // → tokens (B, N + 1, D), the class token at N/2

  VimConfig config;
  std::shared_ptr<nn::PatchEmbed> patch_embed;
  Tensor cls_token;  // (1, 1, D)
  Tensor pos_embed;  // (1, N + 1, D)
  std::shared_ptr<nn::ModuleList> layers;  // ResidualBlock with a BiMambaMixer
  std::shared_ptr<nn::RMSNorm> norm_f;
  std::shared_ptr<nn::Linear> head;
};

}  // namespace sieve::models
