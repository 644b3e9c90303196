// tests/nn/test_attention.cpp — PatchEmbed, MultiHeadAttention, TransformerBlock: shapes, timm
// state-dict names, PyTorch goldens loaded through load_state_dict, masks and CLS probabilities
// through the layer, a float64 gradcheck, errors, and a tiny training run whose loss falls.
#include <cmath>

#include "autograd/grad_mode.h"
#include "core/safetensors.h"
#include "nn/attention.h"
#include "nn/optim.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using namespace sieve::nn;

namespace {

// A module golden written by tests/golden/gen_attention.py: loads "<name>.param.*" with a strict
// load_state_dict (so the names must be PyTorch's), then compares the output and every gradient.
void check_module_golden(Module& m, const std::string& name, double tol) {
  INFO("golden attention/", name);
  const TensorMap all = load_safetensors(std::string(SIEVE_GOLDEN_DIR) + "/attention.safetensors").tensors;
  const std::string prefix = name + ".param.";
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : all)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = t;
  m.load_state_dict(state);
  auto golden = [&](const std::string& key) { return all.at(name + "." + key); };
  Tensor x = golden("in.x").clone().requires_grad_();
  Tensor out = m.forward(x);
  CHECK_CLOSE(out, golden("out"), tol, tol);
  m.zero_grad();
  out.backward(golden("gout"));
  CHECK_CLOSE(x.grad(), golden("grad.x"), tol, tol);
  for (const auto& p : m.named_parameters()) {
    INFO("gradient of ", p.name);
    CHECK_CLOSE(p.tensor.grad(), golden("grad." + p.name), tol, tol);
  }
}

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (const auto& p : m.named_parameters()) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_CASE("PatchEmbed: Conv2d-shaped weight, tokens out, equal to PyTorch's Conv2d") {
  manual_seed(1);
  PatchEmbed pe(3, 2, 8);
  CHECK(names_of(pe) == std::vector<std::string>{"proj.weight", "proj.bias"});
  CHECK(pe.proj->weight.shape() == Shape{8, 3, 2, 2});
  CHECK(pe.forward(zeros({5, 3, 8, 6})).shape() == Shape{5, 12, 8});
  check_module_golden(pe, "patch_embed", 1e-5);
  CHECK_THROWS_WITH_AS(pe.forward(zeros({5, 4, 8, 6})),
                       doctest::Contains("PatchConv2d(3, 8, patch 2): input float32 (5, 4, 8, 6) on cpu is not"),
                       Error);
  CHECK_THROWS_WITH_AS(pe.forward(zeros({5, 3, 7, 6})), doctest::Contains("unfold_patches: patch 2 must"), Error);
}

TEST_CASE("TransformerBlock: timm names in a ModuleList, and a PyTorch golden forward and backward") {
  manual_seed(2);
  ModuleList blocks;
  blocks.push_back(std::make_shared<TransformerBlock>(8, 2, 16));
  blocks.push_back(std::make_shared<TransformerBlock>(8, 2, 16));
  const std::vector<std::string> expected = {
      "0.norm1.weight",   "0.norm1.bias",    "0.attn.qkv.weight", "0.attn.qkv.bias",   "0.attn.proj.weight",
      "0.attn.proj.bias", "0.norm2.weight",  "0.norm2.bias",      "0.mlp.fc1.weight",  "0.mlp.fc1.bias",
      "0.mlp.fc2.weight", "0.mlp.fc2.bias"};
  auto names = names_of(blocks);
  REQUIRE(names.size() == 2 * expected.size());
  CHECK(std::vector<std::string>(names.begin(), names.begin() + 12) == expected);
  CHECK(names[13] == "1.norm1.bias");
  // Under a parent that names the list "blocks", the dotted names are timm's.
  struct Net : Module {
    std::shared_ptr<ModuleList> blocks;
    Net() : Module("Net") {
      blocks = register_module("blocks", std::make_shared<ModuleList>());
      blocks->push_back(std::make_shared<TransformerBlock>(8, 2, 16));
    }
  } net;
  CHECK(net.state_dict().count("blocks.0.attn.qkv.weight") == 1);
  CHECK(net.state_dict().at("blocks.0.attn.qkv.weight").shape() == Shape{24, 8});
  CHECK(net.state_dict().at("blocks.0.mlp.fc1.weight").shape() == Shape{16, 8});

  TransformerBlock block(8, 2, 16);
  CHECK(block.forward(zeros({3, 5, 8})).shape() == Shape{3, 5, 8});
  check_module_golden(block, "block", 2e-5);
}

TEST_CASE("MultiHeadAttention equals the one-matmul-and-split formulation; masks and CLS probs pass through") {
  manual_seed(3);
  const int64_t B = 2, L = 6, C = 12, H = 3, D = 4;
  MultiHeadAttention mha(C, H);
  CHECK(mha.head_dim == D);
  Tensor x = randn({B, L, C});
  Tensor mask = from_vector<int64_t>({0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0}, {B, L});
  for (bool causal : {false, true}) {
    INFO("causal ", causal);
    const AttentionOptions o{.causal = causal, .key_padding_mask = mask, .want_cls_probs = true};
    Tensor y = mha.forward(x, o);
    // timm's way: one qkv matmul, reshape to (B, L, 3, H, D), permute, then the same op.
    Tensor t = mha.qkv->forward(x).view({B, L, 3, H, D}).permute({2, 0, 3, 1, 4});
    AttentionOutput a = attention(t.select(0, 0), t.select(0, 1), t.select(0, 2), o);
    Tensor ref = mha.proj->forward(a.out.transpose(1, 2).reshape({B, L, C}));
    CHECK_CLOSE(y, ref, 1e-6, 1e-5);
    REQUIRE(mha.last_cls_probs.defined());
    CHECK(mha.last_cls_probs.shape() == Shape{B, L});
    CHECK_CLOSE(mha.last_cls_probs, a.cls_probs, 1e-6, 1e-5);
    CHECK(mha.last_cls_probs.to_vector<float>()[3] == 0.0f);  // padded key
  }
  mha.forward(x);
  CHECK_FALSE(mha.last_cls_probs.defined());  // only kept when asked for

  TransformerBlock block(C, H, 2 * C);
  block.forward(x, {.want_cls_probs = true});
  CHECK(block.attn->last_cls_probs.shape() == Shape{B, L});
  // No qkv bias (timm's qkv_bias=False); proj keeps its bias.
  MultiHeadAttention plain(C, H, 0.0, false);
  CHECK(names_of(plain) == std::vector<std::string>{"qkv.weight", "proj.weight", "proj.bias"});
  CHECK(plain.forward(x).shape() == Shape{B, L, C});
}

TEST_CASE("MultiHeadAttention: float64 gradcheck through the layer, and errors") {
  manual_seed(4);
  MultiHeadAttention mha(6, 2);
  Tensor x = test::randn_leaf({2, 4, 6}, 31), wqkv = test::randn_leaf({18, 6}, 32), bqkv = test::randn_leaf({18}, 33);
  Tensor wp = test::randn_leaf({6, 6}, 34), bp = test::randn_leaf({6}, 35);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        mha.qkv->weight = in[1], mha.qkv->bias = in[2], mha.proj->weight = in[3], mha.proj->bias = in[4];
        return mha.forward(in[0], {.causal = true});
      },
      {x, wqkv, bqkv, wp, bp});

  CHECK_THROWS_WITH_AS(MultiHeadAttention(10, 3), doctest::Contains("dim 10 must be a positive multiple of heads 3"),
                       Error);
  MultiHeadAttention ok(8, 2);
  CHECK_THROWS_WITH_AS(ok.forward(zeros({2, 3, 6})),
                       doctest::Contains("MultiHeadAttention(dim 8, heads 2): input float32 (2, 3, 6) on cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(ok.forward(zeros({2, 3, 8}), {.key_padding_mask = zeros({2, 4})}),
                       doctest::Contains("attention: key_padding_mask (2, 4) must be (B, Lk) = (2, 3)"), Error);
}

TEST_CASE("a tiny patch transformer learns to tell two image patterns apart") {
  // Class 0: the top half of an 8×8 image is bright; class 1: the bottom half. Plus noise.
  manual_seed(5);
  Generator gen(5);
  const int64_t N = 32;
  std::vector<float> pixels(N * 64);
  std::vector<int64_t> labels(N);
  Tensor noise = randn({N * 64}, {}, &gen);
  const auto nv = noise.to_vector<float>();
  for (int64_t n = 0; n < N; ++n) {
    labels[n] = n % 2;
    for (int64_t i = 0; i < 64; ++i) {
      const bool top = i < 32;
      pixels[n * 64 + i] = 0.5f * nv[n * 64 + i] + ((top == (labels[n] == 0)) ? 1.0f : 0.0f);
    }
  }
  Tensor images = from_vector<float>(pixels, {N, 1, 8, 8});
  Tensor target = from_vector<int64_t>(labels, {N});

  PatchEmbed embed(1, 4, 16, &gen);  // 4 tokens of width 16
  TransformerBlock b1(16, 2, 32, 0.0, 1e-6, &gen), b2(16, 2, 32, 0.0, 1e-6, &gen);
  Linear head(16, 2, true, &gen);
  std::vector<Tensor> params;
  for (Module* m : std::initializer_list<Module*>{&embed, &b1, &b2, &head})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  AdamW opt(params, {.lr = 3e-3, .weight_decay = 0.0});
  auto loss_of = [&] {
    Tensor h = b2.forward(b1.forward(embed.forward(images), {.want_cls_probs = true}));
    return cross_entropy(head.forward(mean(h, {1})), target);
  };
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = loss_of();
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
  }
  INFO("loss ", first, " → ", last);
  CHECK(std::isfinite(last));
  CHECK(last < 0.5 * first);
  CHECK(b1.attn->last_cls_probs.shape() == Shape{N, 4});
}
