// tests/cuda/test_runtime.cpp — the CUDA backend itself, not an op family (those are checked on
// every device in tests/ops/): without a GPU a CUDA request is one clear sieve::Error; with one,
// to() round trips (strided sources and views too), factories and item, the caching allocator's
// counters and block reuse, TF32 off unless asked for, and the profiler charging GPU time.
//
// Without a GPU the GPU cases return at once and one line says why ("CUDA cases skipped");
// the error case runs only then.
#include <cstdlib>

#include "cuda/backend.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/profile.h"
#include "ops/reduce.h"
#include "tests/helpers.h"
#include "tests/parity.h"

namespace sieve {

using test::gpu_or_skip;
using test::leaf;

TEST_CASE("cuda: a CUDA request without a GPU is one clear sieve::Error") {
  if (cuda::available()) {
    MESSAGE("skipped: a GPU is present, so CUDA requests succeed");
    return;
  }
  const std::string message = test::error_of([] { zeros({2, 3}, {.device = kCUDA}); });
  CHECK(!message.empty());
  CHECK(message.find('\n') == std::string::npos);
  CHECK((test::contains(message, "CUDA") || test::contains(message, "cuda")));
  CHECK(test::error_of([] { from_vector<float>({1, 2}, {2}).to(kCUDA); }) != "");
  CHECK(memory_stats(kCUDA).live_bytes == 0);
}

TEST_CASE("cuda: to() round trips, factories and item") {
  if (!gpu_or_skip()) return;
  for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
    Tensor x = dtype == DType::i64 ? arange(0, 24, 1, {.dtype = dtype}).reshape({2, 3, 4})
                                   : leaf({2, 3, 4}, 1, dtype, false);
    Tensor d = x.to(kCUDA);
    CHECK(d.device() == kCUDA);
    CHECK(d.dtype() == dtype);
    CHECK_CLOSE(d.to(kCPU), x, 0, 0);
    // Strided sources (a transpose, a step slice) are made contiguous before the copy.
    Tensor strided = x.transpose(0, 2).slice(1, 0, 3, 2);
    CHECK_CLOSE(strided.to(kCUDA).to(kCPU), strided, 0, 0);
    // A strided CUDA view: contiguous() runs the CUDA copy kernel.
    Tensor dview = d.transpose(0, 2).slice(1, 0, 3, 2);
    CHECK(!dview.is_contiguous());
    CHECK_CLOSE(dview.contiguous().to(kCPU), strided, 0, 0);
    CHECK_CLOSE(dview.to(kCPU), strided, 0, 0);
  }
  Tensor v = from_vector<double>({1.5, -2.0, 3.25}, {3}, kCUDA);
  CHECK(v.device().is_cuda());
  CHECK(v.to_vector<double>() == std::vector<double>{1.5, -2.0, 3.25});
  CHECK(v.select(0, 2).item() == 3.25);
  CHECK(zeros({4, 5}, {.device = kCUDA}).to_vector<float>() == std::vector<float>(20, 0.0f));
  CHECK(full({3}, 7.0, {.dtype = DType::i64, .device = kCUDA}).to_vector<int64_t>() == std::vector<int64_t>(3, 7));
  CHECK(ones({2}, {.dtype = DType::f64, .device = kCUDA}).to_vector<double>() == std::vector<double>{1.0, 1.0});
  CHECK(empty({0, 3}, {.device = kCUDA}).to_vector<float>().empty());
  // The gradient of to(kCUDA) comes back to the CPU leaf.
  Tensor a = leaf({3, 2}, 2, DType::f64);
  sum(a.to(kCUDA) * 2.0).backward();
  REQUIRE(a.grad().defined());
  CHECK(a.grad().device().is_cpu());
  CHECK_CLOSE(a.grad(), full({3, 2}, 2.0, {.dtype = DType::f64}), 0, 0);
}

TEST_CASE("cuda: caching allocator counters and reuse") {
  if (!gpu_or_skip()) return;
  cuda::synchronize();
  const int64_t before = memory_stats(kCUDA).live_bytes;
  void* first = nullptr;
  {
    Tensor t = empty({1 << 18}, {.device = kCUDA});  // 1 MiB
    first = t.raw_data();
    CHECK(memory_stats(kCUDA).live_bytes == before + (int64_t{1} << 20));
    CHECK(memory_stats(kCUDA).peak_bytes >= before + (int64_t{1} << 20));
  }
  CHECK(memory_stats(kCUDA).live_bytes == before);
  CHECK(memory_stats(kCUDA).cached_bytes >= (int64_t{1} << 20));
  {
    Tensor again = empty({1 << 18}, {.device = kCUDA});  // same size: the freed block comes back
    CHECK(again.raw_data() == first);
  }
  empty_cache(kCUDA);
  CHECK(memory_stats(kCUDA).cached_bytes == 0);
}

TEST_CASE("cuda: TF32 is off unless asked for") {
  if (!gpu_or_skip()) return;
  CHECK(cuda::tf32_enabled() == (std::getenv("SIEVE_TF32") != nullptr && std::string(std::getenv("SIEVE_TF32")) == "1"));
  const bool was = cuda::tf32_enabled();
  cuda::set_tf32(true);
  const Tensor a = leaf({64, 64}, 60, DType::f32, false), b = leaf({64, 64}, 61, DType::f32, false);
  CHECK_CLOSE(matmul(a.to(kCUDA), b.to(kCUDA)).to(kCPU), matmul(a, b), 5e-2, 1e-2);  // TF32: 10-bit mantissas
  cuda::set_tf32(was);
}

TEST_CASE("cuda: the profiler charges CUDA kernels their GPU time") {
  if (!gpu_or_skip()) return;
  const Tensor a = leaf({64, 64}, 80, DType::f32, false).to(kCUDA);
  profile::Profiler profiler;
  const Tensor c = matmul(a, a);
  bool found = false;
  for (const profile::Entry& e : profiler.entries()) {
    if (e.op != Op::matmul) continue;
    found = true;
    CHECK(e.calls == 1);
    CHECK(e.flops == 2 * 64 * 64 * 64);
    CHECK(e.seconds > 0);
  }
  CHECK(found);
}

}  // namespace sieve
