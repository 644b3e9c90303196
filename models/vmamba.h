// models/vmamba.h — VMamba (Liu et al. 2024): selective scans over 2-D feature maps, sized for
// MNIST-scale images.
//
//   images (B, C, H, W) → patch_embed (p × p patches, Linear, LayerNorm) → (B, H/p, W/p, D)
//   → stages: depths[s] × VSSBlock at width D·2^s, a PatchMerging2D (2×2 → 1, width × 2) between
//   → norm → mean over the map → head → logits (B, classes)
//
// VSSBlock, channels last, x (B, H, W, D), Ci = ssm_ratio·D:
//   h = in_proj(norm(x)) → x', z (B, H, W, Ci) each
//   x' → conv2d (depthwise 3×3, bias) → SiLU → SS2D → out_norm (LayerNorm) → × SiLU(z) → out_proj
//   x ← x + that;  then, when mlp_ratio > 0, x ← x + mlp(norm2(x))
// SS2D reads the map along K routes (ss2d_routes): row-major, column-major, and both reversed
// (K = 4), the first two (K = 2), or row-major alone (K = 1). Each route has its own x_proj, Δ
// projection, A and D (initialised as a Mamba mixer's); the K routes are ONE selective_scan over
// K·Ci channels with grouped B and C (ops/scan.h), so a route cannot silently go missing: the
// scan's channel count is K·Ci (the profiler sees it). The outputs are turned back to the grid
// (the inverse of each route's order) and summed.
//
// Names follow MzeroMiko/VMamba: layers.0.blocks.1.norm, .op.in_proj.weight, .op.conv2d.weight
// (Ci, 1, 3, 3) as PyTorch's Conv2d, .op.x_proj_weight (K, R + 2N, Ci), .op.dt_projs_weight
// (K, Ci, R), .op.dt_projs_bias (K, Ci), .op.A_logs (K·Ci, N), .op.Ds (K·Ci), .op.out_norm,
// .op.out_proj, layers.0.downsample.norm/.reduction, classifier.norm, classifier.head; the patch
// embedding is patch_embed.proj (a Conv2d's weight) and patch_norm.
//
// What it is not: VMamba's ImageNet sizes or its CUDA-extension fallbacks (there are none: the
// scan is sieve's). Extend: another route order is one more row in ss2d_routes (and K allowed).
#pragma once

#include <vector>

#include "nn/attention.h"
#include "nn/layers.h"

namespace sieve::models {

struct VMambaConfig {
  int64_t in_channels = 1, image_size = 28, num_classes = 10;
  int64_t patch = 2;                    // the map is (image_size / patch)²
  std::vector<int64_t> depths{2, 2};    // VSS blocks per stage; a PatchMerging2D between stages
  int64_t dim = 32;                     // width of the first stage; doubles at every merge
  int64_t d_state = 8, ssm_ratio = 2;   // N; Ci = ssm_ratio · width
  int64_t dt_rank = 0;                  // R; 0: ceil(width / 16)
  int64_t routes = 4;                   // K: 1, 2 or 4
  int64_t mlp_ratio = 0;                // 0: no MLP in the blocks
};

// The visiting order of each of the first K routes over an H × W map, row-major positions,
// concatenated: (K·H·W) int64, route k's step i at k·H·W + i. K: 1, 2 or 4.
std::vector<int64_t> ss2d_routes(int64_t K, int64_t H, int64_t W);

// Depthwise Conv2d over channels-last input: x (B, H, W, C) → (B, H, W, C); weight (C, 1, k, k) and
// bias (C), as torch.nn.Conv2d(C, C, k, padding=k/2, groups=C) and its init.
class DepthwiseConv2d : public nn::Module {
 public:
  DepthwiseConv2d(int64_t channels, int64_t kernel, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

// VMamba's mixer ("op" of a VSS block): x (B, H, W, D) → in_proj → x', z → conv2d → SiLU →
// scan_routes → out_norm → × SiLU(z) → out_proj → (B, H, W, D).
class SS2D : public nn::Module {
 public:
  SS2D(int64_t dim, int64_t channels, int64_t d_state, int64_t dt_rank, int64_t routes, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  // The K routes' scans of x (B, H, W, Ci), turned back to the grid and summed: (B, H, W, Ci).
  Tensor scan_routes(const Tensor& x) const;

  int64_t channels, d_state, dt_rank, routes;
  std::shared_ptr<nn::Linear> in_proj, out_proj;
  std::shared_ptr<DepthwiseConv2d> conv2d;
  Tensor x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds;  // (K, R+2N, Ci), (K, Ci, R), (K, Ci), (K·Ci, N), (K·Ci)
  std::shared_ptr<nn::LayerNorm> out_norm;
};

class VMamba : public nn::Module {
 public:
  explicit VMamba(const VMambaConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& images) override;  // (B, C, H, W) → (B, classes)

  VMambaConfig config;
  std::shared_ptr<nn::PatchEmbed> patch_embed;
  std::shared_ptr<nn::LayerNorm> patch_norm;
  std::shared_ptr<nn::ModuleList> layers;
  std::shared_ptr<nn::Module> classifier;  // norm, mean over the map, head
};

}  // namespace sieve::models
