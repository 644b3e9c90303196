// tests/models/test_projectors.cpp — the LLaVA study's five projectors: shapes on every device,
// parameter counts and names, float64 gradchecks through each forward, LoRA's frozen base, and
// one-line errors for a bad name or rank.
#include <doctest/doctest.h>

#include "models/projectors.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "tests/helpers.h"

using namespace sieve;
using namespace sieve::models;

namespace {

std::shared_ptr<nn::Module> build(const std::string& kind, int64_t in = 6, int64_t out = 4, int64_t rank = 2) {
  Generator gen(7);
  return make_projector({.kind = kind, .in_dim = in, .out_dim = out, .rank = rank}, &gen);
}

}  // namespace

TEST_CASE("projectors: (B, N, Dv) → (B, N, D) token by token, on every device") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (const std::string& kind : kProjectorNames) {
        INFO(kind);
        auto p = build(kind);
        p->to(dev);
        const Tensor x = test::randn_leaf({2, 5, 6}, 3, false, DType::f32, dev);
        const Tensor y = p->forward(x);
        CHECK(y.shape() == Shape{2, 5, 4});
        CHECK(y.device() == dev);
        // Token by token: one token alone gives the same row as inside the batch.
        const Tensor one = p->forward(x.narrow(0, 1, 1).narrow(1, 3, 1).contiguous());
        CHECK_CLOSE(one.reshape({4}), y.select(0, 1).select(0, 3), 1e-6, 1e-6);
      }
    }
  }
}

TEST_CASE("projectors: parameter counts, trainable counts and LLaVA's names") {
  const int64_t Dv = 6, D = 4, r = 2;
  struct Want {
    std::string kind;
    int64_t total, trainable;
    std::vector<std::string> names;
  };
  const std::vector<Want> wants = {
      {"linear", Dv * D + D, Dv * D + D, {"weight", "bias"}},
      {"lowrank", r * Dv + D * r + D, r * Dv + D * r + D, {"down.weight", "up.weight", "up.bias"}},
      {"mlp", Dv * D + D + D * D + D, Dv * D + D + D * D + D, {"0.weight", "0.bias", "2.weight", "2.bias"}},
      {"gated", 2 * (Dv * D + D), 2 * (Dv * D + D), {"gate.weight", "gate.bias", "proj.weight", "proj.bias"}},
      {"lora", Dv * D + D + r * Dv + D * r, r * Dv + D * r, {"lora_A", "lora_B", "base.weight", "base.bias"}},
  };
  REQUIRE(wants.size() == kProjectorNames.size());
  for (const Want& want : wants) {
    INFO(want.kind);
    auto p = build(want.kind, Dv, D, r);
    CHECK(p->num_parameters() == want.total);
    CHECK(trainable_parameters(*p) == want.trainable);
    std::vector<std::string> names;
    for (const auto& np : p->named_parameters()) names.push_back(np.name);
    CHECK(names == want.names);
  }
}

TEST_CASE("projectors: float64 gradcheck through each forward, every weight an input") {
  const Tensor x = test::randn_leaf({2, 3, 5}, 11);
  auto leaf = [](const Shape& s, uint64_t seed) { return test::randn_leaf(s, seed); };
  {
    nn::Linear p(5, 4);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { p.weight = in[1], p.bias = in[2]; return p.forward(in[0]); },
                    {x, leaf({4, 5}, 12), leaf({4}, 13)});
  }
  {
    LowRankProjector p(5, 4, 2);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          p.down->weight = in[1], p.up->weight = in[2], p.up->bias = in[3];
          return p.forward(in[0]);
        },
        {x, leaf({2, 5}, 14), leaf({4, 2}, 15), leaf({4}, 16)});
  }
  {
    MlpProjector p(5, 4);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          p.fc1->weight = in[1], p.fc1->bias = in[2], p.fc2->weight = in[3], p.fc2->bias = in[4];
          return p.forward(in[0]);
        },
        {x, leaf({4, 5}, 17), leaf({4}, 18), leaf({4, 4}, 19), leaf({4}, 20)});
  }
  {
    GatedProjector p(5, 4);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          p.gate->weight = in[1], p.gate->bias = in[2], p.proj->weight = in[3], p.proj->bias = in[4];
          return p.forward(in[0]);
        },
        {x, leaf({4, 5}, 21), leaf({4}, 22), leaf({4, 5}, 23), leaf({4}, 24)});
  }
  {
    LoraProjector p(5, 4, 2);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          p.base->weight = in[1], p.base->bias = in[2], p.lora_A = in[3], p.lora_B = in[4];
          return p.forward(in[0]);
        },
        {x, leaf({4, 5}, 25), leaf({4}, 26), leaf({2, 5}, 27), leaf({4, 2}, 28)});
  }
}

TEST_CASE("lora projector: starts as its base, and a training step leaves the base bit for bit") {
  auto p = build("lora", 6, 4, 2);
  auto& lora = dynamic_cast<LoraProjector&>(*p);
  const Tensor x = test::randn_leaf({3, 2, 6}, 31, false, DType::f32);
  CHECK_CLOSE(p->forward(x), lora.base->forward(x), 0.0, 0.0);  // B = 0: the adapter adds exactly nothing
  const Tensor base_before = lora.base->weight.clone(), bias_before = lora.base->bias.clone();
  const Tensor b_before = lora.lora_B.clone();
  nn::AdamW opt(p->parameters(), {.lr = 1e-2});
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    sum(p->forward(x) * p->forward(x)).backward();
    CHECK_FALSE(lora.base->weight.grad().defined());
    opt.step();
  }
  CHECK_CLOSE(lora.base->weight, base_before, 0.0, 0.0);
  CHECK_CLOSE(lora.base->bias, bias_before, 0.0, 0.0);
  CHECK(test::max_abs(lora.lora_B - b_before) > 0);  // the adapter trains
}

TEST_CASE("projectors: a bad name or rank is one line naming the flag") {
  CHECK(test::contains(test::error_of([] { build("conv"); }),
                       "--projector: unknown projector 'conv' (known: linear, lowrank, mlp, gated, lora)"));
  CHECK(test::contains(test::error_of([] { build("lowrank", 6, 4, 5); }), "rank 5 must be between 1 and min(6, 4)"));
  CHECK(test::contains(test::error_of([] { build("lora", 6, 4, 0); }), "rank 0"));
  CHECK(test::error_of([] { build("linear", 6, 4, 0); }).empty());  // rank is not linear's
}
