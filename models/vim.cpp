// models/vim.cpp — Vim's bidirectional mixer and the model (see vim.h).
#include "models/vim.h"

#include <vector>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "models/positions.h"
#include "nn/init.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/scan.h"
#include "ops/shape.h"

namespace sieve::models {

Tensor reverse_steps(const Tensor& x) {
  const int64_t L = x.size(1);
  std::vector<int64_t> back(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) back[static_cast<size_t>(i)] = L - 1 - i;
  return index_select(x, 1, from_vector<int64_t>(back, {L}, x.device()));
}

// ---- BiMambaMixer ----

BiMambaMixer::BiMambaMixer(int64_t dim, int64_t c, int64_t n, int64_t r, int64_t k, Generator* gen)
    : SelectiveSSM("BiMambaMixer", c, n, r, gen) {
  in_proj = register_module("in_proj", std::make_shared<nn::Linear>(dim, 2 * c, /*bias=*/false, gen));
  conv1d = register_module("conv1d", std::make_shared<CausalConv1d>(c, k, gen));
  // The backward direction's own selection and state matrices, drawn as a Mamba mixer's.
  const SelectiveSSM backward(c, n, r, gen);
  x_proj_b = register_module("x_proj_b", backward.x_proj);
  dt_proj_b = register_module("dt_proj_b", backward.dt_proj);
  A_b_log = register_parameter("A_b_log", backward.A_log.detach(), /*no_weight_decay=*/true);
  D_b = register_parameter("D_b", backward.D.detach(), /*no_weight_decay=*/true);
  conv1d_b = register_module("conv1d_b", std::make_shared<CausalConv1d>(c, k, gen));
  out_proj = register_module("out_proj", std::make_shared<nn::Linear>(c, dim, /*bias=*/false, gen));
}

Tensor BiMambaMixer::forward(const Tensor& u) {
  const nn::ModuleScope scope(this);
  const int64_t C = channels, N = d_state, R = dt_rank;
  const Tensor xz = in_proj->forward(u);  // (B, L, 2C)
  const Tensor z = xz.narrow(2, C, C);
  // Channels [0, C): the sequence forwards; [C, 2C): reversed. One conv over both with the two
  // directions' kernels side by side.
  const Tensor x2 = cat({xz.narrow(2, 0, C), reverse_steps(xz.narrow(2, 0, C))}, 2);  // (B, L, 2C)
  const int64_t K = conv1d->weight.size(2);
  const Tensor w = cat({conv1d->weight, conv1d_b->weight}, 0).view({2 * C, K});
  const Tensor xc = silu(conv1d_causal_depthwise(x2, w, cat({conv1d->bias, conv1d_b->bias}, 0)));
  const Tensor xf = xc.narrow(2, 0, C), xb = xc.narrow(2, C, C);
  const Tensor dbc_f = x_proj->forward(xf), dbc_b = x_proj_b->forward(xb);  // (B, L, R + 2N) each
  const Tensor delta = softplus(cat({dt_proj->forward(dbc_f.narrow(2, 0, R)), dt_proj_b->forward(dbc_b.narrow(2, 0, R))}, 2));
  auto grouped = [&](int64_t at) {  // (B, L, 2, N): group 0 the forward direction's, 1 the backward's
    return stack({dbc_f.narrow(2, at, N), dbc_b.narrow(2, at, N)}, 2);
  };
  const Tensor y = selective_scan(xc, delta, cat({-exp(A_log), -exp(A_b_log)}, 0), grouped(R), grouped(R + N),
                                  cat({D, D_b}, 0), cat({z, reverse_steps(z)}, 2));  // (B, L, 2C)
  return out_proj->forward((y.narrow(2, 0, C) + reverse_steps(y.narrow(2, C, C))) * 0.5);
}

// ---- Vim ----

Vim::Vim(const VimConfig& c, Generator* gen) : Module("Vim"), config(c) {
  SIEVE_CHECK(c.patch > 0 && c.image_size % c.patch == 0, "vim: patch {} must divide image_size {}", c.patch,
              c.image_size);
  const int64_t tokens = (c.image_size / c.patch) * (c.image_size / c.patch);
  const int64_t channels = c.expand * c.dim, rank = c.dt_rank > 0 ? c.dt_rank : (c.dim + 15) / 16;
  patch_embed = register_module("patch_embed", std::make_shared<nn::PatchEmbed>(c.in_channels, c.patch, c.dim, gen));
  Tensor cls = empty({1, 1, c.dim}), pos = empty({1, tokens + 1, c.dim});
  nn::init::trunc_normal_(cls, 0.02, -2.0, 2.0, 0.0, gen);
  nn::init::trunc_normal_(pos, 0.02, -2.0, 2.0, 0.0, gen);
  cls_token = register_parameter("cls_token", cls, /*no_weight_decay=*/true);
  pos_embed = register_parameter("pos_embed", pos, /*no_weight_decay=*/true);
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.depth; ++i)
    layers->push_back(std::make_shared<ResidualBlock>(
        c.dim, std::make_shared<BiMambaMixer>(c.dim, channels, c.d_state, rank, c.d_conv, gen)));
  norm_f = register_module("norm_f", std::make_shared<nn::RMSNorm>(c.dim, 1e-5));
  head = register_module("head", std::make_shared<nn::Linear>(c.dim, c.num_classes, /*bias=*/true, gen));
}

Tensor Vim::embed(const Tensor& images) const {
  const Tensor patches = patch_embed->forward(images);  // (B, N, D)
  const int64_t B = patches.size(0), N = patches.size(1), D = config.dim, middle = N / 2;
  const Tensor tokens =
      cat({patches.narrow(1, 0, middle), cls_token.expand({B, 1, D}), patches.narrow(1, middle, N - middle)}, 1);
  const int64_t trained = pos_embed.size(1) - 1, trained_middle = trained / 2;
  if (N == trained) return tokens + pos_embed;
  // Another input size: the patches' grid of positions resized (models/positions.h), the class
  // token's position put back in the new middle.
  const Tensor grid = resize_grid_positions(
      cat({pos_embed.narrow(1, 0, trained_middle), pos_embed.narrow(1, trained_middle + 1, trained - trained_middle)}, 1),
      grid_side(N, "vim"));
  return tokens + cat({grid.narrow(1, 0, middle), pos_embed.narrow(1, trained_middle, 1), grid.narrow(1, middle, N - middle)}, 1);
}

Tensor Vim::forward(const Tensor& images) {
  const nn::ModuleScope scope(this);
  Tensor x = embed(images);
  for (size_t i = 0; i < layers->size(); ++i) x = layers->at<ResidualBlock>(i)->forward(x);
  return head->forward(norm_f->forward(x.select(1, x.size(1) / 2)));  // the class token, at N/2
}

}  // namespace sieve::models
