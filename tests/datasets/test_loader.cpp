// tests/datasets/test_loader.cpp — the training loader: batching, the seeded order, augmentation,
// bit-identical resume and prefetch, errors (also from the background thread), clean shutdown.
//
// Not here: speed (`sieve bench loader` measures it; tests never depend on timing).
// Extend: a new option gets a case that compares prefetch 0 and prefetch 2 (they must agree).
#include <algorithm>
#include <atomic>
#include <set>

#include "datasets/loader.h"
#include "tests/helpers.h"

using namespace sieve;
using sieve::test::contains;
using sieve::test::error_of;

namespace {

// n samples whose input row and target both say which sample they are: inputs (n, 3) float32
// with row i = (i, i + 0.25, i + 0.5), targets (n,) = i.
Loader indexed_loader(int64_t n, LoaderOptions o) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    for (float f : {0.0f, 0.25f, 0.5f}) x.push_back(static_cast<float>(i) + f);
    y.push_back(i);
  }
  return Loader(from_vector(x, {n, 3}), from_vector(y, {n}), std::move(o));
}

// All batches of one epoch, from first_batch on.
std::vector<Batch> epoch(Loader& loader, int64_t e, int64_t first_batch = 0) {
  loader.start_epoch(e, first_batch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(*b);
  return out;
}

std::vector<int64_t> order_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> order;
  for (const Batch& b : batches)
    for (int64_t t : b.targets.to_vector<int64_t>()) order.push_back(t);
  return order;
}

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].index != b[i].index || a[i].epoch != b[i].epoch || a[i].inputs.shape() != b[i].inputs.shape() ||
        a[i].inputs.to_vector<float>() != b[i].inputs.to_vector<float>() ||
        a[i].targets.to_vector<int64_t>() != b[i].targets.to_vector<int64_t>())
      return false;
  return true;
}

// images (n, C, H, W) with distinct positive pixels: value = 1 + sample·1000 + c·100 + y·10 + x.
Tensor distinct_images(int64_t n, int64_t C, int64_t H, int64_t W) {
  std::vector<float> px;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) px.push_back(static_cast<float>(1 + i * 1000 + c * 100 + y * 10 + x));
  return from_vector(px, {n, C, H, W});
}

std::vector<int64_t> iota_labels(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("loader: batches cover every sample once, in order without shuffle, last batch smaller") {
  for (int prefetch : {0, 2}) {
    CAPTURE(prefetch);
    Loader loader = indexed_loader(10, {.batch_size = 4, .shuffle = false, .prefetch = prefetch});
    CHECK(loader.size() == 10);
    CHECK(loader.batches_per_epoch() == 3);
    const std::vector<Batch> batches = epoch(loader, 0);
    REQUIRE(batches.size() == 3);
    CHECK(batches[0].inputs.shape() == Shape{4, 3});
    CHECK(batches[2].inputs.shape() == Shape{2, 3});
    CHECK(batches[2].targets.shape() == Shape{2});
    CHECK(batches[1].index == 1);
    CHECK(order_of(batches) == iota_labels(10));
    // Each input row travels with its target.
    CHECK(batches[2].inputs.to_vector<float>() == std::vector<float>{8, 8.25f, 8.5f, 9, 9.25f, 9.5f});
    CHECK_FALSE(loader.next().has_value());  // stays at the end

    Loader dropping = indexed_loader(10, {.batch_size = 4, .drop_last = true, .prefetch = prefetch});
    CHECK(dropping.batches_per_epoch() == 2);
    const std::vector<Batch> two = epoch(dropping, 3);
    CHECK(two.size() == 2);
    CHECK(two[1].epoch == 3);
  }
}

TEST_CASE("loader: the shuffle is a permutation fixed by (seed, epoch)") {
  Loader a = indexed_loader(100, {.batch_size = 7, .seed = 5});
  Loader b = indexed_loader(100, {.batch_size = 7, .seed = 5, .prefetch = 0});
  Loader c = indexed_loader(100, {.batch_size = 7, .seed = 6});
  const std::vector<int64_t> e0 = order_of(epoch(a, 0)), e1 = order_of(epoch(a, 1));
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota_labels(100));
  CHECK(e0 != iota_labels(100));
  CHECK(e0 != e1);                       // epochs differ
  CHECK(order_of(epoch(b, 1)) == e1);    // prefetch does not matter, nor does the epoch run before
  CHECK(order_of(epoch(a, 0)) == e0);    // an epoch can be replayed
  CHECK(order_of(epoch(c, 0)) != e0);    // seeds differ
}

TEST_CASE("loader: start_epoch(e, k) gives exactly batches k, k+1, ... of start_epoch(e, 0), augmented too") {
  const LoaderOptions o{.batch_size = 3, .seed = 11, .mean = {1, 2}, .std = {2, 4}, .crop_padding = 2, .flip = true};
  Loader whole(distinct_images(20, 2, 5, 6), from_vector(iota_labels(20), {20}), o);
  const std::vector<Batch> full = epoch(whole, 4);
  REQUIRE(full.size() == 7);
  for (int prefetch : {0, 1, 2, 5})
    for (int64_t k : {0, 1, 4, 6, 7}) {
      CAPTURE(prefetch);
      CAPTURE(k);
      LoaderOptions p = o;
      p.prefetch = prefetch;
      Loader resumed(distinct_images(20, 2, 5, 6), from_vector(iota_labels(20), {20}), p);
      epoch(resumed, 2);  // another epoch first: nothing may carry over
      CHECK(same_batches(epoch(resumed, 4, k), std::vector<Batch>(full.begin() + k, full.end())));
    }
}

TEST_CASE("loader: crop and flip move whole images; every offset and both flips occur") {
  constexpr int64_t n = 200, P = 2, C = 2, H = 4, W = 5;
  const Tensor images = distinct_images(n, C, H, W);
  Loader loader(images, from_vector(iota_labels(n), {n}),
                {.batch_size = 16, .seed = 3, .crop_padding = P, .flip = true});
  const std::vector<float> src = images.to_vector<float>();
  std::set<std::pair<int64_t, int64_t>> offsets;
  int flips = 0;
  for (const Batch& b : epoch(loader, 0)) {
    const std::vector<float> out = b.inputs.to_vector<float>();
    const std::vector<int64_t> ids = b.targets.to_vector<int64_t>();
    for (size_t r = 0; r < ids.size(); ++r) {
      // Find the (dy, dx, flip) that reproduces this output from its source image.
      int matches = 0;
      for (int64_t dy = 0; dy <= 2 * P; ++dy)
        for (int64_t dx = 0; dx <= 2 * P; ++dx)
          for (bool flip : {false, true}) {
            bool same = true;
            for (int64_t c = 0; c < C && same; ++c)
              for (int64_t y = 0; y < H && same; ++y)
                for (int64_t x = 0; x < W && same; ++x) {
                  const int64_t sy = y + dy - P, sx = (flip ? W - 1 - x : x) + dx - P;
                  const float want = sy < 0 || sy >= H || sx < 0 || sx >= W
                                         ? 0.0f
                                         : src[((ids[r] * C + c) * H + sy) * W + sx];
                  same = out[((r * C + c) * H + y) * W + x] == want;
                }
            if (same) {
              ++matches;
              offsets.insert({dy, dx});
              flips += flip;
            }
          }
      CHECK_MESSAGE(matches == 1, "sample ", ids[r], " matches ", matches, " crops");
    }
  }
  CHECK(offsets.size() == 25);  // all (2P+1)² offsets seen in 200 draws
  CHECK(flips > 60);
  CHECK(flips < 140);
}

TEST_CASE("loader: normalisation is (x - mean[c]) / std[c]; the zero padding becomes -mean/std") {
  const Tensor images = distinct_images(3, 2, 2, 2);
  Loader plain(images, from_vector(iota_labels(3), {3}),
               {.batch_size = 3, .shuffle = false, .mean = {0.5f, 1000}, .std = {2, 0.5f}});
  const std::vector<float> in = images.to_vector<float>(), out = epoch(plain, 0)[0].inputs.to_vector<float>();
  for (size_t i = 0; i < in.size(); ++i) {
    const bool c1 = (i / 4) % 2 == 1;
    CHECK(out[i] == (c1 ? (in[i] - 1000.0f) / 0.5f : (in[i] - 0.5f) / 2.0f));
  }
  // Padding of 8 around a 2×2 image: most of every crop is padding, and it reads -mean/std.
  Loader padded(images, from_vector(iota_labels(3), {3}), {.batch_size = 3, .mean = {0.5f, 1000}, .std = {2, 0.5f},
                                                           .crop_padding = 8});
  const std::vector<float> p = epoch(padded, 0)[0].inputs.to_vector<float>();
  CHECK(std::count(p.begin(), p.end(), -0.25f) >= 4);
  CHECK(std::count(p.begin(), p.end(), -2000.0f) >= 4);

  // Normalisation alone also takes (N, C, L): C from dim 1.
  Loader seq(from_vector<float>({1, 2, 3, 4, 5, 6}, {1, 2, 3}), from_vector<int64_t>({0}, {1}),
             {.batch_size = 1, .mean = {1, 4}, .std = {1, 2}});
  CHECK(epoch(seq, 0)[0].inputs.to_vector<float>() == std::vector<float>{0, 1, 2, 0, 0.5f, 1});
}

TEST_CASE("loader: int64 token inputs and per-token targets; N = 0 gives no batches") {
  std::vector<int64_t> tokens, targets;
  for (int64_t i = 0; i < 6 * 4; ++i) tokens.push_back(i), targets.push_back(-i);
  Loader loader(from_vector(tokens, {6, 4}), from_vector(targets, {6, 4}), {.batch_size = 4, .seed = 9});
  for (const Batch& b : epoch(loader, 0)) {
    CHECK(b.inputs.dtype() == DType::i64);
    const auto x = b.inputs.to_vector<int64_t>(), y = b.targets.to_vector<int64_t>();
    for (size_t i = 0; i < x.size(); ++i) CHECK(y[i] == -x[i]);
  }
  Loader none(zeros({0, 3}), zeros({0}, {.dtype = DType::i64}), {});
  CHECK(none.batches_per_epoch() == 0);
  none.start_epoch(0);
  CHECK_FALSE(none.next().has_value());
}

TEST_CASE("loader: bad options and shapes are refused in one line") {
  const Tensor x = zeros({4, 1, 2, 2}), y = zeros({4}, {.dtype = DType::i64});
  auto refused = [](const std::string& e, const std::string& words) {
    CHECK_MESSAGE(contains(e, words), e);
    CHECK_MESSAGE(e.find('\n') == std::string::npos, e);
  };
  refused(error_of([&] { Loader(x, y, {.batch_size = 0}); }), "batch_size must be at least 1, got 0");
  refused(error_of([&] { Loader(x, zeros({5}, {.dtype = DType::i64}), {}); }), "N = 4");
  refused(error_of([&] { Loader(x, zeros({4}), {}); }), "targets must be int64");
  refused(error_of([&] { Loader(x, y, {.mean = {0, 0}, .std = {1, 1}}); }), "C = 1 channels");
  refused(error_of([&] { Loader(x, y, {.mean = {0}, .std = {0}}); }), "std[0] = 0 must be positive");
  refused(error_of([&] { Loader(zeros({4, 4}), y, {.crop_padding = 1}); }), "crop/flip augment float32 (N, C, H, W)");
  refused(error_of([&] { Loader(zeros({4, 1, 2, 2}, {.dtype = DType::i64}), y, {.flip = true}); }), "crop/flip");
  refused(error_of([&] { Loader(x, y, {.crop_padding = -1}); }), "crop_padding");
  refused(error_of([&] { Loader(x, y, {.prefetch = -1}); }), "prefetch");
  Loader ok(x, y, {.batch_size = 3});
  refused(error_of([&] { ok.next(); }), "call start_epoch");
  refused(error_of([&] { ok.start_epoch(0, 3); }), "first_batch 3 is outside 0..2");
}

TEST_CASE("loader: an exception while building a batch is re-thrown by next(), with or without prefetch") {
  for (int prefetch : {0, 2}) {
    CAPTURE(prefetch);
    LoaderOptions o{.batch_size = 2, .prefetch = prefetch};
    o.transform = [](Batch& b) {
      if (b.index == 2) fail("transform: batch {} is cursed", b.index);
    };
    Loader loader = indexed_loader(10, o);
    loader.start_epoch(0);
    CHECK(loader.next()->index == 0);
    CHECK(loader.next()->index == 1);
    CHECK(error_of([&] { loader.next(); }) == "transform: batch 2 is cursed");
    CHECK(error_of([&] { loader.next(); }) == "transform: batch 2 is cursed");  // sticky
    loader.start_epoch(0, 3);  // a restart clears it
    CHECK(loader.next()->index == 3);
  }
}

TEST_CASE("loader: the thread stops cleanly mid-epoch, on restart and on destruction") {
  std::atomic<int> built{0};
  {
    LoaderOptions o{.batch_size = 1, .prefetch = 3};
    o.transform = [&](Batch&) { ++built; };
    Loader loader = indexed_loader(1000, o);
    for (int round = 0; round < 20; ++round) {
      loader.start_epoch(round % 3, round);
      CHECK(loader.next()->index == round);
    }
    loader.start_epoch(0);
    loader.next();
  }  // destroyed with batches still to come: must join, not hang or crash
  // At most prefetch (3) + the one handed out + one being built per start, never the whole epoch.
  CHECK(built.load() <= 21 * 5);
}
