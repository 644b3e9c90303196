// tools/cli/ckpt.cpp — `sieve ckpt info FILE` (what a safetensors file holds) and
// `sieve ckpt strip-head FILE` (a checkpoint without its classifier head, for fine-tuning).
//
// info prints the metadata (a model's configuration travels there) and one line per tensor: name,
// dtype as stored in the file, shape and element count. The whole file is read and validated by
// load_safetensors first, so `ckpt info` doubles as a checker: a bad file is one line on stderr
// ("sieve: FILE: problem") and exit 1.
// strip-head writes a weights-only copy (no optimizer or training state) without the parameters
// under the model's head prefix (models/registry.h), so `sieve train MODEL --init NEW` can
// fine-tune it on a dataset with another number of classes.
// What it is not: a general converter or editor of checkpoints.
// Extend: a new `ckpt` action is another add_subcommand below (e.g. `ckpt diff A B`).
#include <fstream>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/safetensors.h"
#include "models/registry.h"
#include "nn/checkpoint.h"
#include "tools/cli/commands.h"

namespace sieve::tools {

namespace {

// The dtype codes as stored (BF16/F16 are widened to float32 on load, so the tensors no longer
// say). The file was validated by load_safetensors just before, so plain parsing is safe here.
std::map<std::string, std::string> stored_dtypes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  std::map<std::string, std::string> out;
  if (!in) return out;  // changed under us: fall back to sieve's dtype names
  const auto header = nlohmann::json::parse(text, nullptr, false);
  if (!header.is_object()) return out;
  for (const auto& [name, entry] : header.items())
    if (name != "__metadata__" && entry.is_object() && entry.contains("dtype")) out[name] = entry["dtype"].get<std::string>();
  return out;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

int info(const std::string& path) {
  const SafetensorsFile file = load_safetensors(path);
  const auto stored = stored_dtypes(path);
  int64_t elements = 0;
  double bytes = 0;
  size_t width = 4;
  for (const auto& [name, t] : file.tensors) {
    elements += t.numel();
    bytes += static_cast<double>(t.numel() * static_cast<int64_t>(dtype_size(t.dtype())));
    width = std::max(width, printable(name).size());
  }
  fmt::print("{}: {} tensors, {} elements, {} in memory\n", path, file.tensors.size(), elements, human_bytes(bytes));
  if (!file.metadata.empty()) {
    fmt::print("metadata:\n");
    for (const auto& [key, value] : file.metadata) fmt::print("  {} = {}\n", printable(key), printable(value));
  }
  if (!file.tensors.empty()) fmt::print("{:<{}}  {:<7}  {:<20}  {}\n", "name", width, "dtype", "shape", "elements");
  for (const auto& [name, t] : file.tensors) {
    auto it = stored.find(name);
    const std::string dtype = it != stored.end() ? it->second : dtype_name(t.dtype());
    fmt::print("{:<{}}  {:<7}  {:<20}  {}\n", printable(name), width, dtype, shape_str(t.shape()), t.numel());
  }
  return 0;
}

int strip_head(const std::string& path, std::string out) {
  if (out.empty()) {
    std::filesystem::path p(path);
    out = (p.parent_path() / (p.stem().string() + "-headless.safetensors")).string();
  }
  SIEVE_CHECK(!same_file(out, path),
              "strip-head: --out must differ from the input {} (the original is kept)", path);
  nn::Checkpoint checkpoint = nn::load_checkpoint(path);
  const models::ModelSpec& spec = models::find_model(checkpoint.model);
  const int removed = nn::strip_head(checkpoint, spec.head_prefix);
  nn::save_checkpoint(out, checkpoint);
  fmt::print("{}: removed {} head tensors ('{}*') and the training state; {} weights left\n", out, removed,
             spec.head_prefix, checkpoint.weights.size());
  fmt::print("fine-tune it with: sieve train {} --init {} --dataset NAME\n", spec.name, out);
  return 0;
}

}  // namespace

void add_ckpt_command(CLI::App& app, Runner* run) {
  CLI::App* ckpt = app.add_subcommand("ckpt", "inspect safetensors checkpoints, strip a classifier head");
  CLI::App* info_cmd = ckpt->add_subcommand("info", "list a checkpoint's tensors (name, dtype, shape) and metadata; "
                                                     "exits 1 with a one-line reason if the file is not valid");
  auto path = std::make_shared<std::string>();
  info_cmd->add_option("FILE", *path, "a .safetensors file")->required();
  info_cmd->callback([run, path] { *run = [path] { return info(*path); }; });

  CLI::App* strip = ckpt->add_subcommand("strip-head", "write a copy of a sieve checkpoint without its classifier head and "
                                                      "training state, to fine-tune on another number of classes");
  auto strip_path = std::make_shared<std::string>();
  auto strip_out = std::make_shared<std::string>();
  strip->add_option("FILE", *strip_path, "a checkpoint written by sieve train")->required();
  strip->add_option("--out", *strip_out, "where to write (default: FILE's name + -headless.safetensors)");
  strip->callback([run, strip_path, strip_out] { *run = [=] { return strip_head(*strip_path, *strip_out); }; });
}

}  // namespace sieve::tools
