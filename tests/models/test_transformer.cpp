// tests/models/test_transformer.cpp — the causal Transformer and the sequence stem/head it shares
// with Mamba and MRSS (models/sequence.h): names and the registry entry, causality (a later token
// never changes an earlier logit), per-token vs last-position logits, float inputs, sinusoidal
// positions at any length, a checkpoint round trip through the registry, learning.
//
// Sizes are tiny (dim 16, depth 2, 2 heads, L ≤ 40 but one 300-long forward) so the file runs in
// well under a second. Extend: a new sequence model gets its own file with the same causality and
// round-trip cases.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "autograd/grad_mode.h"
#include "datasets/synthetic.h"
#include "models/registry.h"
#include "models/sequence.h"
#include "models/transformer.h"
#include "nn/checkpoint.h"
#include "ops/loss.h"
#include "ops/shape.h"
#include "tests/helpers.h"
#include "tests/models/sgd.h"

using namespace sieve;
using models::CausalTransformer;

namespace {

models::TransformerConfig tiny_config(bool per_token = true, int64_t vocab = 7) {
  return {.io = {.vocab = vocab, .in_channels = 3, .num_classes = 5, .per_token = per_token},
          .dim = 16, .depth = 2, .heads = 2, .mlp_hidden = 32};
}

std::shared_ptr<CausalTransformer> tiny_model(bool per_token = true, uint64_t seed = 5, int64_t vocab = 7) {
  Generator gen(seed);
  return std::make_shared<CausalTransformer>(tiny_config(per_token, vocab), &gen);
}

Tensor tokens(int64_t batch, int64_t length, uint64_t seed, int64_t vocab = 7) {
  Generator gen(seed);
  return randint(0, vocab, {batch, length}, {.dtype = DType::i64}, &gen);
}

}  // namespace

TEST_CASE("transformer: registry entry, parameter names, 'head.' holds the final norm and classifier") {
  const models::ModelSpec& spec = models::find_model("transformer");
  CHECK(spec.is_sequence());
  CHECK(spec.default_task == "induction");
  CHECK(spec.head_prefix == "head.");
  CHECK_FALSE(models::find_model("vit").is_sequence());
  for (const char* key : {"vocab", "in_channels", "num_classes", "per_token", "dim", "depth", "heads"}) {
    CAPTURE(key);
    CHECK(models::complete_config(spec, nlohmann::json::object()).values().contains(key));
  }
  auto m = tiny_model();
  std::set<std::string> names;
  for (const auto& p : m->named_parameters()) names.insert(p.name);
  for (const char* name : {"embed.weight", "blocks.0.norm1.weight", "blocks.1.attn.qkv.weight", "blocks.1.mlp.fc2.bias",
                           "head.norm.weight", "head.norm.bias", "head.weight", "head.bias"}) {
    CAPTURE(name);
    CHECK(names.contains(name));
  }
  CHECK_FALSE(names.contains("embed.bias"));  // tokens: a table, no bias
  int head_params = 0;
  for (const std::string& name : names) head_params += name.starts_with("head.");
  CHECK(head_params == 4);
}

TEST_CASE("transformer: changing a later token never changes an earlier logit") {
  auto m = tiny_model();
  m->eval();
  NoGradGuard no_grad;
  const Tensor a = tokens(2, 12, 1);
  std::vector<int64_t> changed_ids = a.to_vector<int64_t>();
  const int64_t t = 7;
  for (int64_t b = 0; b < 2; ++b) changed_ids[b * 12 + t] = (changed_ids[b * 12 + t] + 3) % 7;
  const Tensor changed = from_vector(changed_ids, {2, 12});
  const Tensor la = m->forward(a), lb = m->forward(changed);  // (2, 12, 5)
  REQUIRE(la.shape() == Shape{2, 12, 5});
  CHECK(test::compare(lb.narrow(1, 0, t), la.narrow(1, 0, t), 1e-6, 1e-6) == "");
  CHECK(test::compare(lb.narrow(1, t, 1), la.narrow(1, t, 1), 1e-6, 1e-6) != "");  // position t itself sees it
}

TEST_CASE("transformer: per-token logits (B, L, K); pooled ones (B, K) are the last position's") {
  auto per_token = tiny_model(true), pooled = tiny_model(false);
  pooled->load_state_dict(per_token->state_dict());  // same parameters: per_token only changes the read-out
  per_token->eval();
  pooled->eval();
  NoGradGuard no_grad;
  const Tensor x = tokens(3, 9, 2);
  const Tensor all = per_token->forward(x), last = pooled->forward(x);
  CHECK(all.shape() == Shape{3, 9, 5});
  CHECK(last.shape() == Shape{3, 5});
  CHECK(test::compare(last, all.select(1, 8), 1e-6, 1e-6) == "");
}

TEST_CASE("transformer: float inputs (B, L, C) go through a Linear stem with a bias") {
  Generator gen(3);
  auto m = std::make_shared<CausalTransformer>(tiny_config(false, /*vocab=*/0), &gen);
  CHECK(m->state_dict().contains("embed.bias"));
  CHECK(m->embed->weight.shape() == Shape{16, 3});
  const Tensor logits = m->forward(test::randn_leaf({2, 10, 3}, 4, false, DType::f32));
  CHECK(logits.shape() == Shape{2, 5});
  CHECK(test::contains(test::error_of([&] { m->forward(tokens(2, 10, 1)); }), "float features"));
  CHECK(test::contains(test::error_of([&] { tiny_model()->forward(test::randn_leaf({2, 10, 3}, 4, false, DType::f32)); }),
                       "int64 tokens"));
}

TEST_CASE("transformer: sinusoidal positions for any length, and the model runs far past its training length") {
  const Tensor pe = models::sinusoidal_positions(50, 6);
  REQUIRE(pe.shape() == Shape{50, 6});
  const std::vector<float> v = pe.to_vector<float>();
  for (int64_t i = 0; i < 6; ++i) CHECK(v[static_cast<size_t>(i)] == doctest::Approx(i % 2 == 0 ? 0.0 : 1.0));
  // PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(...)
  CHECK(v[static_cast<size_t>(37 * 6 + 2)] == doctest::Approx(std::sin(37.0 / std::pow(10000.0, 2.0 / 6.0))));
  CHECK(v[static_cast<size_t>(37 * 6 + 5)] == doctest::Approx(std::cos(37.0 / std::pow(10000.0, 4.0 / 6.0))));
  // An odd width ends with a sine column.
  CHECK(models::sinusoidal_positions(3, 5).shape() == Shape{3, 5});

  auto m = tiny_model();
  m->eval();
  NoGradGuard no_grad;
  const Tensor x = tokens(2, 6, 7);
  const Tensor before = m->forward(x);
  const Tensor long_logits = m->forward(tokens(1, 300, 8));
  CHECK(long_logits.shape() == Shape{1, 300, 5});
  // The cached table follows the length: the short input gives what it gave before.
  CHECK(test::compare(m->forward(x), before, 0, 0) == "");
  // A prefix of a longer input gives the same logits as the prefix alone (causal + absolute positions).
  const Tensor longer = tokens(2, 20, 9);
  CHECK(test::compare(m->forward(longer).narrow(1, 0, 6), m->forward(longer.narrow(1, 0, 6).contiguous()), 1e-5,
                      1e-5) == "");
}

TEST_CASE("transformer: decoding with a key/value cache gives the whole sequence's logits and greedy tokens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto model = tiny_model(true, 8, 7);
      model->to(dev);
      model->eval();
      NoGradGuard no_grad;
      const Tensor ids = tokens(2, 13, 9).to(dev);
      const Tensor whole = model->forward(ids);  // (2, 13, 5)
      // A 6-position prefill, then one position at a time (the cache grows past its first size).
      std::vector<nn::KVCache> caches;
      std::vector<Tensor> parts = {model->decode(model->embed->forward(ids.narrow(1, 0, 6)), caches)};
      for (int64_t t = 6; t < 13; ++t) parts.push_back(model->decode(model->embed->forward(ids.narrow(1, t, 1)), caches));
      CHECK(caches[0].length == 13);
      CHECK_CLOSE(cat(parts, 1), whole, 1e-5, 1e-5);
      // Greedy generation both ways: recomputing the whole prefix for every new token, and the
      // cache. Token t + 1 is the argmax of the logits at t (classes double as tokens: K ≤ V).
      const int64_t steps = 10;
      Tensor seq = ids.narrow(1, 0, 3);
      for (int64_t s = 0; s < steps; ++s) {
        const Tensor next = argmax(model->forward(seq).narrow(1, seq.size(1) - 1, 1), -1);  // (2, 1)
        seq = cat({seq, next}, 1);
      }
      std::vector<nn::KVCache> fresh;
      Tensor logits = model->decode(model->embed->forward(ids.narrow(1, 0, 3)), fresh);
      Tensor cached = ids.narrow(1, 0, 3);
      for (int64_t s = 0; s < steps; ++s) {
        const Tensor next = argmax(logits.narrow(1, logits.size(1) - 1, 1), -1);
        cached = cat({cached, next}, 1);
        logits = model->decode(model->embed->forward(next), fresh);
      }
      CHECK(cached.to_vector<int64_t>() == seq.to_vector<int64_t>());
      CHECK(test::contains(test::error_of([&] {
                             NoGradGuard inner;
                             set_grad_enabled(true);
                             model->decode(model->embed->forward(ids.narrow(1, 0, 1)), fresh);
                           }),
                           "under NoGradGuard"));
    }
  }
}

TEST_CASE("transformer: a checkpoint rebuilds the same model through the registry") {
  const models::ModelSpec& spec = models::find_model("transformer");
  const nlohmann::json given = {{"dim", 16}, {"depth", 1}, {"heads", 4}, {"vocab", 6}, {"num_classes", 6},
                                {"per_token", false}};
  Generator gen(21);
  models::ModelPtr m = spec.build(models::complete_config(spec, given), &gen);
  m->eval();
  nn::Checkpoint ckpt;
  ckpt.model = "transformer";
  ckpt.config = models::complete_config(spec, given).values();
  ckpt.weights = m->state_dict();
  test::TempDir dir;
  nn::save_checkpoint(dir / "t.safetensors", ckpt);
  const nn::Checkpoint loaded = nn::load_checkpoint(dir / "t.safetensors");
  models::ModelPtr again = models::find_model(loaded.model).build(models::complete_config(spec, loaded.config), nullptr);
  again->load_state_dict(loaded.weights);
  again->eval();
  NoGradGuard no_grad;
  const Tensor x = tokens(2, 11, 13, 6);
  const Tensor expected = m->forward(x), actual = again->forward(x);
  CHECK(actual.shape() == Shape{2, 6});
  CHECK(test::compare(actual, expected, 0, 0) == "");
  // mlp_hidden 0 means 4 × dim.
  CHECK(again->state_dict().at("blocks.0.mlp.fc1.weight").shape() == Shape{64, 16});
  CHECK(test::contains(test::error_of([&] { spec.build(models::complete_config(spec, {{"dim", 10}, {"heads", 4}}), nullptr); }),
                       "multiple of heads"));
}

TEST_CASE("transformer: learns a few induction sequences (per-token loss with -100 ignored falls)") {
  const SequenceSet set = induction_heads(16, 12, 7, /*seed=*/3);
  Generator gen(5);
  auto model = std::make_shared<CausalTransformer>(
      models::TransformerConfig{.io = {.vocab = 7, .num_classes = 7, .per_token = true}, .dim = 16, .depth = 2,
                                .heads = 2, .mlp_hidden = 32},
      &gen);
  const auto [first, last] = test::sgd_losses(
      *model,
      [&] {
        const Tensor logits = model->forward(set.inputs);
        return cross_entropy(logits.reshape({-1, 7}), set.targets.reshape({-1}));
      },
      40, 0.1f);
  CAPTURE(first);
  CAPTURE(last);
  CHECK(last < 0.7 * first);
}
