// tests/models/test_clip.cpp — CLIP: the contrastive loss against hand-computed numbers, against
// CLIP's own loss when every class in the batch differs, and under gradcheck; the logit-scale
// clamp (NaN passes through, never hidden); the byte text encoder's end-token pooling; zero-shot
// logits; template draws that follow the default generator; and a tiny model that learns to match
// two kinds of images with their captions.
//
// Sizes are tiny (8×8 images at patch 2 → 16 tokens, widths 16, embeddings 8). Extend: a new loss
// option gets a hand-computed case here.
#include <cmath>

#include "autograd/grad_mode.h"
#include "models/clip.h"
#include "models/registry.h"
#include "nn/optim.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tests/helpers.h"

using namespace sieve;
using models::ClipConfig;
using models::ClipModel;
using models::clip_loss;

namespace {

ClipConfig tiny_config() {
  ClipConfig c;
  c.vision = {.in_channels = 1, .image_size = 8, .patch = 2, .dim = 16, .depth = 1, .heads = 2, .mlp_hidden = 32};
  c.text_dim = 16;
  c.text_depth = 1;
  c.text_heads = 2;
  c.text_mlp_hidden = 32;
  c.context = 24;
  c.embed_dim = 8;
  return c;
}

// Two kinds of 8×8 images: class 0 lights the top rows, class 1 the bottom rows (plus noise).
Tensor two_kinds(const std::vector<int64_t>& labels, uint64_t seed) {
  Generator gen(seed);
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<float> pixels = (rand({n, 1, 8, 8}, {}, &gen) * 0.3).to_vector<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 8; ++c) pixels[static_cast<size_t>(i * 64 + (labels[i] == 0 ? r : r + 4) * 8 + c)] += 1;
  return from_vector<float>(pixels, {n, 1, 8, 8});
}

}  // namespace

TEST_CASE("clip_loss: a case computed by hand, with and without same-class positives") {
  const Tensor unit = from_vector<double>({1, 0, 0, 1}, {2, 2});
  const Tensor scale = scalar(0.0, {.dtype = DType::f64});  // exp(0) = 1: logits are the identity
  const Tensor distinct = from_vector<int64_t>({0, 1}, {2}), same = from_vector<int64_t>({0, 0}, {2});
  // One positive per row: −log(e / (e + 1)) = log(1 + e^−1) for every row, both directions.
  CHECK(clip_loss(unit, unit, distinct, scale, false).item() == doctest::Approx(std::log1p(std::exp(-1.0))));
  CHECK(clip_loss(unit, unit, distinct, scale, true).item() == doctest::Approx(std::log1p(std::exp(-1.0))));
  // Both texts positive for both images, each weighted 1/2: log(e + 1) − 1/2.
  CHECK(clip_loss(unit, unit, same, scale, true).item() == doctest::Approx(std::log(std::exp(1.0) + 1) - 0.5));
  // Embeddings are normalised first: scaling one changes nothing.
  CHECK(clip_loss(unit * 3.0, unit, same, scale, true).item() == doctest::Approx(std::log(std::exp(1.0) + 1) - 0.5));
}

TEST_CASE("clip_loss: equals CLIP's loss when the classes in the batch all differ, not when some repeat") {
  const Tensor images = test::randn_leaf({6, 4}, 1, false), texts = test::randn_leaf({6, 4}, 2, false);
  const Tensor scale = scalar(2.5, {.dtype = DType::f64});
  const Tensor distinct = from_vector<int64_t>({3, 0, 5, 1, 4, 2}, {6});
  CHECK(clip_loss(images, texts, distinct, scale, true).item() ==
        doctest::Approx(clip_loss(images, texts, distinct, scale, false).item()).epsilon(1e-12));
  const Tensor repeated = from_vector<int64_t>({0, 1, 0, 2, 1, 0}, {6});
  CHECK(std::abs(clip_loss(images, texts, repeated, scale, true).item() -
                 clip_loss(images, texts, repeated, scale, false).item()) > 1e-3);
}

TEST_CASE("gradcheck: clip_loss into both embeddings and the logit scale") {
  const Tensor labels = from_vector<int64_t>({0, 1, 0, 2}, {4});
  for (bool positives : {true, false}) {
    INFO("class_positives " << positives);
    CHECK_GRADCHECK([&](auto& in) { return clip_loss(in[0], in[1], labels, in[2], positives); },
                    {test::randn_leaf({4, 3}, 3), test::randn_leaf({4, 3}, 4), scalar(1.2, {.dtype = DType::f64}).requires_grad_()});
  }
}

TEST_CASE("clip: the logit scale starts at ln(1/0.07) and is clamped to [0, ln 100] after a step") {
  Generator gen(1);
  ClipModel model(tiny_config(), &gen);
  CHECK(model.logit_scale.item() == doctest::Approx(std::log(1 / 0.07)));
  NoGradGuard no_grad;  // for the test's own fill_ on the parameter
  CHECK(model.step_figures().at(0).first == "scale");
  CHECK(model.step_figures().at(0).second == doctest::Approx(1 / 0.07));
  fill_(model.logit_scale, 5.0);
  model.after_step();
  CHECK(model.logit_scale.item() == doctest::Approx(std::log(100.0)));
  fill_(model.logit_scale, -1.0);
  model.after_step();
  CHECK(model.logit_scale.item() == 0.0);
  fill_(model.logit_scale, 1.0);
  model.after_step();
  CHECK(model.logit_scale.item() == 1.0);  // inside the range: untouched
  fill_(model.logit_scale, std::nan(""));
  model.after_step();
  CHECK(std::isnan(model.logit_scale.item()));  // a NaN stays visible
}

TEST_CASE("clip text encoder: the end token's features, whatever pads the row after it") {
  Generator gen(2);
  ClipModel model(tiny_config(), &gen);
  const EncodedTexts enc = encode_texts({"a cat", "the digit 7"}, 24, "test");
  const Tensor full = model.text->encode(enc.tokens, enc.ends);
  CHECK(full.shape() == Shape{2, 8});
  // Causal attention: tokens after the end never reach it, so a shorter row gives the same features.
  CHECK_CLOSE(model.text->encode(enc.tokens.narrow(1, 0, 13).contiguous(), enc.ends), full, 1e-6, 1e-5);
  Tensor other_pad = enc.tokens.clone();
  fill_(other_pad.narrow(1, 20, 4), 65.0);
  CHECK_CLOSE(model.text->encode(other_pad, enc.ends), full, 1e-6, 1e-5);
  CHECK_CLOSE(model.text->forward(enc.tokens), full, 0, 0);  // ends found from the tokens
  CHECK_THROWS_WITH_AS(model.text->forward(full_like(enc.tokens, 65.0)), doctest::Contains("no end token"), Error);
}

TEST_CASE("clip: zero-shot logits over the classes' texts, 100 × cosine") {
  Generator gen(3);
  ClipModel model(tiny_config(), &gen);
  model.eval();
  const Tensor images = two_kinds({0, 1, 1}, 4);
  CHECK_THROWS_WITH_AS(model.forward(images), doctest::Contains("no classes"), Error);
  model.set_zero_shot_texts({{"up"}, {"down", "below", "low"}});
  const Tensor classes = model.class_embeddings({{"up"}, {"down", "below", "low"}});
  CHECK(classes.shape() == Shape{2, 8});
  CHECK_CLOSE(sum(classes * classes, {-1}), ones({2}), 1e-6, 1e-6);
  const Tensor logits = model.forward(images);
  CHECK(logits.shape() == Shape{3, 2});
  CHECK(max(abs(logits)).item() <= 100.0 + 1e-3);
  const Tensor image = models::l2_normalize(model.encode_images(images));
  CHECK_CLOSE(logits, matmul(image, classes.t()) * 100.0, 1e-4, 1e-5);
}

TEST_CASE("clip: training captions are drawn from the default generator, so a seed repeats them") {
  Generator gen(5);
  ClipModel model(tiny_config(), &gen);
  model.set_training_texts({{"up", "the top", "above"}, {"down", "the bottom", "below"}});
  model.set_zero_shot_texts({{"high"}, {"low"}});
  const std::vector<int64_t> y = {0, 1, 0, 1, 1, 0};
  const Tensor images = two_kinds(y, 6), labels = from_vector<int64_t>(y, {6});
  manual_seed(42);
  const models::StepOutput a = model.training_step(images, labels);
  manual_seed(42);
  const models::StepOutput b = model.training_step(images, labels);
  CHECK(a.loss.item() == b.loss.item());
  CHECK(a.logits.shape() == Shape{6, 2});
  CHECK_FALSE(a.logits.requires_grad());
  CHECK(std::isfinite(a.loss.item()));
  CHECK_THROWS_WITH_AS(model.training_step(images, from_vector<int64_t>({0, 1, 0, 1, 2, 0}, {6})),
                       doctest::Contains("label 2 has no captions"), Error);
}

TEST_CASE("clip: a tiny model learns to match two kinds of images with their captions") {
  Generator gen(7);
  ClipModel model(tiny_config(), &gen);
  model.set_training_texts({{"up", "the top", "above"}, {"down", "the bottom", "below"}});
  model.set_zero_shot_texts({{"high up"}, {"low down"}});
  std::vector<int64_t> y;
  for (int i = 0; i < 16; ++i) y.push_back(i % 2);
  const Tensor images = two_kinds(y, 8), labels = from_vector<int64_t>(y, {16});
  nn::AdamW opt(model.parameters(), {.lr = 3e-3, .weight_decay = 0.0});
  manual_seed(9);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const Tensor loss = model.training_step(images, labels).loss;
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
    model.after_step();
    opt.zero_grad();
  }
  // With 8 images of each class every row has 8 positives, so the loss cannot go below the
  // entropy of its uniform target, ln 8: it must close most of the gap to that floor.
  const double floor = std::log(8.0);
  INFO("loss " << first << " → " << last << ", floor ln 8 = " << floor);
  CHECK(last < floor + 0.2 * (first - floor));
  // Training captions only; the held-out ones ("high up", "low down") still pick the right class
  // for fresh images, since they share words with them.
  model.eval();
  const std::vector<int64_t> fresh = {1, 0, 0, 1, 0, 1};
  const std::vector<int64_t> predicted = argmax(model.forward(two_kinds(fresh, 10)), -1).to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < fresh.size(); ++i) correct += predicted[i] == fresh[i];
  CHECK(correct >= 5);
}

TEST_CASE("clip in the registry: options, zero-shot head and data keys") {
  const models::ModelSpec& spec = models::find_model("clip");
  const models::ModelConfig config = models::complete_config(spec, {{"dim", 16}, {"depth", 1}, {"heads", 2},
                                                                    {"mlp_hidden", 32}, {"text_dim", 16},
                                                                    {"text_depth", 1}, {"text_heads", 2},
                                                                    {"embed_dim", 8}});
  CHECK(config.get_int("patch") == 2);  // 196 tokens at 28×28
  CHECK(config.get_bool("class_positives"));
  Generator gen(1);
  models::ModelPtr model = spec.build(config, &gen);
  CHECK(dynamic_cast<models::HasTextClasses*>(model.get()) != nullptr);
  CHECK(dynamic_cast<models::HasStepHooks*>(model.get()) != nullptr);
  const auto state = model->state_dict();
  CHECK(state.count("logit_scale") == 1);
  CHECK(state.count("visual.head.weight") == 1);
  CHECK(state.count("text.token_embed.weight") == 1);
  CHECK(state.at("text.pos_embed").shape() == Shape{48, 16});
}
