// tests/datasets/test_synthetic.cpp — the synthetic sequence tasks: shapes, seeds, and each task's
// rule checked on every generated sample; the pixel-sequence view of images.
//
// Not here: training on them (the model tests do that).
// Extend: a new task gets a case that checks its shapes, its determinism and its rule per sample.
#include <algorithm>

#include "datasets/synthetic.h"
#include "tests/helpers.h"

using namespace sieve;
using sieve::test::contains;
using sieve::test::error_of;

namespace {

void check_deterministic(const SequenceSet& a, const SequenceSet& same_seed, const SequenceSet& other_seed) {
  CHECK(a.inputs.to_vector<int64_t>() == same_seed.inputs.to_vector<int64_t>());
  CHECK(a.targets.to_vector<int64_t>() == same_seed.targets.to_vector<int64_t>());
  CHECK(a.inputs.to_vector<int64_t>() != other_seed.inputs.to_vector<int64_t>());
}

}  // namespace

TEST_CASE("selective copying: noise, M data tokens in order, M markers; targets are the data tokens") {
  constexpr int64_t n = 300, L = 40, M = 16, V = 16;
  const SequenceSet s = selective_copying(n, L, M, V, 7);
  CHECK(s.inputs.shape() == Shape{n, L + M});
  CHECK(s.targets.shape() == Shape{n, L + M});
  CHECK(s.vocab == V);
  CHECK(s.classes == V);
  check_deterministic(s, selective_copying(n, L, M, V, 7), selective_copying(n, L, M, V, 8));
  // A larger set only appends: sample i depends on (seed, i) alone.
  CHECK(selective_copying(n + 5, L, M, V, 7).inputs.narrow(0, 0, n).to_vector<int64_t>() ==
        s.inputs.to_vector<int64_t>());

  const auto x = s.inputs.to_vector<int64_t>(), y = s.targets.to_vector<int64_t>();
  std::vector<int64_t> token_count(V, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* in = x.data() + i * (L + M);
    const int64_t* tg = y.data() + i * (L + M);
    std::vector<int64_t> data;
    for (int64_t j = 0; j < L; ++j) {
      CHECK(in[j] != V - 1);  // no marker among the first L
      if (in[j] != 0) data.push_back(in[j]);
      CHECK(tg[j] == -100);
    }
    REQUIRE(data.size() == static_cast<size_t>(M));  // distinct positions: none overwritten
    for (int64_t j = 0; j < M; ++j) {
      CHECK(in[L + j] == V - 1);
      CHECK(tg[L + j] == data[j]);
      ++token_count[data[j]];
    }
  }
  CHECK(token_count[0] == 0);
  CHECK(token_count[V - 1] == 0);
  for (int64_t t = 1; t < V - 1; ++t) CHECK(token_count[t] > n * M / (V - 2) / 2);  // every data token used

  CHECK(contains(error_of([] { selective_copying(1, 8, 9); }), "num_memorize ≤ seq_len"));
  CHECK(contains(error_of([] { selective_copying(1, 8, 4, 2); }), "vocab ≥ 3"));
}

TEST_CASE("induction heads: the trigger appears exactly twice; the target is the token after the first") {
  constexpr int64_t n = 500, L = 64, V = 16;
  const SequenceSet s = induction_heads(n, L, V, 3);
  CHECK(s.inputs.shape() == Shape{n, L});
  CHECK(s.targets.shape() == Shape{n, L});
  check_deterministic(s, induction_heads(n, L, V, 3), induction_heads(n, L, V, 4));
  const auto x = s.inputs.to_vector<int64_t>(), y = s.targets.to_vector<int64_t>();
  std::vector<int64_t> answers(V, 0);
  int64_t early = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* in = x.data() + i * L;
    const int64_t* tg = y.data() + i * L;
    CHECK(std::count(in, in + L, V - 1) == 2);
    CHECK(in[L - 1] == V - 1);
    const int64_t t = std::find(in, in + L, V - 1) - in;
    REQUIRE(t <= L - 3);
    early += t < L / 2;
    CHECK(std::count(tg, tg + L, -100) == L - 1);
    CHECK(tg[L - 1] == in[t + 1]);
    ++answers[tg[L - 1]];
    CHECK(*std::max_element(in, in + L) <= V - 1);
    CHECK(*std::min_element(in, in + L) >= 0);
  }
  CHECK(answers[V - 1] == 0);
  for (int64_t t = 0; t < V - 1; ++t) CHECK(answers[t] > 10);  // about n / 15 = 33 each
  CHECK(early > n / 3);  // the trigger's position is spread over the sequence
  CHECK(early < 2 * n / 3);
  CHECK(contains(error_of([] { induction_heads(1, 2); }), "seq_len ≥ 3"));
}

TEST_CASE("majority: label 1 iff the second half has more ones (ties 0); classes roughly balanced") {
  constexpr int64_t n = 2000, L = 32;
  const SequenceSet s = majority(n, L, 1);
  CHECK(s.inputs.shape() == Shape{n, L});
  CHECK(s.targets.shape() == Shape{n});
  CHECK(s.vocab == 2);
  CHECK(s.classes == 2);
  check_deterministic(s, majority(n, L, 1), majority(n, L, 2));
  const auto x = s.inputs.to_vector<int64_t>(), y = s.targets.to_vector<int64_t>();
  int64_t ones = 0, ties = 0, bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* in = x.data() + i * L;
    const int64_t first = std::count(in, in + L / 2, 1), second = std::count(in + L / 2, in + L, 1);
    CHECK(std::count(in, in + L, 0) + first + second == L);  // only 0/1 tokens
    CHECK(y[i] == (second > first ? 1 : 0));
    ones += y[i];
    ties += first == second;
    bits += first + second;
  }
  // P(label 1) = (1 − P(tie)) / 2 with P(tie) = C(32, 16) / 2^32 ≈ 0.14: about 0.43.
  CHECK(ones > n * 38 / 100);
  CHECK(ones < n * 48 / 100);
  CHECK(ties > n / 10);
  CHECK(bits > n * L * 45 / 100);
  CHECK(bits < n * L * 55 / 100);
  CHECK(contains(error_of([] { majority(1, 7); }), "even seq_len"));
}

TEST_CASE("pixel_sequences: (N, C, H, W) → (N, H·W, C), a view for one channel") {
  const Tensor grey = arange(0, 2 * 28 * 28).reshape({2, 1, 28, 28});
  const Tensor seq = pixel_sequences(grey);
  CHECK(seq.shape() == Shape{2, 784, 1});
  CHECK(seq.to_vector<float>() == grey.to_vector<float>());
  CHECK(seq.impl()->storage == grey.impl()->storage);  // no copy

  const Tensor rgb = arange(0, 3 * 2 * 2).reshape({1, 3, 2, 2});  // channel c, pixel p: 4c + p
  CHECK(pixel_sequences(rgb).to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(contains(error_of([] { pixel_sequences(zeros({2, 784})); }), "expected float32 images (N, C, H, W)"));
}
