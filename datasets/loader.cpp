// datasets/loader.cpp — the training loader (contract, determinism rules and threads in loader.h).
//
// What it is: the epoch order (a keyed Fisher–Yates shuffle), build_batch() — which copies rows
// with memcpy, or, for augmented images, reads each output pixel from its cropped, flipped and
// normalised source — and a one-producer, one-consumer queue between the background thread and
// next().
// What it is not: a general augmentation library; crop, flip and normalise are the three that
// small-image training needs.
// Extend: see loader.h.
#include "datasets/loader.h"

#include <cstring>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "datasets/draws.h"

namespace sieve {

namespace {

// Each (seed, epoch) has two independent Philox streams, one per purpose.
enum class Stream : uint64_t { shuffle = 0, augment = 1 };

uint64_t stream_key(uint64_t seed, int64_t epoch, Stream stream) {
  return data::derive_key(data::derive_key(seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(stream));
}

// 0..n−1 shuffled by Fisher–Yates (i from n−1 down to 1 swaps with a draw in [0, i]).
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t key) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  data::Draws draws{key};
  if (shuffle)
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[draws.below(i + 1)]);
  return order;
}

// How one image is augmented: output pixel (y, x) of channel c is
//   (in[c][y + dy − P][flip ? W − 1 − x + dx − P : x + dx − P] − mean[c]) / std[c],
// where a source outside the image reads 0 (the zero padding).
struct Augment {
  int64_t dy = 0, dx = 0;  // crop offsets in the padded image, 0..2P
  bool flip = false;
};

// in: (C, H, W) one source image; out: (C, H, W) the augmented image.
void augment_image(const float* in, float* out, int64_t C, int64_t H, int64_t W, int64_t P, Augment a,
                   const std::vector<float>& mean, const std::vector<float>& std) {
  const bool normalise = !mean.empty();
  for (int64_t c = 0; c < C; ++c) {
    const float m = normalise ? mean[c] : 0.0f, s = normalise ? std[c] : 1.0f;
    const float pad = normalise ? -m / s : 0.0f;  // the zero padding, normalised
    for (int64_t y = 0; y < H; ++y) {
      float* row = out + (c * H + y) * W;
      const int64_t sy = y + a.dy - P;
      if (sy < 0 || sy >= H) {
        for (int64_t x = 0; x < W; ++x) row[x] = pad;
        continue;
      }
      const float* src = in + (c * H + sy) * W;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = (a.flip ? W - 1 - x : x) + a.dx - P;
        row[x] = sx < 0 || sx >= W ? pad : normalise ? (src[sx] - m) / s : src[sx];
      }
    }
  }
}

}  // namespace

Loader::Loader(Tensor inputs, Tensor targets, LoaderOptions options) : options_(std::move(options)) {
  const LoaderOptions& o = options_;
  SIEVE_CHECK(inputs.defined() && targets.defined(), "Loader: inputs and targets must both be given");
  SIEVE_CHECK(inputs.device().is_cpu() && targets.device().is_cpu(),
              "Loader: inputs and targets must be CPU tensors, got {} and {}", inputs.describe(), targets.describe());
  SIEVE_CHECK(inputs.ndim() >= 1 && targets.ndim() >= 1, "Loader: inputs {} and targets {} need a first dim N",
              inputs.describe(), targets.describe());
  SIEVE_CHECK(targets.dtype() == DType::i64, "Loader: targets must be int64, got {}", targets.describe());
  SIEVE_CHECK(inputs.size(0) == targets.size(0), "Loader: inputs have N = {} samples {} but targets {}",
              inputs.size(0), shape_str(inputs.shape()), shape_str(targets.shape()));
  SIEVE_CHECK(o.batch_size >= 1, "Loader: batch_size must be at least 1, got {}", o.batch_size);
  SIEVE_CHECK(o.prefetch >= 0, "Loader: prefetch must be 0 (synchronous) or more, got {}", o.prefetch);
  SIEVE_CHECK(o.crop_padding >= 0, "Loader: crop_padding must be 0 (off) or more, got {}", o.crop_padding);

  if (!o.mean.empty() || !o.std.empty()) {
    SIEVE_CHECK(inputs.dtype() == DType::f32 && inputs.ndim() >= 2,
                "Loader: mean/std normalise float32 (N, C, ...) inputs, got {}", inputs.describe());
    const int64_t C = inputs.size(1);
    SIEVE_CHECK(static_cast<int64_t>(o.mean.size()) == C && static_cast<int64_t>(o.std.size()) == C,
                "Loader: mean has {} values and std {}, but inputs {} have C = {} channels", o.mean.size(),
                o.std.size(), shape_str(inputs.shape()), C);
    for (int64_t c = 0; c < C; ++c)
      SIEVE_CHECK(o.std[c] > 0, "Loader: std[{}] = {} must be positive", c, o.std[c]);
  }
  if (o.crop_padding > 0 || o.flip)
    SIEVE_CHECK(inputs.dtype() == DType::f32 && inputs.ndim() == 4,
                "Loader: crop/flip augment float32 (N, C, H, W) images, got {}", inputs.describe());

  NoGradGuard no_grad;  // the loader's copies are data, not part of any graph
  inputs_ = inputs.detach().contiguous();
  targets_ = targets.detach().contiguous();
  n_ = inputs.size(0);
}

Loader::~Loader() { stop(); }

int64_t Loader::batches_per_epoch() const {
  const int64_t B = options_.batch_size;
  return options_.drop_last ? n_ / B : (n_ + B - 1) / B;
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  SIEVE_CHECK(epoch >= 0, "Loader::start_epoch: epoch must be 0 or more, got {}", epoch);
  SIEVE_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(),
              "Loader::start_epoch: first_batch {} is outside 0..{} (batches per epoch)", first_batch,
              batches_per_epoch());
  stop();
  queue_.clear();
  stop_ = false;
  error_ = nullptr;
  if (!started_ || epoch != epoch_)
    order_ = epoch_order(n_, options_.shuffle, stream_key(options_.seed, epoch, Stream::shuffle));
  augment_key_ = stream_key(options_.seed, epoch, Stream::augment);
  started_ = true;
  epoch_ = epoch;
  next_index_ = first_batch;
  end_index_ = batches_per_epoch();
  if (options_.prefetch > 0 && next_index_ < end_index_)
    thread_ = std::thread([this, first = next_index_, end = end_index_] { worker(first, end); });
}

std::optional<Batch> Loader::next() {
  SIEVE_CHECK(started_, "Loader::next: call start_epoch(epoch) first");
  if (error_) std::rethrow_exception(error_);
  if (next_index_ >= end_index_) return std::nullopt;
  if (options_.prefetch == 0) {
    Batch b = build_batch(next_index_, /*parallel=*/true);
    ++next_index_;
    return b;
  }
  Slot slot;
  {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty(); });
    slot = std::move(queue_.front());
    queue_.pop_front();
  }
  space_.notify_one();
  if (slot.error) {
    error_ = slot.error;
    std::rethrow_exception(error_);
  }
  ++next_index_;
  return std::move(slot.batch);
}

// Builds batches first..end−1 in order, waiting while `prefetch` of them are queued. A failure
// is queued in place of its batch and ends the thread.
void Loader::worker(int64_t first, int64_t end) {
  for (int64_t index = first; index < end; ++index) {
    {
      std::unique_lock lock(mutex_);
      space_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < options_.prefetch; });
      if (stop_) return;
    }
    Slot slot;
    try {
      slot.batch = build_batch(index, /*parallel=*/false);
    } catch (...) {
      slot.error = std::current_exception();
    }
    const bool failed = slot.error != nullptr;
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(slot));
    }
    ready_.notify_one();
    if (failed) return;
  }
}

void Loader::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  space_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Batch `index` of the current epoch: rows order_[p] for its positions p. parallel: use OpenMP
// (the caller's thread); the background thread passes false.
Batch Loader::build_batch(int64_t index, bool parallel) const {
  const LoaderOptions& o = options_;
  const int64_t first = index * o.batch_size;
  const int64_t B = std::min(o.batch_size, n_ - first);
  Shape in_shape = inputs_.shape(), target_shape = targets_.shape();
  in_shape[0] = B;
  target_shape[0] = B;
  Batch batch{empty(in_shape, {.dtype = inputs_.dtype()}), empty(target_shape, {.dtype = DType::i64}), epoch_, index};

  const int64_t in_row = inputs_.numel() / std::max<int64_t>(n_, 1);  // elements per sample
  const int64_t target_row = targets_.numel() / std::max<int64_t>(n_, 1);
  const size_t in_bytes = static_cast<size_t>(in_row) * dtype_size(inputs_.dtype());
  const auto* in = static_cast<const char*>(inputs_.raw_data());
  auto* in_out = static_cast<char*>(batch.inputs.raw_data());
  const int64_t* tg = targets_.data<int64_t>();
  int64_t* tg_out = batch.targets.data<int64_t>();
  const bool augment = o.crop_padding > 0 || o.flip || !o.mean.empty();
  // Typed pointers are taken here: nothing inside the parallel loop may throw.
  const float* in_f32 = augment ? inputs_.data<float>() : nullptr;
  float* out_f32 = augment ? batch.inputs.data<float>() : nullptr;

  // OpenMP only for big batches: an MNIST batch (100 K values) takes ~0.2 ms on one core, less than
  // a parallel region costs when the cores are busy (bench loader measured 8 ms on a loaded 2-core
  // machine).
#pragma omp parallel for schedule(static) if (parallel && B * in_row >= (int64_t{1} << 20))
  for (int64_t r = 0; r < B; ++r) {
    const int64_t p = first + r, sample = order_[p];
    std::memcpy(tg_out + r * target_row, tg + sample * target_row, static_cast<size_t>(target_row) * sizeof(int64_t));
    if (!augment) {
      std::memcpy(in_out + r * in_bytes, in + sample * in_bytes, in_bytes);
      continue;
    }
    // Normalisation alone works on any (N, C, ...): one "row" of all the trailing elements.
    const int64_t C = inputs_.size(1);
    const int64_t H = inputs_.ndim() == 4 ? inputs_.size(2) : 1, W = in_row / (C * H);
    Augment a;
    if (o.crop_padding > 0 || o.flip) {
      const auto w = philox4x32(augment_key_, static_cast<uint64_t>(p));
      const auto span = static_cast<uint32_t>(2 * o.crop_padding + 1);
      a.dy = w[0] % span;  // span 1 (no crop): always 0
      a.dx = w[1] % span;
      a.flip = o.flip && (w[2] & 1u) != 0;
    }
    augment_image(in_f32 + sample * in_row, out_f32 + r * in_row, C, H, W, o.crop_padding, a, o.mean, o.std);
  }
  if (o.transform) o.transform(batch);
  return batch;
}

}  // namespace sieve
