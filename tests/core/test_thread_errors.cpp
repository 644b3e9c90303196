// tests/core/test_thread_errors.cpp — an exception inside an OpenMP region reaches the caller as
// an ordinary error (core/thread_errors.h); before, it was std::terminate and the test binary died.
#include <omp.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/thread_errors.h"
#include "ops/cpu/loops.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("a per-thread buffer that fails to allocate is rethrown after the region, no deadlock at its barrier") {
  const int threads = std::max(2, omp_get_max_threads());
  ThreadErrors errors;
  std::atomic<int64_t> done{0};
#pragma omp parallel num_threads(threads)
  {
    std::optional<std::vector<float>> buffer;
    errors.guard([&] {
      if (omp_get_thread_num() == 1) throw std::bad_alloc();  // as a failed new would
      buffer.emplace(16);
    });
#pragma omp for schedule(static)
    for (int64_t i = 0; i < 1000; ++i) errors.guard([&] { (*buffer)[i % 16] += 1, ++done; });
  }
  CHECK(errors.failed());
  CHECK_THROWS_AS(errors.rethrow(), std::bad_alloc);
  CHECK(done.load() < 1000);  // the work after the failure was skipped, not run on a missing buffer
}

TEST_CASE("no error: every body runs and rethrow is silent") {
  ThreadErrors errors;
  std::atomic<int64_t> done{0};
#pragma omp parallel for num_threads(2)
  for (int64_t i = 0; i < 100; ++i) errors.guard([&] { ++done; });
  CHECK_FALSE(errors.failed());
  CHECK_NOTHROW(errors.rethrow());
  CHECK(done.load() == 100);
}

TEST_CASE("a throwing row body of for_each_row (as a sort's row buffer failing) is an error, on one thread or many") {
  for (const int64_t rows : {int64_t{4}, int64_t{4096}}) {  // below and above the parallel grain
    const Shape shape{rows, 64}, strides{64, 1};
    std::atomic<int64_t> seen{0};
    auto run = [&] {
      cpu::for_each_row<1>(shape, {&strides}, [&](const std::array<int64_t, 1>& offsets, int64_t, const auto&) {
        ++seen;
        if (offsets[0] == 64 * (rows - 1)) fail("row {} failed", rows - 1);
      });
    };
    CAPTURE(rows);
    CHECK_THROWS_WITH(run(), doctest::Contains("failed"));
    CHECK(seen.load() >= 1);
  }
}
