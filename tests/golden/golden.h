// tests/golden/golden.h — checking sieve against the PyTorch golden files in tests/golden/.
//
// A golden case (written by tests/golden/gen_<family>.py) holds inputs, PyTorch's output, an
// upstream gradient and PyTorch's input gradients. check_golden reruns the case with sieve:
//
//   check_golden("softmax", "softmax_last", [](GoldenInputs& in) { return softmax(in.at("x"), -1); });
//
// Float inputs that have a stored gradient are made leaves that require grad; the output and every
// stored gradient are compared, and a mismatch prints the first values and the largest difference.
//
// Extend: a new family adds tests/golden/gen_<family>.py (listed in gen_all.py) and a test file.
#pragma once

#include <functional>
#include <string>

#include "core/safetensors.h"
#include "core/tensor.h"

namespace sieve::test {

using GoldenInputs = TensorMap;

// Runs one golden case on `device`; tolerances apply to output and gradients alike.
void check_golden(const std::string& family, const std::string& case_name,
                  const std::function<Tensor(GoldenInputs&)>& fn, double atol = 1e-5, double rtol = 1e-4,
                  Device device = kCPU);

// The stored tensor "<case>.<key>" (e.g. "in.k" for an integer argument stored as a tensor).
Tensor golden_tensor(const std::string& family, const std::string& key);

}  // namespace sieve::test
