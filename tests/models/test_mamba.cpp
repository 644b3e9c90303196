// tests/models/test_mamba.cpp — Mamba: names and shapes as mamba_ssm's, the paper's init, no decay on
// A_log and D, the parameter count by hand, the block against a by-hand loop of its equations,
// causality, gradients to every parameter, a checkpoint round trip and a few steps that learn.
//
// Sizes are tiny (dim 16 → 32 channels, d_state 4, dt_rank 1, depth 2, L ≤ 16) so the file runs in
// well under a second. Extend: a new option gets a case through the registry, as the checkpoint one.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "autograd/grad_mode.h"
#include "datasets/synthetic.h"
#include "models/mamba.h"
#include "models/registry.h"
#include "nn/checkpoint.h"
#include "ops/copy.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tests/helpers.h"
#include "tests/models/sgd.h"

using namespace sieve;
using models::MambaConfig;
using models::MambaModel;

namespace {

MambaConfig tiny_config(bool per_token = true, int64_t vocab = 5) {
  return {.io = {.vocab = vocab, .in_channels = 3, .num_classes = 3, .per_token = per_token},
          .dim = 16, .depth = 2, .d_state = 4, .expand = 2, .d_conv = 4};
}

std::shared_ptr<MambaModel> tiny_model(bool per_token = true, uint64_t seed = 11) {
  Generator gen(seed);
  return std::make_shared<MambaModel>(tiny_config(per_token), &gen);
}

// Random tokens 0..vocab−1, (B, L) int64.
Tensor tokens(int64_t batch, int64_t length, uint64_t seed, int64_t vocab = 5) {
  Generator gen(seed);
  return randint(0, vocab, {batch, length}, {.dtype = DType::i64}, &gen);
}

using test::max_abs;

}  // namespace

TEST_CASE("mamba: mamba_ssm's names and shapes, the registry's options, output shapes") {
  auto m = tiny_model();
  const auto state = m->state_dict();
  const std::map<std::string, Shape> expected = {
      {"embed.weight", {5, 16}},
      {"layers.0.norm.weight", {16}},
      {"layers.0.mixer.in_proj.weight", {64, 16}},
      {"layers.0.mixer.conv1d.weight", {32, 1, 4}},
      {"layers.0.mixer.conv1d.bias", {32}},
      {"layers.0.mixer.x_proj.weight", {1 + 2 * 4, 32}},
      {"layers.0.mixer.dt_proj.weight", {32, 1}},
      {"layers.0.mixer.dt_proj.bias", {32}},
      {"layers.0.mixer.A_log", {32, 4}},
      {"layers.0.mixer.D", {32}},
      {"layers.1.mixer.out_proj.weight", {16, 32}},
      {"head.norm.weight", {16}},
      {"head.weight", {3, 16}},
      {"head.bias", {3}},
  };
  for (const auto& [name, shape] : expected) {
    CAPTURE(name);
    REQUIRE(state.contains(name));
    CHECK(state.at(name).shape() == shape);
  }
  CHECK_FALSE(state.contains("layers.0.mixer.in_proj.bias"));
  CHECK_FALSE(state.contains("layers.0.mixer.out_proj.bias"));
  CHECK_FALSE(state.contains("layers.2.norm.weight"));

  const models::ModelSpec& spec = models::find_model("mamba");
  CHECK(spec.default_task == "majority");
  CHECK(spec.head_prefix == "head.");
  std::set<std::string> keys;
  for (const auto& o : spec.options) keys.insert(o.key);
  for (const char* key : {"dim", "depth", "d_state", "expand", "d_conv", "dt_rank", "vocab", "per_token"}) {
    CAPTURE(key);
    CHECK(keys.contains(key));
  }
  const models::ModelConfig c = models::complete_config(spec, nlohmann::json::object());
  CHECK(c.get_int("dim") == 64);
  CHECK(c.get_int("depth") == 4);
  CHECK(c.get_int("d_state") == 16);
  CHECK(c.get_int("expand") == 2);
  CHECK(c.get_int("d_conv") == 4);
  CHECK(c.get_int("dt_rank") == 0);
  auto built = std::dynamic_pointer_cast<MambaModel>(spec.build(c, nullptr));
  REQUIRE(built != nullptr);
  CHECK(built->config.rank() == 4);  // ceil(64 / 16)
  CHECK(MambaConfig{.io = {}, .dim = 65}.rank() == 5);

  CHECK(m->forward(tokens(3, 7, 1)).shape() == Shape{3, 7, 3});
  CHECK(tiny_model(/*per_token=*/false)->forward(tokens(3, 7, 1)).shape() == Shape{3, 3});
  Generator gen(2);
  MambaModel floats(tiny_config(false, /*vocab=*/0), &gen);
  CHECK(floats.state_dict().at("embed.weight").shape() == Shape{16, 3});
  CHECK(floats.forward(test::randn_leaf({2, 9, 3}, 3, false, DType::f32)).shape() == Shape{2, 3});
}

TEST_CASE("mamba: the parameter count is the hand formula") {
  const MambaConfig c = tiny_config();
  const int64_t D = c.dim, C = c.channels(), N = c.d_state, R = c.rank(), K = c.d_conv, V = 5, classes = 3;
  const int64_t per_layer = D * 2 * C          // in_proj
                            + C * K + C        // conv1d
                            + C * (R + 2 * N)  // x_proj
                            + R * C + C        // dt_proj
                            + C * N + C        // A_log, D
                            + C * D            // out_proj
                            + D;               // norm
  CHECK(tiny_model()->num_parameters() == V * D + c.depth * per_layer + D + classes * D + classes);
  CHECK(tiny_model()->state_updates(3, 10) == c.depth * 3 * 10 * C * N);
}

TEST_CASE("mamba: the paper's init — A_log = log(n+1), D = 1, Δ's bias spans softplus⁻¹[1e-3, 1e-1]") {
  Generator gen(5);
  MambaConfig c = tiny_config();
  c.dim = 64;  // 128 channels: enough draws to see both ends of the Δ range
  MambaModel m(c, &gen);
  auto mixer = std::dynamic_pointer_cast<models::MambaMixer>(m.layers->at<models::ResidualBlock>(1)->mixer);
  REQUIRE(mixer != nullptr);
  const std::vector<double> a_log = mixer->A_log.to_vector<double>();
  for (int64_t ch : {0, 77, 127})
    for (int64_t n = 0; n < 4; ++n) CHECK(a_log[static_cast<size_t>(ch * 4 + n)] == doctest::Approx(std::log(n + 1.0)));
  CHECK_CLOSE(mixer->A(), -exp(mixer->A_log), 0.0, 0.0);
  CHECK(min(mixer->D).item() == 1.0);
  CHECK(max(mixer->D).item() == 1.0);

  const std::vector<double> dt = softplus(mixer->dt_proj->bias.to(DType::f64)).to_vector<double>();
  double lo = 1, hi = 0;
  for (double v : dt) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= 1e-3 * (1 - 1e-4));
  CHECK(hi <= 1e-1 * (1 + 1e-4));
  CHECK(lo < 2e-3);  // log-uniform: both decades are reached
  CHECK(hi > 5e-2);
  CHECK(max_abs(mixer->dt_proj->weight) <= 1.0 / std::sqrt(4.0));  // ±dt_rank^−1/2, R = 4
  CHECK(max_abs(mixer->dt_proj->weight) > 0.4);
}

TEST_CASE("mamba: A_log and D are never decayed, the matrices are") {
  auto m = tiny_model();
  auto flags = [&] {
    std::map<std::string, bool> out;
    for (const auto& p : m->named_parameters()) out[p.name] = p.no_weight_decay;
    return out;
  };
  // Flagged at registration, before and after the trainer's biases-and-norms rule.
  CHECK(flags().at("layers.0.mixer.A_log"));
  CHECK(flags().at("layers.1.mixer.D"));
  m->no_weight_decay_for_biases_and_norms();
  const auto after = flags();
  CHECK(after.at("layers.0.mixer.A_log"));
  CHECK(after.at("layers.0.mixer.D"));
  CHECK(after.at("layers.0.mixer.dt_proj.bias"));
  CHECK_FALSE(after.at("layers.0.mixer.in_proj.weight"));
  CHECK_FALSE(after.at("layers.0.mixer.x_proj.weight"));

  const std::vector<nn::ParamGroup> groups = nn::weight_decay_groups(*m, 0.1);
  REQUIRE(groups.size() == 2);
  auto in_group = [&](const Tensor& t, size_t g) {
    for (const Tensor& p : groups[g].params)
      if (p.impl() == t.impl()) return true;
    return false;
  };
  auto mixer = std::dynamic_pointer_cast<models::MambaMixer>(m->layers->at<models::ResidualBlock>(0)->mixer);
  REQUIRE(mixer != nullptr);
  CHECK(in_group(mixer->A_log, 1));
  CHECK(in_group(mixer->D, 1));
  CHECK(in_group(mixer->in_proj->weight, 0));
  CHECK(groups[1].weight_decay == 0.0);
}

TEST_CASE("mamba: the mixer is the paper's equations, checked against a by-hand loop") {
  Generator gen(3);
  const MambaConfig c = tiny_config();
  models::MambaMixer mixer(c, &gen);
  const int64_t L = 6, D = c.dim, C = c.channels(), N = c.d_state, R = c.rank(), K = c.d_conv;
  const Tensor u = test::randn_leaf({1, L, D}, 4, false, DType::f32);
  const Tensor out = mixer.forward(u);
  REQUIRE(out.shape() == Shape{1, L, D});

  // The Linears' own products are nn's (tested there); everything between them is done by hand.
  NoGradGuard no_grad;
  auto vec = [](const Tensor& t) { return t.contiguous().to_vector<double>(); };
  const std::vector<double> xz = vec(mixer.in_proj->forward(u));  // (L, 2C)
  const std::vector<double> cw = vec(mixer.conv1d->weight), cb = vec(mixer.conv1d->bias);
  auto silu_d = [](double v) { return v / (1 + std::exp(-v)); };
  std::vector<double> x(static_cast<size_t>(L * C));
  for (int64_t t = 0; t < L; ++t)
    for (int64_t ch = 0; ch < C; ++ch) {
      double acc = cb[ch];
      for (int64_t k = 0; k < K; ++k) {
        const int64_t s = t - K + 1 + k;
        if (s >= 0) acc += cw[ch * K + k] * xz[s * 2 * C + ch];
      }
      x[t * C + ch] = silu_d(acc);
    }
  const Tensor xt = from_vector(std::vector<float>(x.begin(), x.end()), {1, L, C});
  const std::vector<double> dbc = vec(mixer.x_proj->forward(xt));  // (L, R + 2N)
  const std::vector<double> wdt = vec(mixer.dt_proj->weight), bdt = vec(mixer.dt_proj->bias);
  const std::vector<double> a_log = vec(mixer.A_log), d = vec(mixer.D);
  std::vector<float> y(static_cast<size_t>(L * C));
  for (int64_t ch = 0; ch < C; ++ch) {
    std::vector<double> h(static_cast<size_t>(N), 0.0);
    for (int64_t t = 0; t < L; ++t) {
      const double* row = &dbc[t * (R + 2 * N)];
      double pre = bdt[ch];
      for (int64_t r = 0; r < R; ++r) pre += wdt[ch * R + r] * row[r];
      const double delta = std::log1p(std::exp(pre));
      const double xv = x[t * C + ch];
      double acc = d[ch] * xv;
      for (int64_t n = 0; n < N; ++n) {
        const double A = -std::exp(a_log[ch * N + n]);
        h[n] = std::exp(delta * A) * h[n] + delta * row[R + n] * xv;
        acc += row[R + N + n] * h[n];
      }
      y[t * C + ch] = static_cast<float>(acc * silu_d(xz[t * 2 * C + C + ch]));
    }
  }
  CHECK_CLOSE(out, mixer.out_proj->forward(from_vector(y, {1, L, C})), 1e-5, 1e-4);
}

TEST_CASE("mamba: decoding with a cache (closed-form prompt state, then one step a position) gives the whole sequence's logits") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto m = tiny_model(true, 13);
      // Δ near 1 instead of the init's 1e-3…1e-1: the state then carries real weight to later
      // positions, so an error in it shows in the logits.
      NoGradGuard no_grad;
      for (size_t i = 0; i < m->layers->size(); ++i)
        fill_(dynamic_cast<models::MambaMixer&>(*m->layers->at<models::ResidualBlock>(i)->mixer).dt_proj->bias, 0.5);
      m->to(dev);
      m->eval();
      const Tensor ids = tokens(2, 14, 4).to(dev);
      const Tensor whole = m->forward(ids);  // (2, 14, classes)
      // Prompts shorter than the conv's window (1, 2) and longer (6), then one position at a time;
      // and a continuation of 3 positions in one call.
      for (int64_t prompt : {1, 2, 6}) {
        INFO("prompt ", prompt);
        std::vector<models::MambaCache> caches;
        std::vector<Tensor> parts = {m->decode(m->embed->forward(ids.narrow(1, 0, prompt)), caches)};
        int64_t t = prompt;
        if (prompt == 6) {
          parts.push_back(m->decode(m->embed->forward(ids.narrow(1, t, 3)), caches));
          t += 3;
        }
        for (; t < 14; ++t) parts.push_back(m->decode(m->embed->forward(ids.narrow(1, t, 1)), caches));
        CHECK_CLOSE(cat(parts, 1), whole, 1e-5, 1e-4);
      }
      // The closed-form state of a 6-position prompt is the state six recurrence steps reach.
      std::vector<models::MambaCache> closed, stepped;
      m->decode(m->embed->forward(ids.narrow(1, 0, 6)), closed);
      m->decode(m->embed->forward(ids.narrow(1, 0, 1)), stepped);
      for (int64_t t = 1; t < 6; ++t) m->decode(m->embed->forward(ids.narrow(1, t, 1)), stepped);
      for (size_t i = 0; i < closed.size(); ++i) {
        CHECK(test::max_abs(closed[i].ssm) > 0.03);  // a state worth checking
        CHECK_CLOSE(closed[i].ssm, stepped[i].ssm, 1e-6, 1e-5);
        CHECK_CLOSE(closed[i].conv, stepped[i].conv, 1e-6, 1e-6);  // in_proj of 6 rows or 1: BLAS rounding
      }
      CHECK(test::contains(test::error_of([&] {
                             set_grad_enabled(true);
                             std::vector<models::MambaCache> fresh;
                             try {
                               m->decode(m->embed->forward(ids.narrow(1, 0, 2)), fresh);
                             } catch (...) {
                               set_grad_enabled(false);
                               throw;
                             }
                           }),
                           "under NoGradGuard"));
    }
  }
}

TEST_CASE("mamba: causal — changing token t never changes the outputs before t") {
  auto m = tiny_model();
  const int64_t L = 12;
  const Tensor base = tokens(2, L, 6);
  const Tensor out = m->forward(base);
  for (int64_t t : {0, 1, 5, 11}) {
    CAPTURE(t);
    std::vector<int64_t> v = base.to_vector<int64_t>();
    for (int64_t b = 0; b < 2; ++b) v[static_cast<size_t>(b * L + t)] = (v[static_cast<size_t>(b * L + t)] + 1) % 5;
    const Tensor changed = m->forward(from_vector(v, {2, L}));
    if (t > 0) CHECK_CLOSE(changed.narrow(1, 0, t), out.narrow(1, 0, t), 0.0, 0.0);
    CHECK(max_abs(changed.narrow(1, t, L - t) - out.narrow(1, t, L - t)) > 1e-6);  // and t itself does change
  }
}

TEST_CASE("mamba: gradients reach every parameter") {
  auto m = tiny_model();
  const Tensor x = tokens(2, 9, 7);
  const Tensor y = tokens(2, 9, 8, 3);
  cross_entropy(m->forward(x), y).backward();
  for (const auto& p : m->named_parameters()) {
    CAPTURE(p.name);
    const Tensor g = p.tensor.grad();
    REQUIRE(g.defined());
    CHECK(max_abs(g) > 0);
  }
}

TEST_CASE("mamba: a checkpoint rebuilds the same model") {
  test::TempDir dir;
  const models::ModelSpec& spec = models::find_model("mamba");
  const models::ModelConfig config = models::complete_config(
      spec, {{"dim", 16}, {"depth", 2}, {"d_state", 4}, {"vocab", 2}, {"num_classes", 2}, {"per_token", false}});
  Generator gen(3);
  const models::ModelPtr model = spec.build(config, &gen);
  const Tensor x = tokens(3, 10, 9, 2);
  const Tensor out = model->forward(x);
  CHECK(out.shape() == Shape{3, 2});

  nn::Checkpoint ckpt;
  ckpt.model = spec.name;
  ckpt.config = config.values();
  ckpt.weights = model->state_dict();
  nn::save_checkpoint(dir / "mamba.safetensors", ckpt);
  const nn::Checkpoint loaded = nn::load_checkpoint(dir / "mamba.safetensors");
  CHECK(loaded.model == "mamba");
  const models::ModelPtr again = spec.build(models::complete_config(spec, loaded.config), nullptr);
  again->load_state_dict(loaded.weights);
  CHECK_CLOSE(again->forward(x), out, 0.0, 0.0);
}

TEST_CASE("mamba: a few AdamW steps on the majority task lower the loss") {
  const SequenceSet data = majority(32, 16, /*seed=*/1);
  Generator gen(4);
  MambaConfig c = tiny_config(/*per_token=*/false, /*vocab=*/2);
  c.io.num_classes = 2;
  MambaModel m(c, &gen);
  const auto [first, last] = test::adamw_losses(m, data.inputs, data.targets, 30, 1e-2);
  CAPTURE(first);
  CHECK(last < 0.7 * first);

  // And plain SGD (tests/models/sgd.h) on a per-token task.
  auto tok = tiny_model(true, 12);
  const Tensor x = tokens(4, 8, 13), y = tokens(4, 8, 14, 3);
  const auto [sgd_first, sgd_last] = test::sgd_losses(*tok, x, y, 20, 0.05f);
  CHECK(sgd_last < sgd_first);
}
