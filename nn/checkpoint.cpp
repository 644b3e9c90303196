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
      {"format", kCheckpointFormat},
      {"model", checkpoint.model},
      {"config", checkpoint.config.dump()},
      {"data", checkpoint.data.dump()},
  };
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
  if (format->second != kCheckpointFormat)
    fail_file(path, "checkpoint format '{}' is not the one this sieve reads ('{}')", printable(format->second, 64),
              kCheckpointFormat);
  for (const char* key : {"model", "config"})
    if (!meta.contains(key)) fail_file(path, "checkpoint metadata has no '{}'", key);

  Checkpoint checkpoint;
  checkpoint.model = meta.at("model");
  checkpoint.config = parse_json_entry(path, meta, "config");
  if (meta.contains("data")) checkpoint.data = parse_json_entry(path, meta, "data");
  if (meta.contains("training")) checkpoint.training = parse_json_entry(path, meta, "training");
  checkpoint.head_stripped = meta.contains("head") && meta.at("head") == "stripped";
  for (auto& [name, tensor] : file.tensors) {
    if (name.starts_with(kOptimizerPrefix))
      checkpoint.optimizer[name.substr(kOptimizerPrefix.size())] = std::move(tensor);
    else
      checkpoint.weights[name] = std::move(tensor);
  }
  return checkpoint;
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
