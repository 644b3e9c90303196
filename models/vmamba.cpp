// models/vmamba.cpp — VMamba's SS2D, VSS block, patch merging and the model (see vmamba.h).
#include "models/vmamba.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "core/error.h"
#include "models/mamba.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "ops/shape.h"

namespace sieve::models {

std::vector<int64_t> ss2d_routes(int64_t K, int64_t H, int64_t W) {
  SIEVE_CHECK(K == 1 || K == 2 || K == 4, "ss2d: routes must be 1, 2 or 4, got {}", K);
  const int64_t L = H * W;
  std::vector<int64_t> order(static_cast<size_t>(K * L));
  for (int64_t i = 0; i < L; ++i) {
    const int64_t column_major = (i % H) * W + i / H;  // step i walks down column i / H
    order[i] = i;                                      // route 0: row-major
    if (K >= 2) order[L + i] = column_major;           // route 1: column-major
    if (K == 4) {
      order[2 * L + i] = L - 1 - i;                              // route 2: row-major, reversed
      order[3 * L + (L - 1 - i)] = column_major;                 // route 3: column-major, reversed
    }
  }
  return order;
}

namespace {

// The routes side by side, step-major: entry i·K + k is the position route k visits at step i, so
// gathering the map's rows by it lays the routes out as (B, L, K·C) — route k's channels at k·C of
// every step, the layout the one scan reads — with no copy after the gather.
std::vector<int64_t> ss2d_step_major(const std::vector<int64_t>& routes, int64_t K, int64_t L) {
  std::vector<int64_t> out(routes.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < L; ++i) out[i * K + k] = routes[k * L + i];
  return out;
}

// The way back: entry k·L + p is where, in the step-major (L·K) rows of the scan's output, route k
// wrote position p (i·K + k for the step i at which it visited p). Gathering by it and summing
// over k turns the routes back to the grid.
std::vector<int64_t> ss2d_merge(const std::vector<int64_t>& routes, int64_t K, int64_t L) {
  std::vector<int64_t> back(routes.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < L; ++i) back[k * L + routes[k * L + i]] = i * K + k;
  return back;
}

// x (B, H, W, C) → (B, H/2, W/2, 2C): each 2×2 neighbourhood's four vectors side by side, LayerNorm,
// Linear 4C → 2C (no bias); as VMamba's PatchMerging2D (its odd sizes are padded: one zero row or column).
class PatchMerging2D : public nn::Module {
 public:
  PatchMerging2D(int64_t dim, Generator* gen) : Module("PatchMerging2D") {
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(4 * dim));
    reduction = register_module("reduction", std::make_shared<nn::Linear>(4 * dim, 2 * dim, /*bias=*/false, gen));
  }
  Tensor forward(const Tensor& x) override {
    const nn::ModuleScope scope(this);
    Tensor m = x;
    const int64_t H = x.size(1), W = x.size(2);
    if (H % 2 == 1) m = cat({m, zeros_like(m.narrow(1, 0, 1))}, 1);
    if (W % 2 == 1) m = cat({m, zeros_like(m.narrow(2, 0, 1))}, 2);
    const int64_t h2 = m.size(1);
    const int64_t w2 = m.size(2);
    auto pick = [&](int64_t i, int64_t j) { return m.slice(1, i, h2, 2).slice(2, j, w2, 2); };
    return reduction->forward(norm->forward(cat({pick(0, 0), pick(1, 0), pick(0, 1), pick(1, 1)}, 3)));
  }
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> reduction;
};

// x (B, H, W, D) → x + SS2D(norm(x)) [+ mlp(norm2(·))]
class VSSBlock : public nn::Module {
 public:
  VSSBlock(int64_t dim, const VMambaConfig& c, Generator* gen) : Module("VSSBlock") {
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(dim));
    op = register_module("op", std::make_shared<SS2D>(dim, c.ssm_ratio * dim, c.d_state,
                                                     c.dt_rank > 0 ? c.dt_rank : (dim + 15) / 16, c.routes, gen));
    if (c.mlp_ratio > 0) {
      norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(dim));
      mlp = register_module("mlp", std::make_shared<nn::MLP>(dim, c.mlp_ratio * dim, -1, GeluApprox::none, 0.0, gen));
    }
  }
  Tensor forward(const Tensor& x) override {
    const nn::ModuleScope scope(this);
    Tensor out = x + op->forward(norm->forward(x));
    if (mlp) out = out + mlp->forward(norm2->forward(out));
    return out;
  }
  std::shared_ptr<nn::LayerNorm> norm, norm2;
  std::shared_ptr<SS2D> op;
  std::shared_ptr<nn::MLP> mlp;
};

// The classifier: LayerNorm, mean over the map, Linear (VMamba's classifier.norm / .head).
class Classifier : public nn::Module {
 public:
  Classifier(int64_t width, int64_t classes, Generator* gen) : Module("Classifier") {
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(width));
    head = register_module("head", std::make_shared<nn::Linear>(width, classes, /*bias=*/true, gen));
  }
  Tensor forward(const Tensor& x) override {  // (B, H, W, width) → (B, classes)
    const nn::ModuleScope scope(this);
    return head->forward(mean(norm->forward(x), {1, 2}));
  }
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

// A stage: its blocks, then (but for the last stage) the merge to half the size and twice the width.
class VSSStage : public nn::Module {
 public:
  VSSStage(int64_t dim, int64_t depth, bool merge, const VMambaConfig& c, Generator* gen) : Module("VSSStage") {
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < depth; ++i) blocks->push_back(std::make_shared<VSSBlock>(dim, c, gen));
    if (merge) downsample = register_module("downsample", std::make_shared<PatchMerging2D>(dim, gen));
  }
  Tensor forward(const Tensor& x) override {
    const nn::ModuleScope scope(this);
    Tensor h = x;
    for (size_t i = 0; i < blocks->size(); ++i) h = (*blocks)[i]->forward(h);
    return downsample ? downsample->forward(h) : h;
  }
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<PatchMerging2D> downsample;
};

}  // namespace

// ---- DepthwiseConv2d ----

DepthwiseConv2d::DepthwiseConv2d(int64_t channels, int64_t kernel, Generator* gen) : Module("DepthwiseConv2d") {
  SIEVE_CHECK(channels > 0 && kernel > 0 && kernel % 2 == 1,
              "DepthwiseConv2d: channels must be positive and kernel odd, got {} and {}", channels, kernel);
  // As torch.nn.Conv2d(C, C, k, padding=k/2, groups=C): weight (C, 1, k, k), kaiming_uniform(a=√5)
  // → U(±1/k); bias U(±1/k) (fan-in k²).
  weight = register_parameter("weight", empty({channels, 1, kernel, kernel}));
  nn::init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
  bias = register_parameter("bias", empty({channels}));
  nn::init::uniform_(bias, -1.0 / static_cast<double>(kernel), 1.0 / static_cast<double>(kernel), gen);
}

Tensor DepthwiseConv2d::forward(const Tensor& x) {  // (B, H, W, C) → (B, H, W, C)
  const nn::ModuleScope scope(this);
  return conv2d_depthwise(x, weight.view({weight.size(0), weight.size(2), weight.size(3)}), bias);
}

// ---- SS2D ----

SS2D::SS2D(int64_t dim, int64_t c, int64_t n, int64_t r, int64_t k, Generator* gen)
    : Module("SS2D"), channels(c), d_state(n), dt_rank(r), routes(k) {
  SIEVE_CHECK(k == 1 || k == 2 || k == 4, "vmamba: routes must be 1, 2 or 4, got {}", k);
  in_proj = register_module("in_proj", std::make_shared<nn::Linear>(dim, 2 * c, /*bias=*/false, gen));
  conv2d = register_module("conv2d", std::make_shared<DepthwiseConv2d>(c, 3, gen));
  // Each route's x_proj, dt_proj, A_log and D drawn as one Mamba mixer's (models/mamba.h), stacked.
  std::vector<Tensor> xw, dw, db, al, d;
  for (int64_t i = 0; i < k; ++i) {
    const SelectiveSSM route(c, n, r, gen);
    xw.push_back(route.x_proj->weight.detach());   // (R + 2N, Ci)
    dw.push_back(route.dt_proj->weight.detach());  // (Ci, R)
    db.push_back(route.dt_proj->bias.detach());    // (Ci)
    al.push_back(route.A_log.detach());            // (Ci, N)
    d.push_back(route.D.detach());                 // (Ci)
  }
  {
    NoGradGuard no_grad;
    x_proj_weight = register_parameter("x_proj_weight", stack(xw, 0));
    dt_projs_weight = register_parameter("dt_projs_weight", stack(dw, 0));
    dt_projs_bias = register_parameter("dt_projs_bias", stack(db, 0), /*no_weight_decay=*/true);
    A_logs = register_parameter("A_logs", cat(al, 0), /*no_weight_decay=*/true);
    Ds = register_parameter("Ds", cat(d, 0), /*no_weight_decay=*/true);
  }
  out_norm = register_module("out_norm", std::make_shared<nn::LayerNorm>(c));
  out_proj = register_module("out_proj", std::make_shared<nn::Linear>(c, dim, /*bias=*/false, gen));
}

Tensor SS2D::forward(const Tensor& x) {  // (B, H, W, D) → (B, H, W, D)
  const nn::ModuleScope scope(this);
  const Tensor xz = in_proj->forward(x);  // (B, H, W, 2Ci)
  const Tensor y = scan_routes(silu(conv2d->forward(xz.narrow(3, 0, channels))));
  return out_proj->forward(out_norm->forward(y) * silu(xz.narrow(3, channels, channels)));
}

Tensor SS2D::scan_routes(const Tensor& x) const {  // (B, H, W, Ci) → (B, H, W, Ci)
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = channels, K = routes, L = H * W;
  const int64_t R = dt_rank, N = d_state;
  const std::vector<int64_t> order = ss2d_routes(K, H, W);
  const Tensor gather_index = from_vector<int64_t>(ss2d_step_major(order, K, L), {L * K}, x.device());
  const Tensor merge_index = from_vector<int64_t>(ss2d_merge(order, K, L), {K * L}, x.device());

  // The routes, step-major: (B, L, K·C), the scan's own layout.
  const Tensor xs = index_select(x.reshape({B, L, C}), 1, gather_index).view({B, L, K * C});
  // Every route's projections as one product batched over k, reading xs in place: the (K, B·L, C)
  // view's rows are K·C apart, which BLAS takes as a leading dimension (no copy, and a batch of K
  // products, not a product broadcast over the batch, whose backward would sum B weight gradients).
  const Tensor x_routes = xs.view({B * L, K, C}).transpose(0, 1);  // (K, B·L, C)
  const Tensor dbc = matmul(x_routes, x_proj_weight.transpose(1, 2));  // (K, B·L, R + 2N)
  const Tensor dts = matmul(dbc.narrow(2, 0, R), dt_projs_weight.transpose(1, 2)) + dt_projs_bias.view({K, 1, C});
  // One scan over K·C channels, route k's channels reading its own B and C (group k).
  auto channels_last = [&](const Tensor& t) {  // (K, B·L, W) → (B, L, K, W)
    return t.view({K, B, L, t.size(2)}).permute({1, 2, 0, 3});
  };
  const Tensor y = selective_scan(xs, channels_last(softplus(dts)).reshape({B, L, K * C}), -exp(A_logs),
                                  channels_last(dbc.narrow(2, R, N)).contiguous(),      // (B, L, K, N)
                                  channels_last(dbc.narrow(2, R + N, N)).contiguous(),  // (B, L, K, N)
                                  Ds);                                                  // (B, L, K·C)
  // Back to the grid: each route's outputs in row-major order, summed over the routes.
  return sum(index_select(y.view({B, L * K, C}), 1, merge_index).view({B, K, L, C}), {1}).view({B, H, W, C});
}

// ---- VMamba ----

VMamba::VMamba(const VMambaConfig& c, Generator* gen) : Module("VMamba"), config(c) {
  SIEVE_CHECK(c.patch > 0 && c.image_size % c.patch == 0, "vmamba: patch {} must divide image_size {}", c.patch,
              c.image_size);
  SIEVE_CHECK(!c.depths.empty(), "vmamba: depths must name at least one stage");
  SIEVE_CHECK(c.routes == 1 || c.routes == 2 || c.routes == 4, "vmamba: routes must be 1, 2 or 4, got {}", c.routes);
  patch_embed = register_module("patch_embed", std::make_shared<nn::PatchEmbed>(c.in_channels, c.patch, c.dim, gen));
  patch_norm = register_module("patch_norm", std::make_shared<nn::LayerNorm>(c.dim));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  int64_t width = c.dim;
  for (size_t s = 0; s < c.depths.size(); ++s) {
    const bool merge = s + 1 < c.depths.size();
    layers->push_back(std::make_shared<VSSStage>(width, c.depths[s], merge, c, gen));
    if (merge) width *= 2;
  }
  classifier = register_module("classifier", std::make_shared<Classifier>(width, c.num_classes, gen));
}

Tensor VMamba::forward(const Tensor& images) {
  const nn::ModuleScope scope(this);
  const int64_t B = images.size(0), side = images.size(2) / config.patch, across = images.size(3) / config.patch;
  Tensor x = patch_norm->forward(patch_embed->forward(images)).view({B, side, across, config.dim});
  for (size_t s = 0; s < layers->size(); ++s) x = (*layers)[s]->forward(x);
  return classifier->forward(x);  // (B, classes)
}

}  // namespace sieve::models
