// tools/cli/model_flags.h — a model's hyper-parameters as command-line flags (`--dim 128`), generated
// from its ModelSpec options, for every command that builds a model by name (train, profile).
//
// What it is not: the run options (epochs, lr: tools/train/trainer.h) or the registry (models/registry.h).
// Extend: nothing to do for a new model; a new JSON option type adds a case to parse_model_flags.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/registry.h"

namespace sieve::tools {

// Keys the data decides (in_channels, image_size, num_classes for images; vocab, in_channels,
// num_classes, per_token for sequence models, set from the task); they are not model flags.
// (`sieve train --vocab` is a run flag: the task's vocabulary, which then sets the model's.)
bool is_data_key(const std::string& key);

// The flag texts given, by option key, as the command line collected them.
using ModelFlagTexts = std::map<std::string, std::string>;

// Adds --key for each of spec's options except data keys; the texts land in *texts.
void add_model_flags(CLI::App* cmd, const models::ModelSpec& spec, const std::shared_ptr<ModelFlagTexts>& texts);

// The given flags as a JSON object, each parsed as the type of its option's default; a text that
// does not parse is an error naming the flag.
nlohmann::json parse_model_flags(const models::ModelSpec& spec, const ModelFlagTexts& texts);

}  // namespace sieve::tools
