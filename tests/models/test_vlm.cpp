// tests/models/test_vlm.cpp — the small LLaVA of models/vlm.h on tiny sizes (8×8 cells, a 2-block
// tower, a 2-block language model): visual tokens (all, pixel-shuffled, pruned by CLS attention), the loss against a
// hand-built sequence (answer tokens only), right padding that changes nothing, the frozen tower
// bit for bit through training, a tiny training whose loss falls, cached generation against
// recomputing the whole sequence, and one-line errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "autograd/grad_mode.h"
#include "datasets/captions.h"
#include "models/vlm.h"
#include "nn/optim.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/shape.h"
#include "tests/helpers.h"

using namespace sieve;
using namespace sieve::models;

namespace {

VlmConfig tiny(const std::string& projector = "mlp", const std::string& visual_tokens = "shuffle",
              const std::string& lm = "transformer") {
  VlmConfig c;
  c.lm = lm;
  c.d_state = 4;
  c.vision = {.in_channels = 1, .image_size = 8, .patch = 2, .dim = 8, .depth = 2, .heads = 2, .mlp_hidden = 16,
              .num_classes = 8};
  c.projector = projector;
  c.rank = 2;
  c.visual_tokens = visual_tokens;
  c.dim = 16, c.depth = 2, c.heads = 2, c.mlp_hidden = 32;
  return c;
}

std::shared_ptr<VisionLanguageModel> build(const VlmConfig& c = tiny(), uint64_t seed = 3) {
  Generator gen(seed);
  return std::make_shared<VisionLanguageModel>(c, &gen);
}

Tensor cells(int64_t n, uint64_t seed) { return test::randn_leaf({n, 1, 8, 8}, seed, false, DType::f32); }

}  // namespace

TEST_CASE("vlm: the tower's penultimate patch tokens, CLS dropped, all or 2x2 pixel-shuffled") {
  auto all = build(tiny("mlp", "all"));
  auto shuffled = build(tiny("mlp", "shuffle"));
  shuffled->vision_tower->load_state_dict(all->vision_tower->state_dict());  // the same tower
  const Tensor x = cells(3, 1);
  const Tensor a = all->vision_features(x), s = shuffled->vision_features(x);
  CHECK(a.shape() == Shape{3, 16, 8});
  CHECK(s.shape() == Shape{3, 4, 32});
  CHECK(all->visual_tokens_per_cell() == 16);
  CHECK(shuffled->visual_tokens_per_cell() == 4);
  CHECK_FALSE(a.requires_grad());
  // Shuffled token (i, j) of the 2×2 grid holds the patch tokens (2i + di, 2j + dj), di and dj in order.
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t di = 0; di < 2; ++di)
        for (int64_t dj = 0; dj < 2; ++dj) {
          const Tensor want = a.select(0, 2).select(0, (2 * i + di) * 4 + 2 * j + dj);
          const Tensor got = s.select(0, 2).select(0, i * 2 + j).narrow(0, (di * 2 + dj) * 8, 8);
          CHECK_CLOSE(got, want, 0.0, 0.0);
        }
  // The penultimate block: the tower's own first block, by hand.
  NoGradGuard no_grad;
  const Tensor by_hand = all->vision_tower->blocks->at<nn::TransformerBlock>(0)->forward(all->vision_tower->embed(x));
  CHECK_CLOSE(a, by_hand.narrow(1, 1, 16), 0.0, 0.0);
}

TEST_CASE("vlm: the loss is the cross-entropy of the answer's tokens only, and padding changes nothing") {
  auto model = build();
  const VlmText text{"what is this?", "7"};
  const Tensor x = cells(1, 2);
  const double loss = model->loss(x, {1}, {text}).item();
  // By hand: [4 visual tokens][start, question, '\n', '7', end]; targets '7' and end.
  const VlmTokens t = vlm_tokens(text);
  CHECK(t.ids.size() == 1 + 13 + 1 + 1 + 1);
  CHECK(t.answer_start == 15);
  const Tensor visual = model->mm_projector->forward(model->vision_features(x));  // (1, 4, 16)
  const Tensor ids = from_vector<int64_t>(t.ids, {1, static_cast<int64_t>(t.ids.size())});
  const Tensor logits = model->language_logits(cat({visual, model->embed_text(ids)}, 1));
  const Tensor picked = logits.select(0, 0).narrow(0, 4 + t.answer_start - 1, 2);  // the positions before '7' and end
  const double want = cross_entropy(picked, from_vector<int64_t>({'7', kTextEnd}, {2})).item();
  CHECK(loss == doctest::Approx(want).epsilon(1e-6));

  // A batch of a grid (4 cells, long answer) and a single image (short): the mean over both
  // answers' tokens, each sequence computed as if alone (right padding, causal attention).
  const VlmText grid{"what is the sum of the digits?", "23"};
  const Tensor four = cells(4, 3);
  const double alone_grid = model->loss(four, {4}, {grid}).item();
  const double batch = model->loss(cat({four, x}, 0), {4, 1}, {grid, text}).item();
  CHECK(batch == doctest::Approx((3 * alone_grid + 2 * loss) / 5).epsilon(1e-5));
}

TEST_CASE("vlm: training moves the projector and the language model, never the frozen tower") {
  auto model = build(tiny("lora"));
  const auto before = model->vision_tower->state_dict();
  const Tensor projector_before = dynamic_cast<LoraProjector&>(*model->mm_projector).lora_B.clone();
  std::vector<Tensor> trainable;
  for (const Tensor& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  nn::AdamW opt(trainable, {.lr = 1e-2});
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    model->loss(cells(2, 10 + step), {1, 1}, {{"what is this?", "5"}, {"is the digit even?", "no"}}).backward();
    opt.step();
  }
  for (const auto& [name, value] : model->vision_tower->state_dict()) {
    INFO(name);
    CHECK_CLOSE(value, before.at(name), 0.0, 0.0);
  }
  CHECK(test::max_abs(dynamic_cast<LoraProjector&>(*model->mm_projector).lora_B - projector_before) > 0);
}

TEST_CASE("vlm: a tiny model learns to name four patterns, and generates its answers with the cache (both LMs)") {
  for (const std::string lm : {"transformer", "mamba"}) {
  INFO(lm);
  // Four classes, each a fixed 8×8 pattern plus a little noise; the answer is the class's word.
  const std::vector<std::string> words = {"ring", "bar", "dot", "cross"};
  const Tensor patterns = test::randn_leaf({4, 1, 8, 8}, 40, false, DType::f32);
  auto scene = [&](int64_t c, uint64_t seed) {
    return patterns.narrow(0, c, 1) + 0.1 * test::randn_leaf({1, 1, 8, 8}, seed, false, DType::f32);
  };
  auto model = build(tiny("mlp", "shuffle", lm), 4);
  std::vector<Tensor> trainable;
  for (const Tensor& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  nn::AdamW opt(trainable, {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    std::vector<Tensor> batch;
    std::vector<VlmText> texts;
    for (int64_t i = 0; i < 8; ++i) {
      const int64_t c = (step + i) % 4;
      batch.push_back(scene(c, 100 + 8 * step + i));
      texts.push_back({"what is this?", words[static_cast<size_t>(c)]});
    }
    opt.zero_grad();
    const Tensor loss = model->loss(cat(batch, 0), std::vector<int64_t>(8, 1), texts);
    (step == 0 ? first : last) = loss.item();
    loss.backward();
    opt.step();
  }
  INFO("loss ", first, " → ", last);
  CHECK(last < 0.1 * first);
  model->eval();
  int right = 0;
  for (int64_t c = 0; c < 4; ++c) {
    const Tensor x = scene(c, 9000 + c);
    std::string streamed;
    const std::string answer = model->generate(x, "what is this?", 8, [&](char b) { streamed.push_back(b); });
    CHECK(streamed == answer);
    right += answer == words[static_cast<size_t>(c)];
    // The same greedy answer by recomputing the whole sequence for every byte (no cache).
    NoGradGuard no_grad;
    std::vector<int64_t> ids = vlm_prompt("what is this?");
    const Tensor visual = model->mm_projector->forward(model->vision_features(x));
    std::string recomputed;
    for (int i = 0; i < 8; ++i) {
      const Tensor t = from_vector<int64_t>(ids, {1, static_cast<int64_t>(ids.size())});
      const Tensor logits = model->language_logits(cat({visual, model->embed_text(t)}, 1));
      const int64_t next = argmax(logits.select(1, logits.size(1) - 1), -1).data<int64_t>()[0];
      if (next >= 256) break;
      recomputed.push_back(static_cast<char>(next));
      ids.push_back(next);
    }
    CHECK(recomputed == answer);
  }
  CHECK(right == 4);
  }
}

TEST_CASE("vlm: prune keeps the half of the patch tokens the penultimate block's CLS attends to most, in order") {
  auto all = build(tiny("mlp", "all"));
  auto pruned = build(tiny("mlp", "prune"));
  pruned->vision_tower->load_state_dict(all->vision_tower->state_dict());
  CHECK(pruned->visual_tokens_per_cell() == 8);
  const Tensor x = cells(3, 4);
  const Tensor a = all->vision_features(x), p = pruned->vision_features(x);
  REQUIRE(p.shape() == Shape{3, 8, 8});
  // The CLS row's attention in the penultimate block (block 0 of 2), head mean, by hand.
  NoGradGuard no_grad;
  nn::TransformerBlock& block = *all->vision_tower->blocks->at<nn::TransformerBlock>(0);
  block.forward(all->vision_tower->embed(x), AttentionOptions{.want_cls_probs = true});
  const std::vector<double> cls = block.attn->last_cls_probs.to(DType::f64).to_vector<double>();  // (3, 17)
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<int64_t> order(16);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
      return cls[static_cast<size_t>(b * 17 + 1 + i)] > cls[static_cast<size_t>(b * 17 + 1 + j)];
    });
    order.resize(8);
    std::sort(order.begin(), order.end());  // grid order
    for (int64_t k = 0; k < 8; ++k)
      CHECK_CLOSE(p.select(0, b).select(0, k), a.select(0, b).select(0, order[static_cast<size_t>(k)]), 0.0, 0.0);
  }
}

TEST_CASE("vlm: bad configurations and texts are one line") {
  CHECK(test::contains(test::error_of([] { build(tiny("conv")); }), "unknown projector 'conv'"));
  CHECK(test::contains(test::error_of([] { build(tiny("mlp", "half")); }), "--visual_tokens 'half': want all, prune or shuffle"));
  VlmConfig shallow = tiny("mlp", "prune");
  shallow.vision.depth = 1;
  CHECK(test::contains(test::error_of([&] { build(shallow); }), "--visual_tokens prune: the tokens are scored by"));
  CHECK(test::contains(test::error_of([] { build(tiny("mlp", "all", "rnn")); }), "--lm 'rnn': want transformer or mamba"));
  CHECK(test::contains(test::error_of([] { vlm_prompt(std::string(600, 'a')); }), "more than the 512 allowed"));
  auto model = build();
  CHECK(test::contains(test::error_of([&] { model->loss(cells(3, 1), {1, 1}, {{"q?", "a"}, {"q?", "b"}}); }),
                       "3 cells given, the examples have 2"));
}
