// tests/core/test_random.cpp — Philox: known answers, reproducibility, distributions.
#include <omp.h>

#include <cmath>

#include "ops/cpu/threads.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("philox4x32-10 matches the published known-answer vector") {
  // Random123's kat_vectors: philox4x32_10, counter 0, key 0.
  const auto words = philox4x32(0, 0);
  CHECK(words[0] == 0x6627e8d5u);
  CHECK(words[1] == 0xe169c58du);
  CHECK(words[2] == 0xbc57ac4cu);
  CHECK(words[3] == 0x9b00dbd8u);
}

TEST_CASE("the same seed gives the same numbers, whatever the thread count or dtype") {
  Generator g1(42), g2(42), g3(43);
  const auto a = rand({100000}, {}, &g1).to_vector<float>();
  const int threads = cpu::thread_ceiling();
  cpu::set_thread_ceiling(1);
  const auto b = rand({100000}, {}, &g2).to_vector<float>();
  cpu::set_thread_ceiling(threads);
  CHECK(a == b);
  CHECK(a != rand({100000}, {}, &g3).to_vector<float>());
  // float64 draws the same 24-bit uniforms.
  Generator g4(42);
  const auto d = rand({100000}, {.dtype = DType::f64}, &g4).to_vector<double>();
  for (size_t i = 0; i < 100; ++i) CHECK(static_cast<double>(a[i]) == d[i]);
  // Each draw advances the generator: two draws differ, and offsets are counted in blocks of 4.
  CHECK(g1.offset == 25000);
  CHECK(rand({4}, {}, &g1).to_vector<float>() != std::vector<float>(a.begin(), a.begin() + 4));
}

TEST_CASE("rand, randn and randint have the right ranges and moments") {
  Generator gen(7);
  const auto u = rand({200000}, {.dtype = DType::f64}, &gen).to_vector<double>();
  double mean = 0;
  for (double v : u) {
    REQUIRE(v >= 0.0);
    REQUIRE(v < 1.0);
    mean += v;
  }
  CHECK(mean / u.size() == doctest::Approx(0.5).epsilon(0.01));

  const auto z = randn({200000}, {.dtype = DType::f64}, &gen).to_vector<double>();
  double m = 0, sq = 0;
  for (double v : z) {
    m += v;
    sq += v * v;
  }
  m /= z.size();
  CHECK(std::abs(m) < 0.01);
  CHECK(std::sqrt(sq / z.size() - m * m) == doctest::Approx(1.0).epsilon(0.01));

  const auto k = randint(-3, 5, {10000}, {.dtype = DType::i64}, &gen).to_vector<int64_t>();
  std::vector<int> seen(8, 0);
  for (int64_t v : k) {
    REQUIRE(v >= -3);
    REQUIRE(v < 5);
    seen[v + 3]++;
  }
  for (int count : seen) CHECK(count > 1000);
  CHECK_THROWS_AS(randint(3, 3, {2}), Error);
}

TEST_CASE("manual_seed resets the default generator") {
  manual_seed(5);
  const auto a = randn({10}).to_vector<float>();
  manual_seed(5);
  CHECK(randn({10}).to_vector<float>() == a);
}
