// tests/models/round_trip.h — a model through a checkpoint file and back, for the models' tests.
//
// What it is: save (model name, config, weights) with nn::save_checkpoint into a scratch folder,
// load it, rebuild the model from the file's config alone, load the weights, and run it.
// Extend: a model with state outside its weights would add it to the Checkpoint here.
#pragma once

#include "models/registry.h"
#include "nn/checkpoint.h"
#include "tests/helpers.h"

namespace sieve::test {

// The logits the rebuilt model gives for `inputs` (compare them with the original's).
inline Tensor rebuilt_output(const models::ModelSpec& spec, const models::ModelConfig& config, const nn::Module& model,
                             const Tensor& inputs) {
  TempDir dir;
  nn::Checkpoint ckpt;
  ckpt.model = spec.name;
  ckpt.config = config.values();
  ckpt.weights = model.state_dict();
  nn::save_checkpoint(dir / "model.safetensors", ckpt);
  const nn::Checkpoint loaded = nn::load_checkpoint(dir / "model.safetensors");
  CHECK(loaded.model == spec.name);
  const models::ModelPtr again = spec.build(models::complete_config(spec, loaded.config), nullptr);
  again->load_state_dict(loaded.weights);
  return again->forward(inputs);
}

}  // namespace sieve::test
