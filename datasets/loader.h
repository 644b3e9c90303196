// datasets/loader.h — the training loader: seeded shuffle, batching, augmentation, prefetch.
//
// What it is: a Loader over two CPU tensors that share their first dim N,
//   inputs  (N, ...) any dtype: float32 images (N, C, H, W), int64 token sequences (N, L), ...
//   targets (N, ...) int64: class labels (N,), per-token targets (N, L), ...
// handing out batches (B, ...) / (B, ...) in a shuffled order, B = batch_size (the last batch of
// an epoch may be smaller unless drop_last). Float32 (N, C, H, W) images can be augmented per
// sample — random crop (zero-pad by crop_padding, crop back to H × W), random horizontal flip —
// and then normalised per channel, (x − mean[c]) / std[c]: the order of torchvision's
// RandomCrop → RandomHorizontalFlip → Normalize, so the padding becomes −mean/std.
//
// Determinism (bit-identical resume is tested): every random choice is a Philox draw
// (core/random.h) keyed by the seed and the epoch, never by time, thread timing or how far
// ahead the prefetch thread has got:
//   - the order of epoch e is a Fisher–Yates shuffle drawing from the Philox stream keyed by
//     (seed, e, "shuffle") (datasets/draws.h); shuffle = false keeps the order 0..N−1;
//   - the sample at position p of epoch e (p = batch index × B + row) takes its crop offsets and
//     flip coin from counter p of the key (seed, e, "augment").
// So start_epoch(e, k) gives exactly the batches k, k+1, ... that start_epoch(e, 0) gives, with
// prefetch 0 or 2, on any thread count.
//
// Threads: with prefetch > 0 one background thread builds up to `prefetch` batches ahead while
// the caller trains; it works serially (no OpenMP team of its own, so it never competes with the
// training step's threads). With prefetch = 0 next() builds the batch on the caller's thread,
// with OpenMP when it holds at least 2^20 values. An exception in the background thread
// (including one from `transform`) is kept and re-thrown by next(). The thread is joined by
// start_epoch and by the destructor.
//
// What it is not: a data set reader (datasets/vision.h, image_folder.h, synthetic.h make the
// tensors), a GPU uploader (move the batch with .to(device)), or a multi-consumer queue: one
// thread calls start_epoch/next.
//
// Extend: a new per-sample augmentation draws from the "augment" counter of its position (words
// 0-2 of that Philox block are taken, word 3 is free; or derive a new stream) and is applied in build_batch() in
// loader.cpp; a per-batch step that needs no randomness of its own fits `transform`.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/tensor.h"

namespace sieve {

struct Batch {
  Tensor inputs;   // (B, ...) as the loader's inputs, B ≤ batch_size
  Tensor targets;  // (B, ...) int64
  int64_t epoch = 0;
  int64_t index = 0;  // the batch's number within its epoch, from 0
};

// Every member has a default, so {.batch_size = 128, .flip = true} compiles without warnings.
struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;  // drop an incomplete last batch
  // Per-channel normalisation of float32 (N, C, ...) inputs, (x − mean[c]) / std[c]: both of
  // size C, or both empty (none).
  std::vector<float> mean = {}, std = {};
  int64_t crop_padding = 0;  // random crop: zero-pad by this many pixels, crop back; 0 = off
  bool flip = false;         // random horizontal flip, p = 0.5
  int prefetch = 2;          // batches built ahead by one background thread; 0 = synchronous
  // Optional: runs on each finished batch, on the thread that built it (the background thread
  // when prefetch > 0). It may throw; next() re-throws. For randomness use batch.epoch/index.
  std::function<void(Batch&)> transform = nullptr;
};

class Loader {
 public:
  // inputs (N, ...) any dtype, targets (N, ...) int64, both on the CPU. Throws sieve::Error for
  // batch_size < 1, prefetch < 0, crop_padding < 0, N mismatch, mean/std not of size C or a
  // std ≤ 0, normalisation of non-float32 inputs, crop/flip of inputs that are not float32 4-D.
  Loader(Tensor inputs, Tensor targets, LoaderOptions options);
  ~Loader();  // stops and joins the background thread, even mid-epoch
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t size() const { return n_; }  // N
  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const { return options_; }

  // (Re)starts at batch first_batch of epoch `epoch` (0 ≤ first_batch ≤ batches_per_epoch());
  // a running epoch is stopped and its thread joined first.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch; nullopt after its last. Throws if start_epoch was never called
  // or if building a batch failed (the same error again on every later call, until start_epoch).
  std::optional<Batch> next();

 private:
  struct Slot {  // a built batch, or why building it failed
    Batch batch;
    std::exception_ptr error;
  };

  Batch build_batch(int64_t index, bool parallel) const;
  void worker(int64_t first, int64_t end);
  void stop();

  Tensor inputs_, targets_;  // contiguous copies' handles (no copy when already contiguous)
  LoaderOptions options_;
  int64_t n_ = 0;

  // The epoch being served; written only while no worker runs.
  bool started_ = false;
  int64_t epoch_ = 0, next_index_ = 0, end_index_ = 0;
  std::vector<int64_t> order_;  // order_[p] = the sample at position p of the epoch
  uint64_t augment_key_ = 0;
  std::exception_ptr error_;    // sticky until start_epoch

  // Shared with the worker, under mutex_.
  std::mutex mutex_;
  std::condition_variable ready_, space_;  // a slot was queued / one was taken or stop was set
  std::deque<Slot> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sieve
