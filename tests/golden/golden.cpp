// tests/golden/golden.cpp — see golden.h.
#include "tests/golden/golden.h"

#include <map>

#include "tests/helpers.h"

#ifndef SIEVE_GOLDEN_DIR
#error "SIEVE_GOLDEN_DIR must point at tests/golden"
#endif

namespace sieve::test {

namespace {

const SafetensorsFile& golden_file(const std::string& family) {
  static std::map<std::string, SafetensorsFile> cache;
  auto it = cache.find(family);
  if (it == cache.end())
    it = cache.emplace(family, load_safetensors(std::string(SIEVE_GOLDEN_DIR) + "/" + family + ".safetensors")).first;
  return it->second;
}

}  // namespace

Tensor golden_tensor(const std::string& family, const std::string& key) {
  const auto& tensors = golden_file(family).tensors;
  auto it = tensors.find(key);
  SIEVE_CHECK(it != tensors.end(), "golden file {}.safetensors has no tensor '{}'", family, key);
  return it->second;
}

void check_golden(const std::string& family, const std::string& case_name,
                  const std::function<Tensor(GoldenInputs&)>& fn, double atol, double rtol, Device device) {
  INFO("golden ", family, "/", case_name, " on ", device.str());
  const auto& tensors = golden_file(family).tensors;
  const std::string in_prefix = case_name + ".in.";
  GoldenInputs inputs;
  for (const auto& [key, value] : tensors) {
    if (key.rfind(in_prefix, 0) != 0) continue;
    const std::string name = key.substr(in_prefix.size());
    Tensor t = value.clone().to(device);
    if (tensors.count(case_name + ".grad." + name)) t.requires_grad_();
    inputs[name] = t;
  }
  REQUIRE_MESSAGE(!inputs.empty(), "no inputs stored for case ", case_name);
  Tensor out = fn(inputs);
  CHECK_CLOSE(out, golden_tensor(family, case_name + ".out"), atol, rtol);
  auto gout = tensors.find(case_name + ".gout");
  if (gout == tensors.end()) return;
  out.backward(gout->second.to(device));
  for (const auto& [name, input] : inputs) {
    auto expected = tensors.find(case_name + ".grad." + name);
    if (expected == tensors.end()) continue;
    INFO("gradient of input ", name);
    CHECK_CLOSE(input.grad(), expected->second, atol, rtol);
  }
}

}  // namespace sieve::test
