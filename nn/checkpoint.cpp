// nn/checkpoint.cpp — checkpoint files (see checkpoint.h).
#include "nn/checkpoint.h"

#include "core/error.h"

namespace sieve::nn {

using nlohmann::json;

static constexpr std::string_view kOptimizerPrefix = "optimizer.";

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  SIEVE_CHECK(!checkpoint.model.empty(), "{}: a checkpoint needs the model's name", path);
  TensorMap tensors;
  for (const auto& [name, tensor] : checkpoint.weights) {
    // A weight named like optimizer state would be read back as optimizer state.
    SIEVE_CHECK(!name.starts_with(kOptimizerPrefix), "{}: weight name '{}' uses the reserved prefix '{}'", path,
                name, kOptimizerPrefix);
    tensors[name] = tensor;
  }
  for (const auto& [name, tensor] : checkpoint.optimizer) tensors[std::string(kOptimizerPrefix) + name] = tensor;
  Metadata metadata = {
      // A format 1 file re-saved (strip-head) stays format 1: what it records has not changed.
      {"format", checkpoint.constants.is_null() ? kCheckpointFormat1 : kCheckpointFormat},
      {"model", checkpoint.model},
      {"config", checkpoint.config.dump()},
      {"data", checkpoint.data.dump()},
  };
  if (checkpoint.constants.is_object()) metadata["constants"] = checkpoint.constants.dump();
  if (checkpoint.has_training_state()) metadata["training"] = checkpoint.training.dump();
  if (checkpoint.head_stripped) metadata["head"] = "stripped";
  save_safetensors(path, tensors, metadata);
}

// A metadata entry parsed as a JSON object; anything else names the file and the key.
static json parse_json_entry(const std::string& path, const Metadata& metadata, const std::string& key) {
  json value = json::parse(metadata.at(key), nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) fail_file(path, "metadata '{}' is not a JSON object", key);
  return value;
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  const Metadata& meta = file.metadata;
  auto format = meta.find("format");
  if (format == meta.end())
    fail_file(path, "not a sieve checkpoint (no 'format' in __metadata__; a plain safetensors file?)");
  const bool format1 = format->second == kCheckpointFormat1;
  if (format->second != kCheckpointFormat && !format1)
    fail_file(path, "checkpoint format '{}' is not one this sieve reads ('{}', '{}')", printable(format->second, 64),
              kCheckpointFormat, kCheckpointFormat1);
  for (const char* key : {"model", "config"})
    if (!meta.contains(key)) fail_file(path, "checkpoint metadata has no '{}'", key);
  if (!format1 && !meta.contains("constants")) fail_file(path, "checkpoint metadata has no 'constants' (format 2)");

  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.model = meta.at("model");
  checkpoint.config = parse_json_entry(path, meta, "config");
  if (meta.contains("data")) checkpoint.data = parse_json_entry(path, meta, "data");
  if (meta.contains("training")) checkpoint.training = parse_json_entry(path, meta, "training");
  checkpoint.head_stripped = meta.contains("head") && meta.at("head") == "stripped";
  if (!format1) {
    checkpoint.constants = parse_json_entry(path, meta, "constants");
    for (const auto& [module, text] : checkpoint.constants.items())
      if (!text.is_string()) fail_file(path, "metadata 'constants': '{}' is not a string", printable(module, 200));
  }
  for (auto& [name, tensor] : file.tensors) {
    if (name.starts_with(kOptimizerPrefix))
      checkpoint.optimizer[name.substr(kOptimizerPrefix.size())] = std::move(tensor);
    else
      checkpoint.weights[name] = std::move(tensor);
  }
  return checkpoint;
}

void check_constants(const Checkpoint& checkpoint, const Module& model, const std::string& path) {
  if (checkpoint.constants.is_null()) return;  // format 1: written with today's constants
  const std::map<std::string, std::string> today = model.named_constants();
  for (const auto& [module, text] : today) {
    const auto it = checkpoint.constants.find(module);
    if (it == checkpoint.constants.end())
      fail_file(path, "metadata 'constants' records nothing for module '{}' ({} in this sieve's '{}'): the file was "
                "written for a different model", module, text, checkpoint.model);
    if (it->get<std::string>() != text)
      fail_file(path, "module '{}' was written with {}, but this sieve's '{}' computes {}: the weights would mean "
                "something else", module, printable(it->get<std::string>(), 200), checkpoint.model, text);
  }
  for (const auto& [module, text] : checkpoint.constants.items())
    if (!today.contains(module))
      fail_file(path, "metadata 'constants' names module '{}', which this sieve's '{}' does not have",
                printable(module, 200), checkpoint.model);
}

int strip_head(Checkpoint& checkpoint, const std::string& head_prefix) {
  SIEVE_CHECK(!head_prefix.empty(), "strip-head: model '{}' declares no head", checkpoint.model);
  int removed = 0;
  for (auto it = checkpoint.weights.begin(); it != checkpoint.weights.end();) {
    if (it->first.starts_with(head_prefix)) {
      it = checkpoint.weights.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  SIEVE_CHECK(removed > 0, "strip-head: no weight starts with '{}' (already stripped?)", head_prefix);
  checkpoint.optimizer.clear();
  checkpoint.training = json();
  checkpoint.head_stripped = true;
  return removed;
}

}  // namespace sieve::nn
