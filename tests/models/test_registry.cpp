// tests/models/test_registry.cpp — the model table: configs, defaults, typed reads, building.
#include <doctest/doctest.h>

#include "models/mlp.h"
#include "models/registry.h"
#include "models/vit.h"
#include "ops/loss.h"
#include "tests/helpers.h"
#include "tests/models/sgd.h"

using namespace sieve;
using models::ModelConfig;
using test::sgd_losses;
using nlohmann::json;

TEST_CASE("registry: every model has a name, a head and a build function") {
  REQUIRE_FALSE(models::model_specs().empty());
  for (const models::ModelSpec& spec : models::model_specs()) {
    CAPTURE(spec.name);
    CHECK_FALSE(spec.summary.empty());
    CHECK_FALSE(spec.head_prefix.empty());
    CHECK(spec.build);
    // Built from defaults alone, the model has parameters under its head prefix.
    Generator gen(0);
    models::ModelPtr model = spec.build(models::complete_config(spec, json::object()), &gen);
    bool has_head = false;
    for (const auto& p : model->named_parameters()) has_head |= p.name.starts_with(spec.head_prefix);
    CHECK(has_head);
  }
}

TEST_CASE("registry: unknown models and options are errors that name them") {
  std::string e = test::error_of([] { models::find_model("resnet"); });
  CHECK(test::contains(e, "unknown model 'resnet'"));
  CHECK(test::contains(e, "mlp"));
  const models::ModelSpec& mlp = models::find_model("mlp");
  CHECK(test::contains(test::error_of([&] { models::complete_config(mlp, {{"depth", 3}}); }), "no option 'depth'"));
  CHECK(test::contains(test::error_of([&] { models::complete_config(mlp, {{"hidden", 3}}); }),
                       "option 'hidden' expects string"));
}

TEST_CASE("registry: defaults fill what is not given; integers are accepted for numbers") {
  const models::ModelSpec& mlp = models::find_model("mlp");
  const ModelConfig c = models::complete_config(mlp, {{"dropout", 1}, {"num_classes", 5}});
  CHECK(c.get_float("dropout") == 1.0);
  CHECK(c.get_int("num_classes") == 5);
  CHECK(c.get_ints("hidden") == std::vector<int64_t>{512, 256});
  CHECK(test::contains(test::error_of([&] { c.get_int("dropout"); }), "'dropout' must be an integer"));
  CHECK(test::contains(test::error_of([&] { c.get_int("nothing"); }), "no value for 'nothing'"));
}

// Sizes out of reason are refused by the config itself, before a layer is built: a depth of 10^6
// once built gigabytes of blocks before memory ran out.
TEST_CASE("registry: every numeric option has a range holding its default; values outside are refused") {
  for (const models::ModelSpec& spec : models::model_specs())
    for (const models::ModelOption& option : spec.options) {
      CAPTURE(spec.name);
      CAPTURE(option.key);
      const json& d = option.default_value;
      if (!d.is_number() && option.key != "hidden") continue;
      REQUIRE(option.has_range());
      CHECK(option.out_of_range(d).empty());
      CHECK_NOTHROW(models::complete_config(spec, {{option.key, d}}));
      const json above = d.is_number_float() ? json(option.max + 0.5) : d.is_string() ? json("8," + std::to_string(static_cast<int64_t>(option.max) + 1)) : json(static_cast<int64_t>(option.max) + 1);
      const std::string e = test::error_of([&] { models::complete_config(spec, {{option.key, above}}); });
      CHECK(test::contains(e, "option '" + option.key + "'"));
      CHECK(test::contains(e, "above the largest allowed"));
      if (d.is_number()) {
        const json below = d.is_number_float() ? json(option.min - 0.5) : json(static_cast<int64_t>(option.min) - 1);
        CHECK(test::contains(test::error_of([&] { models::complete_config(spec, {{option.key, below}}); }),
                             "below the smallest allowed"));
      }
    }
  const models::ModelSpec& vit = models::find_model("vit");
  CHECK(test::contains(test::error_of([&] { models::complete_config(vit, {{"depth", 1000000}}); }),
                       "model 'vit': option 'depth': 1000000 is above the largest allowed, 4096"));
}

TEST_CASE("registry: width lists parse strictly") {
  CHECK(ModelConfig(json{{"h", "7"}}).get_ints("h") == std::vector<int64_t>{7});
  CHECK(ModelConfig(json{{"h", ""}}).get_ints("h").empty());
  for (const char* bad : {"7,", ",7", "7,,8", "a", "7 8", "0", "-3", "99999999999999999999"}) {
    CAPTURE(bad);
    CHECK(test::contains(test::error_of([&] { ModelConfig(json{{"h", bad}}).get_ints("h"); }), "positive integers"));
  }
}

TEST_CASE("mlp: shapes, parameter names and a few steps of learning") {
  Generator gen(3);
  models::MlpClassifier model(2 * 3 * 3, {16, 8}, 4, 0.0, &gen);
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                         "head.weight", "head.bias"});
  const Tensor x = test::randn_leaf({6, 2, 3, 3}, 4, false, DType::f32);
  CHECK(model.forward(x).shape() == Shape{6, 4});
  CHECK(test::contains(test::error_of([&] { model.forward(zeros({6, 17})); }), "18 features per sample"));

  const Tensor y = from_vector<int64_t>({0, 1, 2, 3, 0, 1}, {6});
  const auto [first, last] = sgd_losses(model, x, y, 30, 0.1f);
  CHECK(last < 0.5 * first);
}

TEST_CASE("vit: shapes, timm parameter names, no decay on cls/pos, and learning") {
  Generator gen(5);
  models::VisionTransformer vit({.in_channels = 1, .image_size = 8, .patch = 4, .dim = 16, .depth = 2, .heads = 2,
                                 .mlp_hidden = 32, .num_classes = 3},
                                &gen);
  std::map<std::string, Shape> shapes;
  std::map<std::string, bool> no_decay;
  for (const auto& p : vit.named_parameters()) {
    shapes[p.name] = p.tensor.shape();
    no_decay[p.name] = p.no_weight_decay;
  }
  CHECK(shapes.at("cls_token") == Shape{1, 1, 16});
  CHECK(shapes.at("pos_embed") == Shape{1, 5, 16});  // CLS + (8/4)² patches
  CHECK(shapes.at("patch_embed.proj.weight") == Shape{16, 1, 4, 4});
  CHECK(shapes.at("blocks.1.attn.qkv.weight") == Shape{48, 16});
  CHECK(shapes.at("blocks.1.mlp.fc2.weight") == Shape{16, 32});
  CHECK(shapes.at("norm.weight") == Shape{16});
  CHECK(shapes.at("head.weight") == Shape{3, 16});
  CHECK(no_decay.at("cls_token"));
  CHECK(no_decay.at("pos_embed"));
  // cls/pos are drawn (std 0.02, not zeros), and the same seed draws the same values.
  CHECK(vit.pos_embed.to_vector<float>() != std::vector<float>(80, 0.0f));
  Generator again(5);
  models::VisionTransformer twin(vit.config, &again);
  CHECK_CLOSE(twin.pos_embed, vit.pos_embed, 0.0, 0.0);

  const Tensor x = test::randn_leaf({6, 1, 8, 8}, 7, false, DType::f32);
  const Tensor tokens = vit.embed(x);
  CHECK(tokens.shape() == Shape{6, 5, 16});
  CHECK(vit.forward(x).shape() == Shape{6, 3});
  CHECK(test::contains(test::error_of([] { models::VisionTransformer({.image_size = 10, .patch = 4}); }),
                       "not a multiple of patch"));

  const Tensor y = from_vector<int64_t>({0, 1, 2, 0, 1, 2}, {6});
  const auto [first, last] = sgd_losses(vit, x, y, 40, 0.05f);
  CHECK(last < 0.5 * first);
}
