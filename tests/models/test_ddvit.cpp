// tests/models/test_ddvit.cpp — DD-ViT: exit names, per-sample depth under each policy (checked
// against running the blocks by hand and against each sample alone), the summed exit loss,
// learning, the token-entropy rule and its calibration surviving a checkpoint.
//
// Sizes are tiny (8×8 images, patch 4 → 4 patches + CLS, dim 16, depth 3, 3 classes) so the whole
// file runs in well under a second. Extend: a new policy gets a case comparing it with the blocks
// run by hand, as the entropy case does.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "autograd/grad_mode.h"
#include "models/ddvit.h"
#include "models/registry.h"
#include "nn/checkpoint.h"
#include "ops/copy.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include "tests/helpers.h"
#include "tests/models/sgd.h"

using namespace sieve;
using models::DepthPolicy;
using models::DynamicDepthViT;

namespace {

constexpr int64_t kDepth = 3;

models::VitConfig tiny_config() {
  return {.in_channels = 1, .image_size = 8, .patch = 4, .dim = 16, .depth = kDepth, .heads = 2, .mlp_hidden = 32,
          .num_classes = 3};
}

std::shared_ptr<DynamicDepthViT> tiny_model(uint64_t seed = 11) {
  Generator gen(seed);
  return std::make_shared<DynamicDepthViT>(tiny_config(), &gen);
}

// Tokens after the first `blocks` blocks, run by hand on the whole batch: (B, 1+N, D).
Tensor tokens_after(const DynamicDepthViT& m, const Tensor& images, int64_t blocks) {
  Tensor x = m.embed(images);
  for (int64_t n = 0; n < blocks; ++n) x = m.blocks->at<nn::TransformerBlock>(static_cast<size_t>(n))->forward(x);
  return x;
}

Tensor images(int64_t batch, uint64_t seed) { return test::randn_leaf({batch, 1, 8, 8}, seed, false, DType::f32); }

}  // namespace

TEST_CASE("ddvit: the ViT's backbone names, one exit per block, 'exits.' as the head prefix") {
  auto m = tiny_model();
  std::set<std::string> names;
  for (const auto& p : m->named_parameters()) names.insert(p.name);
  for (const char* name : {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.2.attn.qkv.weight",
                           "exits.0.norm.weight", "exits.0.norm.bias", "exits.0.head.weight", "exits.2.head.bias"}) {
    CAPTURE(name);
    CHECK(names.contains(name));
  }
  CHECK_FALSE(names.contains("norm.weight"));  // no separate final classifier: it is exits.2
  CHECK_FALSE(names.contains("head.weight"));
  CHECK_FALSE(names.contains("exits.3.head.weight"));
  CHECK(m->state_dict().at("exits.1.head.weight").shape() == Shape{3, 16});
  CHECK(m->state_dict().at("exits.1.norm.weight").shape() == Shape{16});
  CHECK(m->state_dict().at("entropy_range").shape() == Shape{2});

  // The backbone is the ViT's: the same seed draws the same backbone weights.
  Generator gen(11);
  models::VisionTransformer vit(tiny_config(), &gen);
  CHECK_CLOSE(vit.blocks->at<nn::TransformerBlock>(2)->attn->qkv->weight,
              m->blocks->at<nn::TransformerBlock>(2)->attn->qkv->weight, 0.0, 0.0);
  CHECK(test::contains(test::error_of([&] { m->classify(m->embed(images(2, 1))); }), "built without the final"));

  const models::ModelSpec& spec = models::find_model("ddvit");
  CHECK(spec.head_prefix == "exits.");
  for (const auto& p : m->named_parameters())
    if (p.name.find("exits") != std::string::npos) CHECK(p.name.starts_with(spec.head_prefix));
  const models::ModelConfig c = models::complete_config(spec, {{"depth", 2}, {"threshold", 1}});
  CHECK(c.get_string("policy") == "exit");
  CHECK(c.get_float("threshold") == 1.0);
  auto built = std::dynamic_pointer_cast<DynamicDepthViT>(spec.build(c, nullptr));
  REQUIRE(built != nullptr);
  CHECK(built->exits->size() == 2);
  CHECK(built->threshold == 1.0);
  CHECK(test::contains(test::error_of([&] { spec.build(models::complete_config(spec, {{"policy", "deep"}}), nullptr); }),
                       "unknown policy 'deep' (known: exit, entropy, full)"));
}

TEST_CASE("ddvit: τ = 0 — every sample leaves after block 0 with exit 0's logits") {
  auto m = tiny_model();
  m->eval();
  m->threshold = 0.0;
  const Tensor x = images(5, 2);
  const Tensor out = m->forward(x);
  CHECK(m->last_depths == std::vector<int64_t>(5, 1));
  CHECK_CLOSE(out, m->exit_logits(0, tokens_after(*m, x, 1)), 1e-6, 1e-5);
}

TEST_CASE("ddvit: τ > 1 — every block runs: the full policy's and the training-mode last exit's logits") {
  auto m = tiny_model();
  const Tensor x = images(5, 3);
  const Tensor y = from_vector<int64_t>({0, 1, 2, 0, 1}, {5});
  m->eval();
  m->threshold = 1.5;
  const Tensor out = m->forward(x);
  CHECK(m->last_depths == std::vector<int64_t>(5, kDepth));
  CHECK_CLOSE(out, m->exit_logits(kDepth - 1, tokens_after(*m, x, kDepth)), 1e-6, 1e-5);

  m->policy = DepthPolicy::full;
  m->threshold = 0.0;  // ignored by the full policy
  CHECK_CLOSE(m->forward(x), out, 1e-6, 1e-5);
  CHECK(m->last_depths == std::vector<int64_t>(5, kDepth));

  m->train();  // dropout is 0, so training mode computes the same numbers
  CHECK_CLOSE(m->forward(x), out, 1e-6, 1e-5);
  CHECK_CLOSE(m->training_step(x, y).logits, out, 1e-6, 1e-5);
}

TEST_CASE("ddvit: exit policy on a mixed batch — each sample gets the logits and depth it gets alone") {
  auto m = tiny_model();
  m->eval();
  const int64_t batch = 8;
  const Tensor x = images(batch, 4);
  // τ halfway between two neighbouring exit-0 confidences: about half the batch leaves at once,
  // and no sample sits on the threshold where rounding could flip its decision.
  std::vector<double> top0 = max(softmax(m->exit_logits(0, tokens_after(*m, x, 1)), -1), {-1}).to_vector<double>();
  std::vector<double> sorted = top0;
  std::sort(sorted.begin(), sorted.end());
  m->threshold = 0.5 * (sorted[batch / 2 - 1] + sorted[batch / 2]);

  const Tensor out = m->forward(x);
  const std::vector<int64_t> depths = m->last_depths;
  REQUIRE(depths.size() == static_cast<size_t>(batch));
  CHECK(std::set<int64_t>(depths.begin(), depths.end()).size() >= 2);  // really mixed
  for (int64_t i = 0; i < batch; ++i) {
    CAPTURE(i);
    const size_t k = static_cast<size_t>(i);
    CHECK((depths[k] == 1) == (top0[k] >= m->threshold));
    CHECK(depths[k] >= 1);
    CHECK(depths[k] <= kDepth);
    const Tensor alone = m->forward(x.narrow(0, i, 1));
    CHECK(m->last_depths == std::vector<int64_t>{depths[k]});
    CHECK_CLOSE(alone, out.narrow(0, i, 1), 1e-5, 1e-4);
    // ... and those are the logits of its own exit after its own number of blocks.
    CHECK_CLOSE(out.narrow(0, i, 1), m->exit_logits(depths[k] - 1, tokens_after(*m, x.narrow(0, i, 1), depths[k])),
                1e-5, 1e-4);
  }
}

TEST_CASE("ddvit: the training loss is the sum of every exit's cross-entropy, and reaches every exit") {
  auto m = tiny_model();
  m->train();
  const Tensor x = images(6, 5);
  const Tensor y = from_vector<int64_t>({2, 1, 0, 0, 1, 2}, {6});
  const models::StepOutput step = m->training_step(x, y);
  double by_hand = 0;
  {
    NoGradGuard no_grad;
    for (int64_t n = 0; n < kDepth; ++n) by_hand += cross_entropy(m->exit_logits(n, tokens_after(*m, x, n + 1)), y).item();
  }
  CHECK(step.loss.item() == doctest::Approx(by_hand).epsilon(1e-5));
  CHECK(step.logits.shape() == Shape{6, 3});
  step.loss.backward();
  for (int64_t n = 0; n < kDepth; ++n) {
    const Tensor g = m->exits->at<models::ExitClassifier>(static_cast<size_t>(n))->head->weight.grad();
    REQUIRE(g.defined());
    CHECK(max(g.to(DType::f64)).item() > 0);
  }
}

TEST_CASE("ddvit: a few SGD steps on the summed exit loss lower it") {
  auto m = tiny_model(7);
  m->train();
  const Tensor x = images(6, 8);
  const Tensor y = from_vector<int64_t>({0, 1, 2, 0, 1, 2}, {6});
  const auto [first, last] = test::sgd_losses(*m, [&] { return m->training_step(x, y).loss; }, 40, 0.05f);
  CHECK(last < 0.5 * first);
}

TEST_CASE("ddvit: token entropy is the 256-bin histogram entropy in bits, per sample") {
  // Sample 0: one value (0 bits); sample 1: 256 evenly spaced values (one per bin, 8 bits);
  // sample 2: half zeros, half ones (1 bit).
  std::vector<float> v(3 * 16 * 16);
  for (size_t i = 0; i < 256; ++i) {
    v[i] = 5.0f;
    v[256 + i] = static_cast<float>(i);
    v[512 + i] = i < 128 ? 0.0f : 1.0f;
  }
  const std::vector<double> bits = DynamicDepthViT::token_entropy_bits(from_vector<float>(v, {3, 16, 16}));
  REQUIRE(bits.size() == 3);
  CHECK(bits[0] == 0.0);
  CHECK(bits[1] == doctest::Approx(8.0));
  CHECK(bits[2] == doctest::Approx(1.0));
}

TEST_CASE("ddvit: entropy policy — flat images run shallow, noise deep, each as if alone; uncalibrated is an error") {
  auto m = tiny_model();
  m->eval();
  m->policy = DepthPolicy::entropy;
  // Without CLS and position vectors a flat image's tokens take D + 1 values (one per channel,
  // and CLS's zeros), a low entropy; with them every token would differ by its position's noise.
  {
    NoGradGuard no_grad;
    fill_(m->cls_token, 0.0);
    fill_(m->pos_embed, 0.0);
  }
  const Tensor noise = images(6, 9);
  std::vector<Tensor> flats;
  for (int i = 0; i < 6; ++i) flats.push_back(full({1, 1, 8, 8}, -1.0 + 0.4 * i));
  const Tensor flat = cat(flats, 0);

  CHECK_FALSE(m->entropy_calibrated());
  CHECK(test::contains(test::error_of([&] { m->forward(noise); }), "calibrate_entropy"));

  m->calibrate_entropy(cat({flat, noise}, 0), /*chunk=*/5);
  REQUIRE(m->entropy_calibrated());
  const std::vector<double> range = m->entropy_range.to_vector<double>();
  CHECK(range[0] < range[1]);

  // Interleave flat and noise images, so the groups that leave are not contiguous.
  const Tensor x = cat({flat.narrow(0, 0, 1), noise.narrow(0, 0, 2), flat.narrow(0, 1, 1), noise.narrow(0, 2, 1)}, 0);
  const Tensor out = m->forward(x);
  CHECK(m->last_depths == std::vector<int64_t>{1, kDepth, kDepth, 1, kDepth});
  const std::vector<int64_t> planned = m->entropy_depths(m->embed(x));
  CHECK(planned == m->last_depths);
  for (int64_t i = 0; i < x.size(0); ++i) {
    CAPTURE(i);
    const int64_t d = m->last_depths[static_cast<size_t>(i)];
    CHECK_CLOSE(out.narrow(0, i, 1), m->exit_logits(d - 1, tokens_after(*m, x.narrow(0, i, 1), d)), 1e-5, 1e-4);
  }
  // Any batch: depths within 1..depth.
  m->forward(images(16, 10));
  for (int64_t d : m->last_depths) CHECK((d >= 1 && d <= kDepth));
}

TEST_CASE("ddvit: training with the entropy policy keeps a running entropy range") {
  auto m = tiny_model();
  m->policy = DepthPolicy::entropy;
  const Tensor x = images(8, 12);
  const Tensor y = from_vector<int64_t>({0, 1, 2, 0, 1, 2, 0, 1}, {8});
  m->eval();
  m->training_step(x, y);  // evaluation mode: the range is left alone (as BatchNorm's statistics)
  CHECK_FALSE(m->entropy_calibrated());
  m->train();
  m->training_step(x, y);
  REQUIRE(m->entropy_calibrated());
  const std::vector<double> first = m->entropy_range.to_vector<double>();
  auto twin = tiny_model();
  twin->calibrate_entropy(x);  // the same weights and images: the batch's own percentiles
  CHECK_CLOSE(m->entropy_range, twin->entropy_range, 1e-6, 1e-6);
  m->eval();
  m->forward(x);  // usable at once
  CHECK(m->last_depths.size() == 8);
  CHECK(first[0] <= first[1]);
}

TEST_CASE("ddvit: a checkpoint keeps the calibrated entropy range and the policy") {
  test::TempDir dir;
  const models::ModelSpec& spec = models::find_model("ddvit");
  const models::ModelConfig config = models::complete_config(
      spec, {{"image_size", 8}, {"dim", 16}, {"depth", 3}, {"heads", 2}, {"mlp_hidden", 32}, {"policy", "entropy"}});
  Generator gen(3);
  auto model = std::dynamic_pointer_cast<DynamicDepthViT>(spec.build(config, &gen));
  REQUIRE(model != nullptr);
  const Tensor x = images(6, 13);
  model->calibrate_entropy(x);
  model->eval();
  const Tensor out = model->forward(x);

  nn::Checkpoint ckpt;
  ckpt.model = spec.name;
  ckpt.config = config.values();
  ckpt.weights = model->state_dict();
  nn::save_checkpoint(dir / "ddvit.safetensors", ckpt);

  const nn::Checkpoint loaded = nn::load_checkpoint(dir / "ddvit.safetensors");
  auto again = std::dynamic_pointer_cast<DynamicDepthViT>(
      spec.build(models::complete_config(spec, loaded.config), nullptr));
  REQUIRE(again != nullptr);
  CHECK_FALSE(again->entropy_calibrated());
  again->load_state_dict(loaded.weights);
  CHECK(again->policy == DepthPolicy::entropy);
  CHECK_CLOSE(again->entropy_range, model->entropy_range, 0.0, 0.0);
  again->eval();
  CHECK_CLOSE(again->forward(x), out, 0.0, 0.0);
  CHECK(again->last_depths == model->last_depths);
}
