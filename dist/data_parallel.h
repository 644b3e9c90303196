// dist/data_parallel.h — data-parallel training's part around each step: every rank starts from
// rank 0's weights, takes its slice of the global batch, and before the optimizer's step every
// gradient becomes the mean over ranks, so every rank takes the same step (dist/dist.h's transport).
//
//   broadcast_state     rank 0's parameters and buffers to every rank (the same start everywhere;
//                       after a resume, too: a checkpoint resumes on any number of ranks)
//   slice(n)            rank r's rows [⌊r·n/N⌋, ⌊(r + 1)·n/N⌋) of a global batch of n
//   loss_weight(k, n)   k·N/n: a rank's mean loss over its k rows times this, averaged over ranks,
//                       is the mean over the global batch (also when N does not divide n)
//   average_gradients   grad ← Σ_ranks grad / N for every parameter that requires a gradient, in
//                       buckets of about 25 MiB taken in reverse parameter order (PyTorch DDP's:
//                       the last layers' gradients are ready first). Each bucket also carries a flag
//                       per parameter, so one that got no gradient on any rank keeps none (the
//                       optimizer skips it as it would in one process), and one that got a gradient
//                       on some ranks only counts zeros for the others
//
// The sum is dist.h's fixed-order one: two runs on N ranks give the same bits. One process and N
// ranks differ in how a batch's rows are summed inside backward's products, so their weights agree
// to rounding, not to the bit (tests/tools/test_ddp.py states the bound).
// CPU tensors only for now: a GPU's gradients would go through NCCL (not yet).
//
// What it is not: the transport (dist.h), the training loop (tools/train/trainer.cpp calls these), or
// overlap of communication with backward (the buckets are reduced after backward). Extend: overlap
// starts a bucket's reduction from a gradient hook as soon as its last gradient is written.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"

namespace sieve::dist {

class DataParallel {
 public:
  explicit DataParallel(nn::Module& model, int64_t bucket_bytes = int64_t{25} << 20);

  void broadcast_state();
  void average_gradients();

  static std::pair<int64_t, int64_t> slice(int64_t n);
  static double loss_weight(int64_t rows, int64_t n);

  // The buckets, as index lists into the trained parameters (reverse order): for tests and benches.
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }

 private:
  nn::Module& model_;
  std::vector<Tensor> params_;  // those that require a gradient, in the module's order
  std::vector<std::vector<size_t>> buckets_;
};

}  // namespace sieve::dist
