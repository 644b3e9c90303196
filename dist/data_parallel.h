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
// overlap of communication with backward (the buckets are reduced after backward). ZeRO-1 moves
// whole vectors, not buckets. Extend: overlap
// starts a bucket's reduction from a gradient hook as soon as its last gradient is written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace sieve::dist {

class DataParallel {
 public:
  // zero1: shard the optimizer state (below).
  explicit DataParallel(nn::Module& model, bool zero1 = false, int64_t bucket_bytes = int64_t{25} << 20);
  DataParallel(nn::Module& model, int64_t bucket_bytes) = delete;  // a size where zero1 belongs

  void broadcast_state();
  void average_gradients();

  // The step's three calls, plain or ZeRO-1, as tools/train/trainer.cpp's apply_gradients makes
  // them: after backward, reduce_gradients (plain: average_gradients); instead of
  // nn::clip_grad_norm, clip_grad_norm (the same norm and scaling, to the bit); after the
  // optimizer's step, after_step.
  void reduce_gradients();
  double clip_grad_norm(double max_norm);
  void after_step();

  // ZeRO-1 (llm.c's -z 1): every trained parameter has one owner rank (the largest first, each to
  // the rank with the fewest bytes so far). reduce_gradients is a reduce-scatter: the owner gets
  // the mean gradient of its parameters (summed in rank order: the bits plain data parallel
  // gives), the others drop theirs, so the optimizer keeps and updates state for its own
  // parameters alone; clip_grad_norm adds the owners' squared norms in parameter order; after_step
  // all-gathers every parameter from its owner. The weights equal plain data parallel's to the bit.
  bool zero1() const { return zero1_; }
  // A checkpoint's optimizer state: under ZeRO-1 every owner's entries, merged on rank 0 (a
  // collective: every rank calls it; the others get an empty map); plain: the optimizer's own.
  std::map<std::string, Tensor> optimizer_state(const nn::Optimizer& optimizer) const;
  // A checkpoint's optimizer state as this rank keeps it: under ZeRO-1 its own parameters' entries.
  std::map<std::string, Tensor> own_state(const nn::Optimizer& optimizer, const std::map<std::string, Tensor>& state) const;

  static std::pair<int64_t, int64_t> slice(int64_t n);
  static double loss_weight(int64_t rows, int64_t n);

  // The buckets, as index lists into the trained parameters (reverse order): for tests and benches.
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }

 private:
  void pack_gradients(const std::vector<size_t>& which, std::vector<float>& out) const;
  void unpack_means(const std::vector<size_t>& which, const float* sums);
  nn::Module& model_;
  std::vector<Tensor> params_;  // those that require a gradient, in the module's order
  std::vector<std::vector<size_t>> buckets_;
  bool zero1_ = false;
  std::vector<std::vector<size_t>> owned_;  // ZeRO-1: rank → its parameters (ascending)
  std::vector<int64_t> segment_floats_;     // ZeRO-1: rank → its parameters' elements
};

}  // namespace sieve::dist
