// tests/helpers.cpp — see helpers.h.
#include "tests/helpers.h"

#include <cmath>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cuda/backend.h"

namespace sieve::test {

std::vector<Device> test_devices() {
  std::vector<Device> devices{kCPU};
  if (cuda::available()) {
    devices.push_back(kCUDA);
  } else {
    static bool told = false;
    if (!told) std::printf("[sieve tests] no GPU present: CUDA cases skipped, CPU only\n");
    told = true;
  }
  return devices;
}

Tensor randn_leaf(const Shape& shape, uint64_t seed, bool requires_grad, DType dtype, Device device) {
  Generator gen(seed);
  Tensor t = randn(shape, {.dtype = dtype}, &gen);
  if (!device.is_cpu()) t = t.to(device);
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor random_ids(int64_t size, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randint(0, size, shape, {.dtype = DType::i64}, &gen);
}

Tensor randn_leaf_transposed(const Shape& shape, uint64_t seed, bool requires_grad) {
  REQUIRE(shape.size() >= 2);
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  Tensor t = randn_leaf(swapped, seed, false).transpose(-1, -2).detach();
  if (requires_grad) t.requires_grad_();
  return t;
}

TempDir::TempDir() {
  static int counter = 0;
  path = std::filesystem::temp_directory_path() / fmt::format("sieve-test-{}-{}", ::getpid(), counter++);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::string compare(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (!actual.defined() || !expected.defined())
    return fmt::format("compare: {} vs {}", actual.describe(), expected.describe());
  if (actual.shape() != expected.shape())
    return fmt::format("shape mismatch: actual {} vs expected {}", actual.describe(), expected.describe());
  const auto a = actual.to_vector<double>();
  const auto e = expected.to_vector<double>();
  double worst = -1, worst_diff = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(a[i] - e[i]);
    const double excess = diff - (atol + rtol * std::abs(e[i]));
    const bool bad = excess > 0 || std::isnan(a[i]) != std::isnan(e[i]);
    if (bad && (worst < 0 || excess > worst || std::isnan(a[i]))) {
      worst = std::isnan(excess) ? INFINITY : excess;
      worst_diff = diff;
      worst_at = i;
    }
  }
  if (worst < 0) return "";
  auto head = [](const std::vector<double>& v) {
    std::string s;
    for (size_t i = 0; i < std::min<size_t>(v.size(), 5); ++i) s += fmt::format("{:.6g} ", v[i]);
    return s;
  };
  return fmt::format("{} not close (atol {}, rtol {}): largest difference {:.6g} at element {} ({:.8g} vs {:.8g})\n"
                     "  actual first values:   {}\n  expected first values: {}",
                     actual.describe(), atol, rtol, worst_diff, worst_at, a[worst_at], e[worst_at], head(a), head(e));
}

}  // namespace sieve::test
