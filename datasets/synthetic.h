// datasets/synthetic.h — seeded synthetic sequence tasks for the SSM models, and pixel sequences.
//
// What it is: generators that return a whole set as CPU tensors. Sample i depends only on
// (seed, task, i) and the task's sizes — a Philox stream per sample (datasets/draws.h) — so the
// same seed gives the same data on any thread count, and a larger n only appends samples.
// Targets use -100 (cross_entropy's default ignore_index) where nothing is to be predicted.
//
// Shapes: N samples, L = seq_len, M = num_memorize, V = vocab.
//
//   selective_copying (Mamba, Gu & Dao 2023, §4.1.1): tokens 0 = noise, V−1 = marker, 1..V−2 =
//     data. The first L positions are noise except M distinct random positions that hold random
//     data tokens; the last M positions are markers. The model must output, at marker j, the
//     j-th data token in order of position.
//       inputs  (N, L + M) int64   [noise / data ... | marker × M]
//       targets (N, L + M) int64   [-100 × L | the M data tokens in order]
//   induction_heads (Mamba §4.1.2; H3's associative recall): tokens 0..V−2 random, V−1 = the
//     trigger. The trigger stands once at a random position t ∈ [0, L−3], followed by a random
//     token at t + 1, and again at the last position L − 1; it appears nowhere else. The model
//     must predict, at the last position, the token that followed the first trigger.
//       inputs  (N, L) int64
//       targets (N, L) int64       [-100 × (L − 1) | the token at t + 1]
//   majority: a random binary string (tokens 0/1) of even length L. Label 1 when the second half
//     holds more ones than the first half; 0 otherwise — a tie counts as 0, so label 1 is a bit
//     rarer than 0 (for L = 32 about 43% of samples).
//       inputs  (N, L) int64
//       targets (N,)   int64
//   pixel_sequences (sequential MNIST): images (N, C, H, W) → (N, H·W, C) float32, pixels in
//     row-major order with the channels as features; (N, 1, 28, 28) → (N, 784, 1).
//
// What it is not: a loader (datasets/loader.h batches and shuffles these) nor a tokenizer.
// Extend: a new task is a function here returning SequenceSet, documented in this legend, whose
// sample i draws only from sample_draws(seed, <new task tag>, i) in synthetic.cpp.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace sieve {

struct SequenceSet {
  Tensor inputs;        // int64 tokens, layout per task above
  Tensor targets;       // int64, -100 = ignored
  int64_t vocab = 0;    // input tokens are in 0..vocab−1 (embedding size)
  int64_t classes = 0;  // targets (other than -100) are in 0..classes−1 (output logits)
};

// Needs 3 ≤ vocab, 1 ≤ num_memorize ≤ seq_len.
SequenceSet selective_copying(int64_t n, int64_t seq_len, int64_t num_memorize = 16, int64_t vocab = 16,
                              uint64_t seed = 0);
// Needs 3 ≤ vocab, seq_len ≥ 3.
SequenceSet induction_heads(int64_t n, int64_t seq_len, int64_t vocab = 16, uint64_t seed = 0);
// Needs an even seq_len ≥ 2; vocab = classes = 2.
SequenceSet majority(int64_t n, int64_t seq_len, uint64_t seed = 0);

// images float32 (N, C, H, W) → (N, H·W, C): a view for C = 1, a copy otherwise.
Tensor pixel_sequences(const Tensor& images);

}  // namespace sieve
