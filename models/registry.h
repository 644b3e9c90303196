// models/registry.h — the list of models the command line can build, and their configurations.
//
// A model is known by name ("mlp", later "vit", "mamba", ...). Its hyper-parameters are a flat
// JSON object (ModelConfig) with a declared default for every key; the command line turns each key
// into a flag (`--hidden 512,256`), and a checkpoint stores the whole object in its safetensors
// `__metadata__`, so `sieve eval ckpt.safetensors` rebuilds the same model with no flags at all.
// The data decides some keys itself: in_channels, image_size and num_classes for an image model;
// vocab, in_channels, num_classes and per_token for a sequence model (models/sequence.h), which
// is one whose ModelSpec names a default_task.
//
// What it is not: the training loop (tools/train/trainer.h), checkpoint files (nn/checkpoint.h).
// Extend: write models/<name>.{h,cpp} (a thin Module composing nn/ layers), then add one
// ModelSpec to the table in models/registry.cpp: its options with defaults, help and ranges, the
// parameter-name prefix of its classifier head, and a build function.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "nn/module.h"

namespace sieve::models {

// Typed reads of one model's configuration; a missing key or a wrong type is an error naming it.
class ModelConfig {
 public:
  ModelConfig() = default;
  explicit ModelConfig(nlohmann::json values) : values_(std::move(values)) {}
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  // "512,256" → {512, 256} (a list of widths on the command line).
  std::vector<int64_t> get_ints(const std::string& key) const;
  const nlohmann::json& values() const { return values_; }
  nlohmann::json& values() { return values_; }

 private:
  const nlohmann::json& at(const std::string& key) const;
  nlohmann::json values_ = nlohmann::json::object();
};

// One hyper-parameter: its key (a flag --key on the command line), default and help text.
// The default's JSON type (integer, number, boolean, string) is the type the flag accepts.
// A number's range [min, max] is what sieve can sensibly build: a value outside it (a depth of
// 10^6, a width of 10^7) is refused at once, naming the flag or the checkpoint's key, rather than
// after gigabytes of layers. Every numeric option declares one (a test checks).
struct ModelOption {
  std::string key;
  nlohmann::json default_value;
  std::string help;
  double min = -HUGE_VAL, max = HUGE_VAL;
  bool has_range() const { return min != -HUGE_VAL || max != HUGE_VAL; }
  // "" when value (of the option's type) lies in the range, else why not: "1000000 is above 4096".
  std::string out_of_range(const nlohmann::json& value) const;
};

// A classifier: images (B, C, H, W) → logits (B, classes); or sequences (B, L) / (B, L, C) →
// logits (B, classes) or, per token, (B, L, classes).
using ModelPtr = std::shared_ptr<nn::Module>;

// One training step's loss and the logits the trainer reports accuracy from.
struct StepOutput {
  Tensor loss;    // scalar, what backward() starts from
  Tensor logits;  // (B, classes), or (B, L, classes) for a per-token sequence model
};

// A model whose training loss is not cross_entropy(forward(x), y) implements this (DD-ViT: the
// sum of its per-block exits' losses); the trainer asks for it with dynamic_cast and otherwise
// uses forward + cross-entropy. inputs: (B, ...), targets: int64 (B).
class HasTrainingLoss {
 public:
  virtual ~HasTrainingLoss() = default;
  virtual StepOutput training_step(const Tensor& inputs, const Tensor& targets) = 0;
};

// A model whose classes are texts (CLIP, models/clip.h): the trainer, `sieve eval` and
// `sieve infer` give it each class's captions (datasets/captions.h) — texts[c] name class c —
// to train from and to classify with (zero-shot). The trainer asks with dynamic_cast.
class HasTextClasses {
 public:
  virtual ~HasTextClasses() = default;
  virtual void set_training_texts(std::vector<std::vector<std::string>> texts) = 0;
  virtual void set_zero_shot_texts(std::vector<std::vector<std::string>> texts) = 0;
};

// A model whose images have features worth a linear probe (CLIP: its normalised image
// embeddings): images (B, C, H, W) → features (B, F). `sieve eval --probe` asks with dynamic_cast.
class HasImageFeatures {
 public:
  virtual ~HasImageFeatures() = default;
  virtual Tensor image_features(const Tensor& images) = 0;
};

// A model with work of its own after every optimizer step (CLIP clamps its logit scale), and
// figures worth watching beside the loss (progress bar, epoch line). Called by apply_gradients.
class HasStepHooks {
 public:
  virtual ~HasStepHooks() = default;
  virtual void after_step() {}
  virtual std::vector<std::pair<std::string, double>> step_figures() { return {}; }
};

struct ModelSpec {
  std::string name;
  std::string summary;                // one line for `sieve train --help`
  std::vector<ModelOption> options;   // the model's own keys, with defaults
  std::string head_prefix;            // parameters named head_prefix + "..." form the classifier head
  std::function<ModelPtr(const ModelConfig&, Generator*)> build;
  // Empty for an image classifier. A sequence model (models/sequence.h: its options end with the
  // data keys vocab, in_channels, num_classes, per_token) names the task `sieve train` gives it
  // when no --task is given: "selective-copy", "induction", "majority" or "smnist".
  std::string default_task = {};
  bool is_sequence() const { return !default_task.empty(); }
};

const std::vector<ModelSpec>& model_specs();
// The spec named `name`; an unknown name is an error listing the known ones.
const ModelSpec& find_model(const std::string& name);

// Defaults of every declared option, overridden by the keys given (unknown keys are an error
// naming them: a checkpoint for another model must not half-build).
ModelConfig complete_config(const ModelSpec& spec, const nlohmann::json& given);

}  // namespace sieve::models
