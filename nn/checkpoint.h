// nn/checkpoint.h — checkpoint files: a model's weights, its configuration and, for training
// checkpoints, the optimizer state and where training stood.
//
// A checkpoint is one safetensors file (core/safetensors.h), so PyTorch's safetensors loader reads
// it. Inside:
//   weights         under their state-dict names ("layers.0.weight", "head.bias", ...)
//   optimizer state under "optimizer." + the optimizer's names ("optimizer.state.3.exp_avg")
//   __metadata__    "format": "sieve-checkpoint-2", "model": the registry name ("mlp"),
//                   "config": the model configuration (JSON), "constants": what the config does
//                   not say but the function depends on, per module (JSON: {"blocks.0.norm1":
//                   "layer_norm eps=1e-06", "blocks.0.mlp": "gelu erf", ...}; nn/module.h),
//                   "data": what the model was trained on (JSON: dataset, input shape,
//                   normalisation, class names), "training": where training stood (JSON: step,
//                   epoch, batch, RNG, the run's options; absent in weights-only files)
// Format 1 files have no "constants": they were all written with the constants format 2 records
// for them today, so they are read as such. A change of any default (an eps, the GELU form)
// changes what check_constants sees, and a file written before it is refused, not misread.
// The write goes to a temporary file that is flushed and renamed into place, so a crash
// mid-write leaves the previous checkpoint intact.
//
// What it is not: which model a name means (models/registry.h) or the training loop (tools/).
// Extend: new training state goes into the "training" JSON; new tensors under a new prefix
// (the reader keeps every non-"optimizer." tensor as a weight).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/safetensors.h"
#include "nn/module.h"

namespace sieve::nn {

struct Checkpoint {
  std::string model;                    // registry name, e.g. "mlp"
  nlohmann::json config = nlohmann::json::object();
  nlohmann::json data = nlohmann::json::object();  // dataset, input shape, normalisation
  TensorMap weights;                    // the model's state dict
  TensorMap optimizer;                  // optimizer state tensors (empty in weights-only files)
  nlohmann::json training;              // null in weights-only files
  bool head_stripped = false;           // `sieve ckpt strip-head` removed the classifier head
  nlohmann::json constants;             // module path → constants(); null in format 1 files
  std::string path;                     // the file it was loaded from (for messages; not saved)

  bool has_training_state() const { return !training.is_null(); }
};

inline constexpr const char* kCheckpointFormat = "sieve-checkpoint-2";
inline constexpr const char* kCheckpointFormat1 = "sieve-checkpoint-1";  // read: the same minus "constants"

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Checks the format tag and that model and config are present and well-formed; a safetensors
// file that is not a sieve checkpoint is an error naming the file.
Checkpoint load_checkpoint(const std::string& path);

// Removes every weight whose name starts with head_prefix and all training state, so the model
// can be fine-tuned on another number of classes. Returns how many tensors were removed; none is
// an error (the prefix names no parameter).
int strip_head(Checkpoint& checkpoint, const std::string& head_prefix);

// Refuses (naming the file and the module) a checkpoint whose recorded constants differ from
// those of `model`, built from its config today. A format 1 file (constants null) passes.
void check_constants(const Checkpoint& checkpoint, const Module& model, const std::string& path);

}  // namespace sieve::nn
