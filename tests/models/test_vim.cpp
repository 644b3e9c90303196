// tests/models/test_vim.cpp — Vim (models/vim.h): the class token sits in the middle of the
// sequence; the bidirectional mixer equals the average of a forward and a reversed backward Mamba
// built by hand from its parameters (with the sequence reversed by an index built here); names as
// hustvl/Vim; gradients reach every parameter; a checkpoint round trip; a few steps of learning;
// a patch that does not divide the image is refused; position grids resized as torch's bilinear
// interpolate, and Vim and ViT run at other input sizes.
#include "models/positions.h"
#include "models/registry.h"
#include "models/vim.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/scan.h"
#include "tests/helpers.h"
#include "tests/models/round_trip.h"
#include "tests/models/sgd.h"

using namespace sieve;
using namespace sieve::models;

namespace {

Tensor flipped(const Tensor& seq) {  // (B, L, C) reversed along L, by an index built here
  std::vector<int64_t> back;
  for (int64_t i = seq.size(1) - 1; i >= 0; --i) back.push_back(i);
  return index_select(seq, 1, from_vector<int64_t>(back, {seq.size(1)}));
}

// One direction of Mamba over x (B, L, C) with gate z, from the given modules and tensors.
Tensor one_direction(const CausalConv1d& conv, nn::Linear& x_proj, nn::Linear& dt_proj, const Tensor& A_log,
                     const Tensor& D, const Tensor& x, const Tensor& z, int64_t R, int64_t N) {
  const Tensor xc = silu(conv1d_causal_depthwise(x, conv.weight.view({conv.weight.size(0), conv.weight.size(2)}), conv.bias));
  const Tensor dbc = x_proj.forward(xc);
  const Tensor delta = softplus(dt_proj.forward(dbc.narrow(2, 0, R)));
  return selective_scan(xc, delta, -exp(A_log), dbc.narrow(2, R, N), dbc.narrow(2, R + N, N), D, z);
}

}  // namespace

TEST_CASE("vim: the class token sits at N/2 of the sequence, with its position") {
  Generator gen(1);
  const Vim model(VimConfig{.image_size = 8, .patch = 2, .dim = 8, .depth = 1, .d_state = 2}, &gen);  // N = 16
  const Tensor tokens = model.embed(test::randn_leaf({2, 1, 8, 8}, 2, false, DType::f32));
  REQUIRE(tokens.shape() == Shape{2, 17, 8});
  const Tensor expected = model.cls_token.view({8}) + model.pos_embed.select(1, 8).view({8});
  CHECK_CLOSE(tokens.select(0, 1).select(0, 8), expected, 0.0, 0.0);
}

TEST_CASE("vim: the bidirectional mixer is (forward + reversed backward) / 2 of two hand-built Mambas") {
  Generator gen(3);
  BiMambaMixer mixer(/*dim=*/4, /*channels=*/6, /*d_state=*/3, /*dt_rank=*/2, /*d_conv=*/3, &gen);
  const Tensor u = test::randn_leaf({2, 7, 4}, 4, false, DType::f32);
  const Tensor xz = mixer.in_proj->forward(u);
  const Tensor x = xz.narrow(2, 0, 6), z = xz.narrow(2, 6, 6);
  const Tensor fwd = one_direction(*mixer.conv1d, *mixer.x_proj, *mixer.dt_proj, mixer.A_log, mixer.D, x, z, 2, 3);
  const Tensor bwd = one_direction(*mixer.conv1d_b, *mixer.x_proj_b, *mixer.dt_proj_b, mixer.A_b_log, mixer.D_b,
                                   flipped(x), flipped(z), 2, 3);
  const Tensor expected = mixer.out_proj->forward((fwd + flipped(bwd)) * 0.5);
  CHECK_CLOSE(mixer.forward(u), expected, 1e-5, 1e-5);
  // The two directions really differ, so the check above could not pass with one direction twice.
  CHECK(test::max_abs(fwd - flipped(bwd)) > 1e-3);
}

TEST_CASE("vim: names as hustvl/Vim, gradients to every parameter, a checkpoint round trip, learning") {
  const ModelSpec& spec = find_model("vim");
  const ModelConfig config =
      complete_config(spec, {{"dim", 8}, {"depth", 1}, {"d_state", 2}, {"image_size", 8}, {"patch", 2}});
  Generator gen(5);
  const ModelPtr model = spec.build(config, &gen);
  const auto state = model->state_dict();
  for (const char* name : {"patch_embed.proj.weight", "cls_token", "pos_embed", "layers.0.norm.weight",
                           "layers.0.mixer.in_proj.weight", "layers.0.mixer.conv1d.weight", "layers.0.mixer.conv1d_b.weight",
                           "layers.0.mixer.x_proj.weight", "layers.0.mixer.x_proj_b.weight",
                           "layers.0.mixer.dt_proj.bias", "layers.0.mixer.dt_proj_b.bias", "layers.0.mixer.A_log",
                           "layers.0.mixer.A_b_log", "layers.0.mixer.D", "layers.0.mixer.D_b",
                           "layers.0.mixer.out_proj.weight", "norm_f.weight", "head.weight"}) {
    CAPTURE(name);
    CHECK(state.count(name) == 1);
  }
  const Tensor images = test::randn_leaf({6, 1, 8, 8}, 6, false, DType::f32);
  const Tensor labels = from_vector<int64_t>({0, 1, 2, 3, 4, 5}, {6});
  cross_entropy(model->forward(images), labels).backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.name);
    REQUIRE(p.tensor.grad().defined());
    CHECK(test::max_abs(p.tensor.grad()) > 0);
  }
  model->zero_grad();

  const Tensor out = model->forward(images);
  CHECK_CLOSE(test::rebuilt_output(spec, config, *model, images), out, 0.0, 0.0);

  const auto [first, last] = test::sgd_losses(*model, images, labels, 15, 0.1f);
  CAPTURE(first);
  CHECK(last < 0.8 * first);

  CHECK(test::contains(test::error_of([&] { spec.build(complete_config(spec, {{"patch", 5}}), nullptr); }),
                       "patch 5 must divide image_size 28"));
}

TEST_CASE("positions: a grid of position embeddings resizes as torch's bilinear interpolate") {
  // torch.nn.functional.interpolate(arange(9).view(1, 1, 3, 3), size=(5, 5), mode="bilinear",
  // align_corners=False), and arange(16) from 4×4 down to 2×2.
  const Tensor grid3 = from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 9, 1});
  const std::vector<float> up{0.0f, 0.4f, 1.0f, 1.6f, 2.0f, 1.2f, 1.6f, 2.2f, 2.8f, 3.2f, 3.0f, 3.4f, 4.0f,
                              4.6f, 5.0f, 4.8f, 5.2f, 5.8f, 6.4f, 6.8f, 6.0f, 6.4f, 7.0f, 7.6f, 8.0f};
  CHECK_CLOSE(resize_grid_positions(grid3, 5), from_vector<float>(up, {1, 25, 1}), 1e-6, 1e-6);
  std::vector<float> sixteen(16);
  for (int i = 0; i < 16; ++i) sixteen[static_cast<size_t>(i)] = static_cast<float>(i);
  CHECK_CLOSE(resize_grid_positions(from_vector<float>(sixteen, {1, 16, 1}), 2),
              from_vector<float>({2.5f, 4.5f, 10.5f, 12.5f}, {1, 4, 1}), 1e-6, 1e-6);
  CHECK(resize_grid_positions(grid3, 3).same(grid3));  // the same size: the same tensor
  CHECK(test::contains(test::error_of([] { resize_grid_positions(zeros({1, 8, 2}), 4); }), "not form a square grid"));
}

TEST_CASE("vim and vit: another input size runs with resized positions; the class token keeps its own") {
  Generator gen(21);
  Vim vim(VimConfig{.image_size = 8, .patch = 2, .dim = 8, .depth = 1, .d_state = 2}, &gen);  // 4×4 patches
  const Tensor big = vim.embed(test::randn_leaf({1, 1, 16, 16}, 22, false, DType::f32));            // 8×8 patches
  REQUIRE(big.shape() == Shape{1, 65, 8});
  // Token 32 (the new middle) is the class token with the class token's own position.
  CHECK_CLOSE(big.select(1, 32), (vim.cls_token + vim.pos_embed.narrow(1, 8, 1)).select(1, 0), 0.0, 0.0);
  CHECK(vim.forward(test::randn_leaf({2, 1, 4, 4}, 23, false, DType::f32)).shape() == Shape{2, 10});  // 2×2 patches

  const ModelSpec& spec = find_model("vit");
  const ModelPtr vit = spec.build(complete_config(spec, {{"dim", 8}, {"depth", 1}, {"heads", 2}}), &gen);  // 7×7 patches
  CHECK(vit->forward(test::randn_leaf({2, 1, 56, 56}, 24, false, DType::f32)).shape() == Shape{2, 10});
  CHECK(vit->forward(test::randn_leaf({2, 1, 16, 16}, 25, false, DType::f32)).shape() == Shape{2, 10});
}
