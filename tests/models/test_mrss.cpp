// tests/models/test_mrss.cpp — MRSS: the window mean and causal upsampling on numbers by hand, the
// slow branch's information arriving exactly when its window ends, the whole slow mixer (its
// projections and conv too) running on W = floor(L / r) steps by the profiler's FLOP counts,
// causality at window boundaries for every stride, outputs independent of where the sequence
// ends, names, the count of parameters and state updates by hand, init and no decay, gradients to
// every parameter, a checkpoint round trip and a few steps that learn.
//
// Sizes are tiny (dim 16 → 32 channels split 16/16, d_state 4, depth 2, L ≤ 17). Extend: another
// upsampling rule gets its own by-hand case next to the causal_upsample one.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "autograd/grad_mode.h"
#include "datasets/synthetic.h"
#include "models/mrss.h"
#include "models/registry.h"
#include "nn/checkpoint.h"
#include "nn/init.h"
#include "ops/profile.h"
#include "tests/models/sgd.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;
using models::MrssConfig;
using models::MrssModel;

namespace {

MrssConfig tiny_config(int64_t stride = 4, bool per_token = true, int64_t vocab = 5) {
  return {.mamba = {.io = {.vocab = vocab, .in_channels = 1, .num_classes = 3, .per_token = per_token},
                    .dim = 16, .depth = 2, .d_state = 4, .expand = 2, .d_conv = 4},
          .stride = stride, .fast_fraction = 0.5};
}

std::shared_ptr<MrssModel> tiny_model(int64_t stride = 4, bool per_token = true, uint64_t seed = 11) {
  Generator gen(seed);
  return std::make_shared<MrssModel>(tiny_config(stride, per_token), &gen);
}

Tensor tokens(int64_t batch, int64_t length, uint64_t seed, int64_t vocab = 5) {
  Generator gen(seed);
  return randint(0, vocab, {batch, length}, {.dtype = DType::i64}, &gen);
}

// base with token t of every sample moved to the next value.
Tensor bump(const Tensor& base, int64_t t, int64_t vocab = 5) {
  std::vector<int64_t> v = base.to_vector<int64_t>();
  const int64_t L = base.size(1);
  for (int64_t b = 0; b < base.size(0); ++b) {
    int64_t& tok = v[static_cast<size_t>(b * L + t)];
    tok = (tok + 1) % vocab;
  }
  return from_vector(v, base.shape());
}

using test::max_abs;

std::shared_ptr<models::MrssMixer> mixer_of(const MrssModel& m, size_t layer) {
  auto mixer = std::dynamic_pointer_cast<models::MrssMixer>(m.layers->at<models::ResidualBlock>(layer)->mixer);
  REQUIRE(mixer != nullptr);
  return mixer;
}

}  // namespace

TEST_CASE("mrss: window means and the causal upsampling rule, by hand") {
  // x[t] = t, r = 4, L = 10: two whole windows (means 1.5 and 5.5); steps 8, 9 are not pooled.
  const Tensor x = arange(0, 10).view({1, 10, 1});
  CHECK_CLOSE(models::window_mean(x, 4), from_vector<float>({1.5f, 5.5f}, {1, 2, 1}), 0.0, 0.0);
  CHECK(models::window_mean(x, 8).shape() == Shape{1, 1, 1});
  CHECK(models::window_mean(x.narrow(1, 0, 3), 4).shape() == Shape{1, 0, 1});

  // Position t reads window floor((t+1)/4) − 1: zeros at 0..2, window 0 at 3..6, window 1 at 7..9.
  Tensor y = from_vector<float>({10, -10, 20, -20}, {1, 2, 2}).requires_grad_();
  const Tensor up = models::causal_upsample(y, 4, 10);
  CHECK_CLOSE(up.select(2, 0), from_vector<float>({0, 0, 0, 10, 10, 10, 10, 20, 20, 20}, {1, 10}), 0.0, 0.0);
  CHECK_CLOSE(up.select(2, 1), from_vector<float>({0, 0, 0, -10, -10, -10, -10, -20, -20, -20}, {1, 10}), 0.0, 0.0);
  sum(up).backward();  // window 0 is read 4 times, window 1 three times (L cuts it)
  CHECK_CLOSE(y.grad(), from_vector<float>({4, 4, 3, 3}, {1, 2, 2}), 0.0, 0.0);

  // Exactly at a multiple (L = 8): the last window ends at the last step and is read there once.
  CHECK_CLOSE(models::causal_upsample(y.detach(), 4, 8).select(2, 0),
              from_vector<float>({0, 0, 0, 10, 10, 10, 10, 20}, {1, 8}), 0.0, 0.0);
  // r = 2, L = 5: windows end at 1 and 3.
  CHECK_CLOSE(models::causal_upsample(y.detach(), 2, 5).select(2, 0), from_vector<float>({0, 10, 10, 20, 20}, {1, 5}),
              0.0, 0.0);
  // No whole window yet: all zeros.
  CHECK_CLOSE(models::causal_upsample(zeros({2, 0, 3}), 4, 3), zeros({2, 3, 3}), 0.0, 0.0);
  CHECK(test::contains(test::error_of([&] { models::causal_upsample(y, 4, 12); }), "do not fit length 12"));
}

TEST_CASE("mrss: names, options, output shapes; a bad stride or split is an error") {
  auto m = tiny_model();
  const auto state = m->state_dict();
  const std::map<std::string, Shape> expected = {
      {"layers.0.norm.weight", {16}},
      {"layers.0.mixer.fast.in_proj.weight", {2 * 16, 16}},
      {"layers.0.mixer.fast.conv1d.weight", {16, 1, 4}},
      {"layers.0.mixer.fast.conv1d.bias", {16}},
      {"layers.0.mixer.fast.x_proj.weight", {1 + 2 * 4, 16}},
      {"layers.0.mixer.fast.dt_proj.weight", {16, 1}},
      {"layers.0.mixer.fast.A_log", {16, 4}},
      {"layers.0.mixer.fast.D", {16}},
      {"layers.0.mixer.fast.out_proj.weight", {16, 16}},
      {"layers.1.mixer.slow.in_proj.weight", {2 * 16, 16}},
      {"layers.1.mixer.slow.conv1d.weight", {16, 1, 4}},
      {"layers.1.mixer.slow.x_proj.weight", {1 + 2 * 4, 16}},
      {"layers.1.mixer.slow.dt_proj.bias", {16}},
      {"layers.1.mixer.slow.A_log", {16, 4}},
      {"layers.1.mixer.slow.D", {16}},
      {"layers.1.mixer.slow.out_proj.weight", {16, 16}},
      {"layers.1.mixer.gate_proj.weight", {16, 16}},
      {"layers.1.mixer.gate_proj.bias", {16}},
      {"head.norm.weight", {16}},
      {"head.weight", {3, 16}},
  };
  for (const auto& [name, shape] : expected) {
    CAPTURE(name);
    REQUIRE(state.contains(name));
    CHECK(state.at(name).shape() == shape);
  }
  // Nothing shared between the branches at full rate: no mixer-level in_proj or conv any more.
  CHECK_FALSE(state.contains("layers.0.mixer.in_proj.weight"));
  CHECK_FALSE(state.contains("layers.0.mixer.conv1d.weight"));

  const models::ModelSpec& spec = models::find_model("mrss");
  CHECK(spec.is_sequence());
  CHECK(spec.head_prefix == "head.");
  const models::ModelConfig c = models::complete_config(spec, nlohmann::json::object());
  CHECK(c.get_int("stride") == 4);
  CHECK(c.get_float("fast_fraction") == 0.5);
  CHECK(c.get_int("dim") == 64);
  auto built = std::dynamic_pointer_cast<MrssModel>(spec.build(c, nullptr));
  REQUIRE(built != nullptr);
  CHECK(mixer_of(*built, 0)->fast_channels == 64);
  CHECK(mixer_of(*built, 0)->slow_channels == 64);

  CHECK(m->forward(tokens(3, 11, 1)).shape() == Shape{3, 11, 3});
  CHECK(m->forward(tokens(2, 3, 1)).shape() == Shape{2, 3, 3});  // shorter than a window
  CHECK(tiny_model(8, /*per_token=*/false)->forward(tokens(3, 11, 1)).shape() == Shape{3, 3});

  CHECK(test::contains(test::error_of([&] { spec.build(models::complete_config(spec, {{"stride", 1}}), nullptr); }),
                       "option 'stride': 1 is below the smallest allowed, 2"));
  for (double fraction : {0.0, 1.0}) {
    CAPTURE(fraction);
    const std::string e = test::error_of(
        [&] { spec.build(models::complete_config(spec, {{"fast_fraction", fraction}}), nullptr); });
    CHECK(test::contains(e, "both branches need ≥ 1"));
  }
}

TEST_CASE("mrss: parameters and state updates by hand") {
  const MrssConfig c = tiny_config();
  const int64_t D = c.mamba.dim, C = c.mamba.channels(), N = c.mamba.d_state, R = c.mamba.rank(), K = c.mamba.d_conv;
  const int64_t Cf = 16, Cs = 16, V = 5, classes = 3;
  // A Mamba mixer over ch channels: in_proj, conv (weight, bias), x_proj, dt_proj (weight, bias),
  // A_log, D, out_proj.
  auto mixer = [&](int64_t ch) {
    return D * 2 * ch + ch * K + ch + ch * (R + 2 * N) + R * ch + ch + ch * N + ch + ch * D;
  };
  const int64_t per_layer = mixer(Cf) + mixer(Cs) + D * D + D + D;  // + gate_proj, + norm
  auto m = tiny_model();
  CHECK(m->num_parameters() == V * D + c.mamba.depth * per_layer + D + classes * D + classes);
  // Every mixer term is linear in its channels, so the split costs nothing: Mamba's count plus the gate.
  Generator gen0(1);
  CHECK(m->num_parameters() == models::MambaModel(c.mamba, &gen0).num_parameters() + c.mamba.depth * (D * D + D));
  CHECK(C == Cf + Cs);

  // depth · B · N · (L · C_f + floor(L / r) · C_s)
  CHECK(m->state_updates(3, 10) == 2 * 3 * N * (10 * Cf + 2 * Cs));
  // The default model at L = 1024: 62.5% of Mamba's updates; 25% fast at r = 8: 34.4%.
  MrssConfig big{.mamba = {.io = {}, .dim = 64, .depth = 4}, .stride = 4, .fast_fraction = 0.5};
  Generator gen(1);
  const MrssModel mrss(big, &gen);
  const models::MambaModel mamba(big.mamba, &gen);
  CHECK(static_cast<double>(mrss.state_updates(8, 1024)) / static_cast<double>(mamba.state_updates(8, 1024)) ==
        doctest::Approx(0.625));
  big.stride = 8;
  big.fast_fraction = 0.25;
  CHECK(static_cast<double>(MrssModel(big, &gen).state_updates(8, 1024)) /
            static_cast<double>(mamba.state_updates(8, 1024)) ==
        doctest::Approx(0.25 + 0.75 / 8));
}

TEST_CASE("mrss: both branches get the paper's init; their A_log and D are not decayed") {
  auto m = tiny_model();
  m->no_weight_decay_for_biases_and_norms();
  std::map<std::string, bool> flags;
  for (const auto& p : m->named_parameters()) flags[p.name] = p.no_weight_decay;
  for (const char* branch : {"fast", "slow"}) {
    CAPTURE(branch);
    const std::string prefix = std::string("layers.1.mixer.") + branch + ".";
    CHECK(flags.at(prefix + "A_log"));
    CHECK(flags.at(prefix + "D"));
    CHECK_FALSE(flags.at(prefix + "x_proj.weight"));
    CHECK_FALSE(flags.at(prefix + "out_proj.weight"));
  }
  CHECK_FALSE(flags.at("layers.1.mixer.gate_proj.weight"));
  for (const auto& branch : {mixer_of(*m, 0)->fast, mixer_of(*m, 0)->slow}) {
    const std::vector<double> a_log = branch->A_log.to_vector<double>();
    for (int64_t n = 0; n < 4; ++n) CHECK(a_log[static_cast<size_t>(5 * 4 + n)] == doctest::Approx(std::log(n + 1.0)));
    CHECK(min(branch->D).item() == 1.0);
    const Tensor dt = softplus(branch->dt_proj->bias.to(DType::f64));
    CHECK(min(dt).item() >= 1e-3 * (1 - 1e-4));
    CHECK(max(dt).item() <= 1e-1 * (1 + 1e-4));
  }
}

TEST_CASE("mrss: causal at every stride — changing token t never changes the outputs before t") {
  const int64_t L = 17;  // not a multiple of any stride: a partial window at the end
  for (int64_t stride : {2, 4, 8}) {
    auto m = tiny_model(stride);
    const Tensor base = tokens(2, L, 6);
    const Tensor out = m->forward(base);
    // Window starts, ends, and steps inside a window, the partial tail included.
    for (int64_t t : {0, 1, 2, 3, 4, 7, 8, 9, 12, 15, 16}) {
      CAPTURE(stride);
      CAPTURE(t);
      const Tensor changed = m->forward(bump(base, t));
      if (t > 0) CHECK_CLOSE(changed.narrow(1, 0, t), out.narrow(1, 0, t), 0.0, 0.0);
      CHECK(max_abs(changed.narrow(1, t, L - t) - out.narrow(1, t, L - t)) > 1e-6);
    }
  }
}

TEST_CASE("mrss: the output at t does not depend on where the sequence ends") {
  auto m = tiny_model(4);
  const Tensor x = tokens(2, 16, 7);
  const Tensor full_out = m->forward(x);
  for (int64_t length : {1, 3, 4, 5, 8, 10, 13, 15}) {
    CAPTURE(length);
    CHECK_CLOSE(m->forward(x.narrow(1, 0, length).contiguous()), full_out.narrow(1, 0, length), 1e-6, 1e-5);
  }
}

TEST_CASE("mrss: the slow branch hears of step t exactly when t's window ends") {
  // Gate closed on the fast branch (g = σ(−1000) = 0 exactly): what is left is the slow mixer, which
  // runs only on window means, so a change at step t shows nowhere before the end of t's window —
  // not even at t itself — and arrives there (through the slow skip and z gate at once).
  Generator gen(9);
  const MrssConfig c = tiny_config(4);
  models::MrssMixer mixer(c, &gen);
  {
    NoGradGuard no_grad;
    nn::init::zeros_(mixer.gate_proj->weight);
    nn::init::constant_(mixer.gate_proj->bias, -1000.0);
  }
  const int64_t L = 16;
  const Tensor u = test::randn_leaf({1, L, 16}, 10, false, DType::f32);
  const Tensor out = mixer.forward(u);
  for (int64_t t : {0, 1, 2, 3, 5, 10}) {
    CAPTURE(t);
    const int64_t end = (t / 4 + 1) * 4 - 1;  // the last step of t's window
    std::vector<float> v = u.to_vector<float>();
    for (int64_t d = 0; d < 16; ++d) v[static_cast<size_t>(t * 16 + d)] += 0.5f;
    const Tensor changed = mixer.forward(from_vector(v, {1, L, 16}));
    CHECK_CLOSE(changed.narrow(1, 0, end), out.narrow(1, 0, end), 0.0, 0.0);
    CHECK(max_abs(changed.select(1, end) - out.select(1, end)) > 1e-4);
  }
}

TEST_CASE("mrss: the whole slow mixer runs on W = floor(L / r) steps (the profiler's FLOPs)") {
  // B = 2, L = 18, r = 4: W = 4 windows (steps 16, 17 are not pooled). The slow branch's kernels —
  // in_proj, conv, x_proj, dt_proj, scan, out_proj, forward and backward — must cost exactly what a
  // C_s-channel Mamba mixer costs on a (2, 4, D) input; the fast branch's in_proj runs on all L.
  const int64_t B = 2, L = 18, W = 4, D = 16, Cf = 16, Cs = 16, N = 4;
  Generator gen(5);
  const MrssConfig c = tiny_config(4);
  models::MrssMixer mixer(c, &gen);
  models::MambaMixer reference(c.mamba, Cs, &gen);
  using Key = std::pair<Op, profile::Phase>;
  auto flops_under = [](nn::Module& root, const std::string& prefix, const Tensor& x) {
    std::map<Key, int64_t> flops;
    const auto paths = nn::module_paths(root);
    profile::Profiler profiler;
    sum(root.forward(x)).backward();
    for (const profile::Entry& e : profiler.entries()) {
      if (e.scope == nullptr || !paths.contains(e.scope)) continue;
      const std::string& path = paths.at(e.scope);
      if (path == prefix || path.starts_with(prefix + ".") || prefix.empty()) flops[{e.op, e.phase}] += e.flops;
    }
    return flops;
  };
  const std::map<Key, int64_t> slow =
      flops_under(mixer, "slow", test::randn_leaf({B, L, D}, 1, /*requires_grad=*/true, DType::f32));
  const std::map<Key, int64_t> alone =
      flops_under(reference, "", test::randn_leaf({B, W, D}, 2, /*requires_grad=*/true, DType::f32));
  CHECK(slow == alone);
  using profile::Phase;
  CHECK(slow.at({Op::matmul, Phase::forward}) == 2 * B * W * (D * 2 * Cs + Cs * (1 + 2 * N) + 1 * Cs + Cs * D) + B * W * Cs);
  CHECK(slow.at({Op::selective_scan, Phase::forward}) == B * W * Cs * (6 * N + 8));

  // The fast mixer's in_proj at full rate, for contrast.
  const auto paths = nn::module_paths(mixer);
  profile::Profiler profiler;
  mixer.forward(test::randn_leaf({B, L, D}, 3, false, DType::f32));
  int64_t fast_in = 0, slow_in = 0;
  for (const profile::Entry& e : profiler.entries()) {
    if (e.op != Op::matmul || !paths.contains(e.scope)) continue;
    if (paths.at(e.scope) == "fast.in_proj") fast_in += e.flops;
    if (paths.at(e.scope) == "slow.in_proj") slow_in += e.flops;
  }
  CHECK(fast_in == 2 * B * L * D * 2 * Cf);
  CHECK(slow_in == 2 * B * W * D * 2 * Cs);
}

TEST_CASE("mrss: gradients reach every parameter") {
  auto m = tiny_model(4);
  cross_entropy(m->forward(tokens(2, 10, 7)), tokens(2, 10, 8, 3)).backward();
  for (const auto& p : m->named_parameters()) {
    CAPTURE(p.name);
    const Tensor g = p.tensor.grad();
    REQUIRE(g.defined());
    CHECK(max_abs(g) > 0);
  }
}

TEST_CASE("mrss: a checkpoint rebuilds the same model, stride and split included") {
  test::TempDir dir;
  const models::ModelSpec& spec = models::find_model("mrss");
  const models::ModelConfig config = models::complete_config(
      spec, {{"dim", 16}, {"depth", 2}, {"d_state", 4}, {"stride", 2}, {"fast_fraction", 0.25}, {"vocab", 2},
             {"num_classes", 2}, {"per_token", false}});
  Generator gen(3);
  const models::ModelPtr model = spec.build(config, &gen);
  const Tensor x = tokens(3, 10, 9, 2);
  const Tensor out = model->forward(x);

  nn::Checkpoint ckpt;
  ckpt.model = spec.name;
  ckpt.config = config.values();
  ckpt.weights = model->state_dict();
  nn::save_checkpoint(dir / "mrss.safetensors", ckpt);
  const nn::Checkpoint loaded = nn::load_checkpoint(dir / "mrss.safetensors");
  auto again = std::dynamic_pointer_cast<MrssModel>(spec.build(models::complete_config(spec, loaded.config), nullptr));
  REQUIRE(again != nullptr);
  CHECK(again->mrss.stride == 2);
  CHECK(mixer_of(*again, 0)->fast_channels == 8);
  again->load_state_dict(loaded.weights);
  CHECK_CLOSE(again->forward(x), out, 0.0, 0.0);
}

TEST_CASE("mrss: a few AdamW steps on the majority task lower the loss") {
  const SequenceSet data = majority(32, 16, /*seed=*/1);
  Generator gen(4);
  MrssConfig c = tiny_config(4, /*per_token=*/false, /*vocab=*/2);
  c.mamba.io.num_classes = 2;
  MrssModel m(c, &gen);
  const auto [first, last] = test::adamw_losses(m, data.inputs, data.targets, 30, 1e-2);
  CAPTURE(first);
  CHECK(last < 0.7 * first);
}
