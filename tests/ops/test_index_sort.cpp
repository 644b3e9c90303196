// tests/ops/test_index_sort.cpp — topk and argsort (the other index ops are in test_index.cpp):
// values and indices (hand-computed and PyTorch goldens), stability, and the errors, on every
// device; gradients by finite differences and the CPU's handling of few long rows on many
// threads (CPU); and the CUDA kernels against the CPU (parity): topk's values and gradient and
// both ops' indices, which must equal the CPU's exactly, on rows sorted in shared memory (up to
// 4096) and by the global radix sort (longer rows), with ties, NaN and ±0 for the sort order.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "ops/cpu/threads.h"
#include "ops/index.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::contains;
using test::error_of;
using test::kFloatTypes;
using test::leaf;
using test::random_ids;

namespace {


// Values with many ties, some NaNs and both zeros: floor(2·N(0,1)) with every 7th a NaN and
// every 5th a -0.0 — the cases where the sort order must match the CPU's exactly.
Tensor tied_values(const Shape& shape, uint64_t seed, DType dtype) {
  std::vector<double> v = test::randn_leaf(shape, seed, false).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = std::floor(2.0 * v[i]);
    if (i % 7 == 3) v[i] = std::numeric_limits<double>::quiet_NaN();
    if (i % 5 == 1) v[i] = -0.0;
  }
  return from_vector<double>(v, shape).to(dtype);
}

// topk's values (through check_parity, with their gradient) and its indices, which must equal
// the CPU's exactly: ties and NaNs are ordered the same way on both devices. transpose: x is
// read through .t() on each device (a strided row).
void check_topk(const std::string& what, const Tensor& x, int64_t k, int dim, bool largest, bool backward = true,
                bool transpose = false) {
  auto view = [transpose](const Tensor& t) { return transpose ? t.t() : t; };
  check_parity(what, [&](const std::vector<Tensor>& in) { return topk(view(in[0]), k, dim, largest).first; }, {x},
               backward, 0, 0);
  const Tensor cpu = topk(view(x.detach()), k, dim, largest).second;
  const Tensor gpu = topk(view(x.detach().to(kCUDA)), k, dim, largest).second;
  INFO(what << ": indices");
  REQUIRE(gpu.device().is_cuda());
  CHECK(gpu.to_vector<int64_t>() == cpu.to_vector<int64_t>());
}

void check_argsort(const std::string& what, const Tensor& x, int dim, bool descending, bool transpose = false) {
  auto view = [transpose](const Tensor& t) { return transpose ? t.t() : t; };
  const Tensor cpu = argsort(view(x), dim, descending);
  const Tensor gpu = argsort(view(x.to(kCUDA)), dim, descending);
  INFO(what);
  REQUIRE(gpu.device().is_cuda());
  CHECK(gpu.to_vector<int64_t>() == cpu.to_vector<int64_t>());
}

}  // namespace

// ---- topk ----

TEST_CASE("topk: sorted values and their indices, ties to the lower index") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({3, 1, 4, 1, 4, 9, 2, 6, 5, 3}, {2, 5}).to(dev);
      auto [v, i] = topk(x, 2, 1, true);
      CHECK_CLOSE(v, from_vector<float>({4, 4, 9, 6}, {2, 2}), 0.0, 0.0);
      CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{2, 4, 0, 2});
      auto [vs, is] = topk(x, 3, -1, false);
      CHECK_CLOSE(vs, from_vector<float>({1, 1, 3, 2, 3, 5}, {2, 3}), 0.0, 0.0);
      CHECK(is.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 0, 1, 4, 3});
      auto [v0, i0] = topk(x, 1, 0, true);  // along dim 0
      CHECK_CLOSE(v0, from_vector<float>({9, 2, 6, 5, 4}, {1, 5}), 0.0, 0.0);
      CHECK(i0.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1, 1, 0});
      CHECK(topk(x, 0, 1).first.shape() == Shape{2, 0});
    }
  }
}

TEST_CASE("topk: PyTorch goldens, values and indices") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (bool largest : {true, false}) {
        const std::string name = largest ? "topk_largest" : "topk_smallest";
        test::check_golden("index", name, [&](test::GoldenInputs& in) { return topk(in.at("x"), 3, 1, largest).first; },
                           1e-5, 1e-4, dev);
        Tensor x = test::golden_tensor("index", name + ".in.x").to(dev);
        CHECK(topk(x, 3, 1, largest).second.to_vector<int64_t>() ==
              test::golden_tensor("index", name + ".indices").to_vector<int64_t>());
      }
    }
  }
}

TEST_CASE("gradcheck: topk on contiguous and transposed inputs") {
  auto fn = [](const std::vector<Tensor>& in) { return topk(in[0], 2, 0, true).first; };
  CHECK_GRADCHECK(fn, {test::randn_leaf({4, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({5, 3}, 2)});
}

TEST_CASE("topk: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      std::string msg = error_of([&] { topk(zeros({2, 3}, {.device = dev}), 4, 1); });
      CHECK(contains(msg, "topk"));
      CHECK(contains(msg, "k = 4"));
      CHECK(contains(msg, "size 3"));
    }
  }
}

// ---- argsort ----

TEST_CASE("argsort: stable in both directions") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({2, 1, 2, 0, 1}, {5}).to(dev);
      CHECK(argsort(x).to_vector<int64_t>() == std::vector<int64_t>{3, 1, 4, 0, 2});
      CHECK(argsort(x, 0, true).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 1, 4, 3});
      Tensor m = from_vector<float>({3, 1, 2, 0, 5, 4}, {2, 3}).to(dev);
      CHECK(argsort(m, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 0, 1, 1});
      CHECK(argsort(m.t(), 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 1, 0, 1});
      CHECK(argsort(from_vector<int64_t>({5, -1, 3}, {3}, dev)).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0});
    }
  }
}

TEST_CASE("argsort: PyTorch goldens (distinct values)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("index", "argsort_dim0", [](test::GoldenInputs& in) { return argsort(in.at("x"), 0); }, 1e-5,
                         1e-4, dev);
      test::check_golden("index", "argsort_desc", [](test::GoldenInputs& in) { return argsort(in.at("x"), 1, true); },
                         1e-5, 1e-4, dev);
    }
  }
}

// ---- the CPU's threads; CUDA against CPU ----

TEST_CASE("cpu kernel: few long rows on many threads: topk, argsort and scatter_add see each row whole") {
  // A row of 40,000 elements is longer than what for_each_row cuts into segments for elementwise
  // kernels. Sorting a segment, or two threads adding into one row's destinations, would be wrong
  // (the second only with more threads than rows: 8 here, whatever the machine has).
  const int before = cpu::thread_ceiling();
  cpu::set_thread_ceiling(8);
  const int64_t N = 40000;
  Generator gen(21);
  const Tensor x = randn({N}, {.dtype = DType::f64}, &gen);
  std::vector<double> sorted = x.to_vector<double>();
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const Tensor order = argsort(x, 0, /*descending=*/true);
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<int64_t> ov = order.to_vector<int64_t>();
  bool argsort_ok = true;
  for (int64_t i = 0; i < N; ++i) argsort_ok = argsort_ok && xv[ov[i]] == sorted[i];
  CHECK(argsort_ok);
  const auto [values, indices] = topk(x, 5, 0);
  CHECK(values.to_vector<double>() == std::vector<double>(sorted.begin(), sorted.begin() + 5));
  // scatter_add into 3 rows along dim 1 of a (2, N) source: two rows of 40,000 collisions each.
  const Tensor idx = randint(0, 3, {2, N}, {.dtype = DType::i64}, &gen);
  const Tensor src = randn({2, N}, {.dtype = DType::f64}, &gen);
  const Tensor out = scatter_add(zeros({2, 3}, {.dtype = DType::f64}), 1, idx, src);
  std::vector<double> expected(6, 0.0);
  const auto iv = idx.to_vector<int64_t>();
  const auto sv = src.to_vector<double>();
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t n = 0; n < N; ++n) expected[r * 3 + iv[r * N + n]] += sv[r * N + n];
  CHECK_CLOSE(out, from_vector<double>(expected, {2, 3}), 0.0, 0.0);
  cpu::set_thread_ceiling(before);
}

TEST_CASE("parity: topk, short rows in shared memory and long rows by radix sort, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    for (bool largest : {true, false}) {
      const std::string dir = largest ? " largest" : " smallest";
      // distinct values: the gradient is well defined
      check_topk("topk (7, 37) k 5 dim 1" + dir, leaf({7, 37}, 60, dt), 5, 1, largest);
      check_topk("topk (37, 7) k 3 dim 0" + dir, leaf({37, 7}, 61, dt), 3, 0, largest);
      check_topk("topk of a transposed x" + dir, leaf({9, 6}, 62, dt), 9, 1, largest, true, /*transpose=*/true);
      check_topk("topk (3, 1000, 2) k 1000 dim 1" + dir, leaf({3, 1000, 2}, 63, dt), 1000, 1, largest);
      check_topk("topk, one value per row" + dir, leaf({5, 1}, 64, dt), 1, 1, largest);
      // rows longer than shared memory holds: three rows, and one row alone
      check_topk("topk (3, 5000) k 17" + dir, leaf({3, 5000}, 65, dt), 17, 1, largest);
      check_topk("topk (9000) k 9000" + dir, leaf({9000}, 66, dt), 9000, 0, largest);
      // ties, NaN and ±0: values and indices, no gradient
      check_topk("topk with ties (6, 301)" + dir, tied_values({6, 301}, 67, dt), 40, 1, largest, false);
      check_topk("topk with ties (2, 6000)" + dir, tied_values({2, 6000}, 68, dt), 100, 1, largest, false);
    }
    check_topk("topk k 0", leaf({4, 6}, 69, dt), 0, 1, true, false);
  }
}

TEST_CASE("parity: argsort, stable in both directions, every path, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : {DType::f32, DType::f64, DType::i64}) {
    INFO(dtype_name(dt));
    auto values = [dt](const Shape& shape, uint64_t seed) {
      return dt == DType::i64 ? random_ids(11, shape, seed) : tied_values(shape, seed, dt);  // many ties either way
    };
    for (bool descending : {false, true}) {
      const std::string dir = descending ? " descending" : " ascending";
      check_argsort("argsort (5)" + dir, values({5}, 70), 0, descending);
      check_argsort("argsort (33, 17) dim 1" + dir, values({33, 17}, 71), 1, descending);
      check_argsort("argsort (33, 17) dim 0" + dir, values({33, 17}, 72), 0, descending);
      check_argsort("argsort of a transposed x" + dir, values({20, 30}, 73), 1, descending, /*transpose=*/true);
      check_argsort("argsort (2, 4096, 3) dim 1" + dir, values({2, 4096, 3}, 74), 1, descending);  // P = 4096
      check_argsort("argsort (1000, 1)" + dir, values({1000, 1}, 75), 1, descending);
      check_argsort("argsort (3, 4097)" + dir, values({3, 4097}, 76), 1, descending);  // just past shared memory
      check_argsort("argsort (20000)" + dir, values({20000}, 77), 0, descending);
    }
  }
}
