// datasets/synthetic.cpp — the synthetic sequence tasks (layouts and rules in synthetic.h).
//
// What it is: one fill_<task>() per task that writes sample i from its own Philox stream, and
// generate(), which allocates the tensors, checks nothing but sizes and runs the fills in
// parallel (each sample's stream is its own, so the thread count cannot change the data).
// What it is not: a loader or a file format; nothing here is written to disk.
// Extend: a new task gets a Task tag, a fill function and an entry function (see synthetic.h).
#include "datasets/synthetic.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "datasets/draws.h"

namespace sieve {

namespace {

constexpr int64_t kIgnore = -100;  // cross_entropy's default ignore_index

// Each task has its own tag, so the same seed gives unrelated streams to different tasks.
enum class Task : uint64_t { selective_copying = 1, induction_heads = 2, majority = 3 };

data::Draws sample_draws(uint64_t seed, Task task, int64_t i) {
  return {data::derive_key(data::derive_key(seed, static_cast<uint64_t>(task)), static_cast<uint64_t>(i))};
}

// Allocates inputs (N, in_len) and targets of target_shape (target_len values per sample) and
// calls fill(draws, input row, target row) for every sample with that sample's own stream.
template <typename Fill>
SequenceSet generate(Task task, uint64_t seed, int64_t n, int64_t in_len, const Shape& target_shape,
                     int64_t target_len, Fill fill) {
  SequenceSet set;
  set.inputs = empty({n, in_len}, {.dtype = DType::i64});
  set.targets = empty(target_shape, {.dtype = DType::i64});
  int64_t* in = set.inputs.data<int64_t>();
  int64_t* tg = set.targets.data<int64_t>();
#pragma omp parallel for schedule(static) if (n * in_len >= 65536)
  for (int64_t i = 0; i < n; ++i) {
    data::Draws draws = sample_draws(seed, task, i);
    fill(draws, in + i * in_len, tg + i * target_len);
  }
  return set;
}

}  // namespace

SequenceSet selective_copying(int64_t n, int64_t seq_len, int64_t num_memorize, int64_t vocab, uint64_t seed) {
  SIEVE_CHECK(n >= 0 && vocab >= 3 && num_memorize >= 1 && num_memorize <= seq_len,
              "selective_copying: needs n ≥ 0, vocab ≥ 3 (noise, marker, data) and 1 ≤ num_memorize ≤ "
              "seq_len; got n {}, seq_len {}, num_memorize {}, vocab {}", n, seq_len, num_memorize, vocab);
  const int64_t L = seq_len, M = num_memorize, marker = vocab - 1;
  SequenceSet set = generate(Task::selective_copying, seed, n, L + M, {n, L + M}, L + M,
                             [&](data::Draws& draws, int64_t* in, int64_t* tg) {
    // The first M of a partial Fisher–Yates shuffle of 0..L−1 are M distinct positions.
    std::vector<int64_t> positions(static_cast<size_t>(L));
    std::iota(positions.begin(), positions.end(), 0);
    for (int64_t j = 0; j < M; ++j) std::swap(positions[j], positions[j + draws.below(L - j)]);
    std::sort(positions.begin(), positions.begin() + M);

    std::fill(in, in + L, 0);  // noise
    std::fill(in + L, in + L + M, marker);
    std::fill(tg, tg + L, kIgnore);
    for (int64_t j = 0; j < M; ++j) {
      const int64_t token = 1 + draws.below(vocab - 2);  // a data token, 1..V−2
      in[positions[j]] = token;
      tg[L + j] = token;
    }
  });
  set.vocab = set.classes = vocab;
  return set;
}

SequenceSet induction_heads(int64_t n, int64_t seq_len, int64_t vocab, uint64_t seed) {
  SIEVE_CHECK(n >= 0 && vocab >= 3 && seq_len >= 3,
              "induction_heads: needs n ≥ 0, vocab ≥ 3 and seq_len ≥ 3; got n {}, seq_len {}, vocab {}", n,
              seq_len, vocab);
  const int64_t L = seq_len, trigger = vocab - 1;
  SequenceSet set = generate(Task::induction_heads, seed, n, L, {n, L}, L,
                             [&](data::Draws& draws, int64_t* in, int64_t* tg) {
    for (int64_t j = 0; j < L; ++j) in[j] = draws.below(vocab - 1);  // never the trigger
    const int64_t t = draws.below(L - 2);                            // 0..L−3: t + 1 < L − 1
    in[t] = trigger;
    in[L - 1] = trigger;
    std::fill(tg, tg + L - 1, kIgnore);
    tg[L - 1] = in[t + 1];
  });
  set.vocab = set.classes = vocab;
  return set;
}

SequenceSet majority(int64_t n, int64_t seq_len, uint64_t seed) {
  SIEVE_CHECK(n >= 0 && seq_len >= 2 && seq_len % 2 == 0,
              "majority: needs n ≥ 0 and an even seq_len ≥ 2; got n {}, seq_len {}", n, seq_len);
  const int64_t L = seq_len;
  SequenceSet set = generate(Task::majority, seed, n, L, {n}, 1, [&](data::Draws& draws, int64_t* in, int64_t* tg) {
    uint64_t bits = 0;
    int64_t first = 0, second = 0;  // ones in each half
    for (int64_t j = 0; j < L; ++j) {
      if (j % 64 == 0) bits = draws.next();
      in[j] = static_cast<int64_t>(bits >> (j % 64) & 1u);
      (j < L / 2 ? first : second) += in[j];
    }
    *tg = second > first ? 1 : 0;  // a tie counts as 0
  });
  set.vocab = set.classes = 2;
  return set;
}

Tensor pixel_sequences(const Tensor& images) {
  SIEVE_CHECK(images.defined() && images.ndim() == 4 && images.dtype() == DType::f32,
              "pixel_sequences: expected float32 images (N, C, H, W), got {}",
              images.defined() ? images.describe() : "an undefined tensor");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  // (N, C, H, W) → (N, H, W, C) → (N, H·W, C); reshape copies only when C > 1 (or a strided input).
  return images.permute({0, 2, 3, 1}).reshape({N, H * W, C});
}

}  // namespace sieve
