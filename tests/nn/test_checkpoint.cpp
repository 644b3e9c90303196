// tests/nn/test_checkpoint.cpp — checkpoint files: round trip, what the reader refuses, strip_head.
#include <doctest/doctest.h>

#include "core/safetensors.h"
#include "nn/attention.h"
#include "nn/checkpoint.h"
#include "tests/helpers.h"

using namespace sieve;
using nn::Checkpoint;

namespace {

Checkpoint sample_checkpoint() {
  Checkpoint c;
  c.model = "mlp";
  c.config = {{"hidden", "8,4"}, {"dropout", 0.0}};
  c.data = {{"dataset", "mnist"}};
  c.weights["layers.0.weight"] = test::randn_leaf({8, 3}, 1, false, DType::f32);
  c.weights["head.weight"] = test::randn_leaf({2, 8}, 2, false, DType::f32);
  c.weights["head.bias"] = zeros({2});
  c.optimizer["state.0.exp_avg"] = test::randn_leaf({8, 3}, 3, false, DType::f32);
  c.optimizer["state.0.step"] = scalar(7, {.dtype = DType::i64});
  c.training = {{"step", 7}, {"epoch", 0}};
  c.constants = {{"layers.0", "gelu erf"}};
  return c;
}

}  // namespace

TEST_CASE("checkpoint: weights, optimizer state, config and training state round-trip") {
  test::TempDir dir;
  const Checkpoint saved = sample_checkpoint();
  nn::save_checkpoint(dir / "a.safetensors", saved);
  const Checkpoint loaded = nn::load_checkpoint(dir / "a.safetensors");
  CHECK(loaded.model == "mlp");
  CHECK(loaded.config == saved.config);
  CHECK(loaded.data == saved.data);
  CHECK(loaded.training == saved.training);
  CHECK(loaded.constants == saved.constants);
  CHECK(loaded.path == dir / "a.safetensors");
  CHECK_FALSE(loaded.head_stripped);
  REQUIRE(loaded.weights.size() == 3);
  REQUIRE(loaded.optimizer.size() == 2);
  for (const auto& [name, t] : saved.weights) CHECK_CLOSE(loaded.weights.at(name), t, 0.0, 0.0);
  for (const auto& [name, t] : saved.optimizer) CHECK_CLOSE(loaded.optimizer.at(name), t, 0.0, 0.0);
  // On disk the optimizer state is prefixed, so a plain safetensors reader tells them apart.
  const SafetensorsFile raw = load_safetensors(dir / "a.safetensors");
  CHECK(raw.tensors.contains("optimizer.state.0.exp_avg"));
  CHECK(raw.metadata.at("format") == nn::kCheckpointFormat);
}

TEST_CASE("checkpoint: a weights-only file has no training state") {
  test::TempDir dir;
  Checkpoint c = sample_checkpoint();
  c.optimizer.clear();
  c.training = nlohmann::json();
  nn::save_checkpoint(dir / "w.safetensors", c);
  const Checkpoint loaded = nn::load_checkpoint(dir / "w.safetensors");
  CHECK_FALSE(loaded.has_training_state());
  CHECK(loaded.optimizer.empty());
}

TEST_CASE("checkpoint: files that are not sieve checkpoints are refused, naming the file") {
  test::TempDir dir;
  const std::string plain = dir / "plain.safetensors";
  save_safetensors(plain, {{"w", zeros({2})}});
  std::string e = test::error_of([&] { nn::load_checkpoint(plain); });
  CHECK(test::contains(e, plain));
  CHECK(test::contains(e, "not a sieve checkpoint"));

  const std::string other = dir / "other.safetensors";
  save_safetensors(other, {{"w", zeros({2})}}, {{"format", "sieve-checkpoint-99"}, {"model", "mlp"}, {"config", "{}"}});
  CHECK(test::contains(test::error_of([&] { nn::load_checkpoint(other); }), "format 'sieve-checkpoint-99'"));

  const std::string no_config = dir / "noconfig.safetensors";
  save_safetensors(no_config, {{"w", zeros({2})}}, {{"format", nn::kCheckpointFormat}, {"model", "mlp"}});
  CHECK(test::contains(test::error_of([&] { nn::load_checkpoint(no_config); }), "no 'config'"));

  const std::string bad_json = dir / "badjson.safetensors";
  save_safetensors(bad_json, {{"w", zeros({2})}},
                   {{"format", nn::kCheckpointFormat}, {"model", "mlp"}, {"config", "{not json"}, {"constants", "{}"}});
  CHECK(test::contains(test::error_of([&] { nn::load_checkpoint(bad_json); }), "'config' is not a JSON object"));
}

TEST_CASE("checkpoint: the constants the config does not say are checked against the model built today") {
  // A pre-LN block: two LayerNorms (eps 1e-6), attention's scale and the MLP's GELU form.
  nn::TransformerBlock block(8, 2, 16);
  const auto today = block.named_constants();
  REQUIRE(today.at("norm1") == "layer_norm eps=1e-06");
  REQUIRE(today.at("mlp") == "gelu erf");
  REQUIRE(today.at("attn") == "softmax scale 1/sqrt(head_dim)");
  Checkpoint c = sample_checkpoint();
  c.constants = nlohmann::json::object();
  for (const auto& [module, text] : today) c.constants[module] = text;
  CHECK_NOTHROW(nn::check_constants(c, block, "f.safetensors"));

  Checkpoint changed = c;  // written when the default eps was 1e-5
  changed.constants["norm1"] = "layer_norm eps=1e-05";
  std::string e = test::error_of([&] { nn::check_constants(changed, block, "f.safetensors"); });
  CHECK(test::contains(e, "f.safetensors: module 'norm1' was written with layer_norm eps=1e-05"));
  CHECK(test::contains(e, "computes layer_norm eps=1e-06"));
  Checkpoint missing = c;
  missing.constants.erase("mlp");
  CHECK(test::contains(test::error_of([&] { nn::check_constants(missing, block, "f"); }), "nothing for module 'mlp'"));
  Checkpoint extra = c;
  extra.constants["gate"] = "silu";
  CHECK(test::contains(test::error_of([&] { nn::check_constants(extra, block, "f"); }), "names module 'gate'"));

  // Format 1 (no constants) was written with today's constants: accepted, and re-saved as format 1.
  Checkpoint old = c;
  old.constants = nlohmann::json();
  CHECK_NOTHROW(nn::check_constants(old, block, "f"));
  test::TempDir dir;
  nn::save_checkpoint(dir / "v1.safetensors", old);
  CHECK(load_safetensors(dir / "v1.safetensors").metadata.at("format") == nn::kCheckpointFormat1);
  CHECK(nn::load_checkpoint(dir / "v1.safetensors").constants.is_null());
  // Format 2 without its constants is refused.
  save_safetensors(dir / "v2.safetensors", {{"w", zeros({2})}},
                   {{"format", nn::kCheckpointFormat}, {"model", "mlp"}, {"config", "{}"}});
  CHECK(test::contains(test::error_of([&] { nn::load_checkpoint(dir / "v2.safetensors"); }), "no 'constants'"));
}

TEST_CASE("checkpoint: a weight may not use the optimizer prefix") {
  test::TempDir dir;
  Checkpoint c = sample_checkpoint();
  c.weights["optimizer.x"] = zeros({1});
  CHECK(test::contains(test::error_of([&] { nn::save_checkpoint(dir / "x.safetensors", c); }), "reserved prefix"));
}

TEST_CASE("checkpoint: a failed write leaves the previous file intact") {
  test::TempDir dir;
  const std::string path = dir / "keep.safetensors";
  nn::save_checkpoint(path, sample_checkpoint());
  Checkpoint broken = sample_checkpoint();
  broken.weights["optimizer.bad"] = zeros({1});  // refused before anything is written
  CHECK_THROWS_AS(nn::save_checkpoint(path, broken), Error);
  CHECK(nn::load_checkpoint(path).weights.size() == 3);
}

TEST_CASE("checkpoint: strip_head removes the head and the training state") {
  Checkpoint c = sample_checkpoint();
  CHECK(nn::strip_head(c, "head.") == 2);
  CHECK(c.weights.size() == 1);
  CHECK(c.weights.contains("layers.0.weight"));
  CHECK(c.optimizer.empty());
  CHECK_FALSE(c.has_training_state());
  CHECK(c.head_stripped);
  // Stripping again finds nothing: an error, not a silent no-op.
  CHECK(test::contains(test::error_of([&] { nn::strip_head(c, "head."); }), "no weight starts with 'head.'"));

  test::TempDir dir;
  nn::save_checkpoint(dir / "s.safetensors", c);
  CHECK(nn::load_checkpoint(dir / "s.safetensors").head_stripped);
}
