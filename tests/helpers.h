// tests/helpers.h — what every sieve test uses: devices to run on, random leaves, closeness checks
// that print the first values and the largest difference, gradcheck and golden-file checks.
//
// One test body per op runs on every device present (tests/README.md states the rule):
//   for (Device dev : test_devices()) { SUBCASE(dev.str().c_str()) { ... } }
// CUDA appears in test_devices() only when a GPU is present; otherwise the skip is printed once
// ("CUDA cases skipped", the words tools/gpu-check looks for). Gradients are compared across
// devices by check_parity (tests/parity.h).
//
// Extend: add a helper here only when two test files need it.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/random.h"
#include "core/tensor.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace sieve::test {

// The devices every op test runs on: the CPU, plus CUDA when a GPU is usable.
std::vector<Device> test_devices();

// A float64 (or dtype) leaf of N(0,1) values from its own seed, on `device` (the same values on
// every device: they are drawn on the CPU); requires grad when asked.
Tensor randn_leaf(const Shape& shape, uint64_t seed, bool requires_grad = true, DType dtype = DType::f64,
                  Device device = kCPU);
// Uniform int64 ids in [0, size) of `shape` from their own seed, on the CPU.
Tensor random_ids(int64_t size, const Shape& shape, uint64_t seed);
// Same as randn_leaf, but the leaf is a non-contiguous view: its last two dims are stored transposed.
Tensor randn_leaf_transposed(const Shape& shape, uint64_t seed, bool requires_grad = true);

// Empty string when close (|a − e| ≤ atol + rtol·|e| everywhere, same shape); otherwise a message
// with the shapes, the first values of both and the largest difference and where it is.
std::string compare(const Tensor& actual, const Tensor& expected, double atol = 1e-5, double rtol = 1e-4);

// The message of the sieve::Error that f throws; "" when it throws none. For checks that look at
// several parts of one message (doctest's Contains looks for one).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A fresh directory per test case (under the system temp dir), removed with everything in it
// when the test case ends. `dir / "name"` is a path inside it.
struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The largest |element| of t, in double (0 for an empty tensor is not defined: t must have elements).
inline double max_abs(const Tensor& t) { return max(abs(t.to(DType::f64))).item(); }

}  // namespace sieve::test

// CHECK_CLOSE(actual, expected[, atol, rtol]) — fails with compare()'s message.
#define CHECK_CLOSE(...)                                        \
  do {                                                          \
    const std::string sieve_msg_ = ::sieve::test::compare(__VA_ARGS__); \
    CHECK_MESSAGE(sieve_msg_.empty(), sieve_msg_);              \
  } while (0)

// CHECK_GRADCHECK(fn, inputs[, options]) — central-difference gradcheck in float64.
#define CHECK_GRADCHECK(...)                                    \
  do {                                                          \
    const auto sieve_gc_ = ::sieve::gradcheck(__VA_ARGS__);     \
    CHECK_MESSAGE(sieve_gc_.ok, sieve_gc_.message);             \
  } while (0)
