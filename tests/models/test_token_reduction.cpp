// tests/models/test_token_reduction.cpp — vision-token reduction (models/token_reduction.h): the
// settings' text and errors, token counts per block, the pruning gather against a hand case,
// ToMe's merge against a brute-force reference, gradients through both, keep 1.0 / r 0 equal to
// the plain ViT bit for bit, each sample reduced on its own (alone = inside a batch), and two
// invariants that only hold when the reduction is right: pruning after the last block's attention
// leaves CLS as it was, and merging two identical tokens under proportional attention changes
// nothing for the others.
//
// Sizes are tiny (8×8 images at patch 2 → 16 patch tokens, width 16, 4 blocks). Extend: a new
// method gets a case in each of the model-level tests.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "models/token_reduction.h"
#include "models/vit.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tests/helpers.h"

using namespace sieve;
using namespace sieve::models;

namespace {

VitConfig tiny_vit() {
  return {.in_channels = 1, .image_size = 8, .patch = 2, .dim = 16, .depth = 4, .heads = 2, .mlp_hidden = 32,
          .num_classes = 5};
}

// The methods at settings that do reduce, and their no-op settings.
const char* const kReducing[] = {"evit:0.5", "evit:0.7:fuse", "l2:0.5", "svtr:0.6", "tome:3", "evit:0.5@0,2"};
const char* const kNoOps[] = {"evit:1", "evit:1:fuse", "l2:1.0", "svtr:1", "tome:0"};

}  // namespace

TEST_CASE("token reduction: settings read back, and bad ones name the flag and the problem") {
  for (const char* text : {"none", "evit:0.7", "evit:0.5:fuse", "l2:0.5", "svtr:0.9", "tome:8", "evit:0.7@1,2"})
    CHECK(reduction_str(parse_reduction(text)) == text);
  const TokenReduction r = parse_reduction("evit:0.7:fuse@0,3");
  CHECK(r.method == Reduction::evit);
  CHECK(r.keep == 0.7);
  CHECK(r.fuse);
  CHECK(r.blocks == std::vector<int64_t>{0, 3});
  CHECK(parse_reduction("tome:12").merge == 12);
  auto error = [](const std::string& text) { return test::error_of([&] { parse_reduction(text, "--reduce"); }); };
  CHECK(test::contains(error("evit:1.5"), "--reduce: keep 1.5 is outside (0, 1]"));
  CHECK(test::contains(error("evit:0"), "keep 0 is outside (0, 1]"));
  CHECK(test::contains(error("svtr:-0.5"), "keep -0.5 is outside (0, 1]"));
  CHECK(test::contains(error("evit:abc"), "keep 'abc' is not a number"));
  CHECK(test::contains(error("tome:-1"), "r -1 must be a whole number"));
  CHECK(test::contains(error("tome:2.5"), "r 2.5 must be a whole number"));
  CHECK(test::contains(error("prune:0.5"), "unknown reduction 'prune:0.5'"));
  CHECK(test::contains(error("l2:0.5@1"), "l2 prunes once before the first block"));
  CHECK(test::contains(error("l2:0.5:fuse"), "'l2:0.5:fuse' is not l2:KEEP"));
  CHECK(test::contains(error("evit:0.5@x"), "block 'x' is not a number"));
  CHECK(test::contains(error("evit"), "'evit' is not evit:KEEP[:fuse]"));
}

TEST_CASE("token reduction: tokens per block at EViT's depths, and r or blocks the encoder cannot take") {
  CHECK(evit_blocks(12) == std::vector<int64_t>{3, 6, 9});
  CHECK(evit_blocks(4) == std::vector<int64_t>{1, 2, 3});
  CHECK(evit_blocks(2) == std::vector<int64_t>{0, 1});
  // 196 patches at keep 0.7: ⌈137.2⌉ = 138, ⌈96.6⌉ = 97, ⌈67.9⌉ = 68 patches after blocks 3, 6, 9.
  const std::vector<int64_t> evit = tokens_per_block(parse_reduction("evit:0.7"), 196, 12);
  CHECK(evit == std::vector<int64_t>{197, 197, 197, 197, 139, 139, 139, 98, 98, 98, 69, 69, 69});
  // Fused: one more token each time, counted as a patch by the next pruning: ⌈0.7·139⌉ = 98, ⌈0.7·99⌉ = 70.
  const std::vector<int64_t> fused = tokens_per_block(parse_reduction("evit:0.7:fuse"), 196, 12);
  CHECK(fused == std::vector<int64_t>{197, 197, 197, 197, 140, 140, 140, 100, 100, 100, 72, 72, 72});
  CHECK(tokens_per_block(parse_reduction("l2:0.5"), 196, 2) == std::vector<int64_t>{99, 99, 99});
  CHECK(tokens_per_block(parse_reduction("tome:10"), 196, 3) == std::vector<int64_t>{197, 187, 177, 167});
  CHECK(tokens_per_block(parse_reduction("none"), 16, 2) == std::vector<int64_t>{17, 17, 17});
  CHECK(test::contains(test::error_of([] { tokens_per_block(parse_reduction("tome:99"), 196, 12); }),
                       "--reduce tome:99: r is too large: block 0 has 197 tokens, of which at most 98 can merge"));
  CHECK(test::contains(test::error_of([] { tokens_per_block(parse_reduction("tome:16"), 196, 12); }),
                       "block 11 has 21 tokens, of which at most 10 can merge"));
  CHECK(test::contains(test::error_of([] { tokens_per_block(parse_reduction("evit:0.5@4"), 16, 4); }),
                       "block 4 does not exist (the encoder has blocks 0 to 3)"));
}

TEST_CASE("keep_top_tokens: CLS, then each sample's best patches in order, then the dropped ones' token") {
  // Two samples of CLS + 4 patches, one feature each: token t of sample b holds 10·b + t.
  const Tensor x = from_vector<double>({0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, {2, 5, 1});
  const std::vector<double> scores = {0.1, 0.4, 0.2, 0.3,   // sample 0 keeps patches 1, 3 (tokens 2, 4)
                                      0.5, 0.1, 0.3, 0.1};  // sample 1 keeps patches 0, 2 (tokens 11, 13)
  CHECK_CLOSE(keep_top_tokens(x, scores, 2, Dropped::discard), from_vector<double>({0, 2, 4, 10, 11, 13}, {2, 3, 1}),
              0, 0);
  // EViT's fused token: Σ score·x over the dropped, not renormalised (0.1·1 + 0.2·3; 0.1·12 + 0.1·14).
  CHECK_CLOSE(keep_top_tokens(x, scores, 2, Dropped::weighted_sum),
              from_vector<double>({0, 2, 4, 0.7, 10, 11, 13, 2.6}, {2, 4, 1}), 1e-12, 0);
  // SVTR's summary: the plain mean of the dropped.
  CHECK_CLOSE(keep_top_tokens(x, scores, 2, Dropped::mean), from_vector<double>({0, 2, 4, 2, 10, 11, 13, 13}, {2, 4, 1}),
              1e-12, 0);
  // Ties go to the earlier patch.
  CHECK_CLOSE(keep_top_tokens(x.narrow(0, 0, 1), {1, 1, 1, 1}, 1, Dropped::discard),
              from_vector<double>({0, 1}, {1, 2, 1}), 0, 0);
  // Keeping every patch returns x itself; gradients flow to the kept rows and through the summary.
  CHECK(keep_top_tokens(x, scores, 4, Dropped::weighted_sum).same(x));
  const Tensor leaf = test::randn_leaf({2, 5, 3}, 41);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return keep_top_tokens(in[0], scores, 2, Dropped::weighted_sum); },
                  {leaf});
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return keep_top_tokens(in[0], scores, 3, Dropped::mean); },
                  {leaf});
}

namespace {

// ToMe by the book, one sample at a time with plain loops: x (T, D), keys (T, Dh), sizes (T).
struct BruteMerge {
  std::vector<double> x, sizes;
};

BruteMerge brute_tome(const std::vector<double>& x, const std::vector<double>& keys, const std::vector<double>& sizes,
                      int64_t T, int64_t D, int64_t Dh, int64_t r) {
  auto cosine = [&](int64_t i, int64_t j) {
    double dot = 0, ni = 0, nj = 0;
    for (int64_t d = 0; d < Dh; ++d) {
      dot += keys[i * Dh + d] * keys[j * Dh + d];
      ni += keys[i * Dh + d] * keys[i * Dh + d];
      nj += keys[j * Dh + d] * keys[j * Dh + d];
    }
    return dot / std::sqrt(ni * nj);
  };
  struct Edge {
    double similarity;
    int64_t a, b;
  };
  std::vector<Edge> edges;  // each A token but CLS (even t > 0) with its most similar B token (odd)
  for (int64_t a = 2; a < T; a += 2) {
    Edge e{-2.0, a, -1};
    for (int64_t b = 1; b < T; b += 2)
      if (cosine(a, b) > e.similarity) e = {cosine(a, b), a, b};
    edges.push_back(e);
  }
  std::stable_sort(edges.begin(), edges.end(), [](const Edge& p, const Edge& q) { return p.similarity > q.similarity; });
  std::vector<double> sum(x.size()), size(sizes);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t d = 0; d < D; ++d) sum[t * D + d] = x[t * D + d] * sizes[t];
  std::vector<bool> gone(static_cast<size_t>(T), false);
  for (int64_t i = 0; i < r; ++i) {
    const Edge& e = edges[static_cast<size_t>(i)];
    for (int64_t d = 0; d < D; ++d) sum[e.b * D + d] += sum[e.a * D + d];
    size[e.b] += size[e.a];
    gone[e.a] = true;
  }
  BruteMerge out;
  auto emit = [&](int64_t t) {
    for (int64_t d = 0; d < D; ++d) out.x.push_back(sum[t * D + d] / size[t]);
    out.sizes.push_back(size[t]);
  };
  for (int64_t t = 0; t < T; t += 2)
    if (!gone[t]) emit(t);
  for (int64_t t = 1; t < T; t += 2) emit(t);
  return out;
}

}  // namespace

TEST_CASE("tome_merge equals a brute-force ToMe: matching, size-weighted averages, order, sizes") {
  const int64_t B = 3, D = 4, Dh = 3;
  for (int64_t T : {9, 10}) {
    for (int64_t r : {1, 3, 4}) {
      INFO("T ", T, " r ", r);
      const Tensor x = test::randn_leaf({B, T, D}, 50 + T, false);
      const Tensor keys = test::randn_leaf({B, T, Dh}, 60 + T, false);
      const Tensor sizes = abs(test::randn_leaf({B, T}, 70 + T, false)) + 1.0;
      const Merged m = tome_merge(x, keys, sizes, r);
      REQUIRE(m.x.shape() == Shape({B, T - r, D}));
      std::vector<double> want_x, want_sizes;
      for (int64_t b = 0; b < B; ++b) {
        const BruteMerge one = brute_tome(x.select(0, b).to_vector<double>(), keys.select(0, b).to_vector<double>(),
                                          sizes.select(0, b).to_vector<double>(), T, D, Dh, r);
        want_x.insert(want_x.end(), one.x.begin(), one.x.end());
        want_sizes.insert(want_sizes.end(), one.sizes.begin(), one.sizes.end());
      }
      CHECK_CLOSE(m.x, from_vector<double>(want_x, {B, T - r, D}), 1e-12, 1e-12);
      CHECK_CLOSE(m.sizes, from_vector<double>(want_sizes, {B, T - r}), 1e-12, 1e-12);
    }
  }
  const Tensor keys = test::randn_leaf({2, 7, 3}, 80, false);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return tome_merge(in[0], keys, Tensor(), 2).x; },
                  {test::randn_leaf({2, 7, 4}, 81)});
  CHECK(test::contains(test::error_of([&] { tome_merge(test::randn_leaf({2, 7, 4}, 82, false), keys, Tensor(), 4); }),
                       "tome_merge: cannot merge 4 of 7 tokens (at most 3)"));
}

TEST_CASE("token reduction in a ViT: keep 1.0 / r 0 is the plain model bit for bit, on every device") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      manual_seed(5);
      VisionTransformer vit(tiny_vit());
      vit.to(dev);
      vit.eval();
      const Tensor images = randn({6, 1, 8, 8}).to(dev);
      NoGradGuard no_grad;
      const Tensor plain = vit.forward(images);
      for (const char* text : kNoOps) {
        INFO(text);
        vit.reduction = parse_reduction(text);
        CHECK_CLOSE(vit.forward(images), plain, 0, 0);
      }
      for (const char* text : kReducing) {  // and the reductions do change the embeddings
        INFO(text);
        vit.reduction = parse_reduction(text);
        CHECK(!test::compare(vit.forward(images), plain, 1e-4, 0).empty());
      }
    }
  }
}

TEST_CASE("token reduction in a ViT: each sample keeps its own tokens (alone = in a mixed batch), on every device") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      manual_seed(6);
      VisionTransformer vit(tiny_vit());
      vit.to(dev);
      vit.eval();
      const Tensor images = randn({5, 1, 8, 8}).to(dev);
      NoGradGuard no_grad;
      for (const char* text : kReducing) {
        INFO(text);
        vit.reduction = parse_reduction(text);
        const Tensor batch = vit.forward(images);
        for (int64_t i = 0; i < 5; ++i) CHECK_CLOSE(vit.forward(images.narrow(0, i, 1)), batch.narrow(0, i, 1), 1e-5, 1e-5);
        // The blocks really ran on fewer tokens: the head read the count tokens_per_block predicts.
        const std::vector<int64_t> counts = tokens_per_block(vit.reduction, 16, 4);
        CHECK(run_reduced_blocks(vit, vit.embed(images), vit.reduction).size(1) == counts.back());
        CHECK(counts.back() < 17);
      }
    }
  }
}

TEST_CASE("token reduction in a ViT: gradients reach every parameter through pruning and merging") {
  for (const char* text : kReducing) {
    INFO(text);
    manual_seed(7);
    VisionTransformer vit(tiny_vit());
    vit.reduction = parse_reduction(text);
    const Tensor loss = sum(vit.forward(randn({4, 1, 8, 8})) * randn({4, 5}));
    loss.backward();
    for (const nn::NamedParameter& named : vit.named_parameters()) {
      const std::string& name = named.name;
      const Tensor& p = named.tensor;
      INFO(name);
      REQUIRE(p.grad().defined());
      CHECK(std::isfinite(sum(abs(p.grad())).item()));
    }
  }
}

TEST_CASE("token reduction invariants: pruning after the last attention keeps CLS; merging twins changes nothing") {
  manual_seed(8);
  VisionTransformer vit(tiny_vit());
  vit.eval();
  NoGradGuard no_grad;
  {
    // After the last block's attention only the per-token MLP runs, so CLS cannot notice.
    const Tensor images = randn({3, 1, 8, 8});
    const Tensor plain = vit.forward(images);
    for (const char* text : {"evit:0.3@3", "evit:0.3:fuse@3", "svtr:0.5@3"}) {
      vit.reduction = parse_reduction(text);
      CHECK_CLOSE(vit.forward(images), plain, 1e-6, 1e-5);
    }
  }
  {
    // Two identical tokens (patches 1 and 2 the same pixels, no position embedding) are one token
    // of size 2: with proportional attention every query sees the same softmax. In 2 blocks with
    // r = 1, block 0 merges the twins (cosine 1, the most similar pair) and block 1 merges some
    // pair after its attention, where only the per-token MLP follows: CLS stays as it was.
    VitConfig c = tiny_vit();
    c.depth = 2;
    VisionTransformer two(c);
    two.eval();
    fill_(two.pos_embed, 0.0);
    Tensor images = randn({1, 1, 8, 8});
    std::vector<float> px = images.to_vector<float>();
    for (size_t row = 0; row < 2; ++row)
      for (size_t col = 0; col < 2; ++col) px[row * 8 + 4 + col] = px[row * 8 + 2 + col];
    images = from_vector<float>(px, {1, 1, 8, 8});
    const Tensor plain = two.forward(images);
    two.reduction = parse_reduction("tome:1");
    CHECK_CLOSE(two.forward(images), plain, 1e-5, 1e-5);
    // Without the twins the same merge does change CLS: the check above can fail.
    two.reduction = {};
    const Tensor other = randn({1, 1, 8, 8});
    const Tensor other_plain = two.forward(other);
    two.reduction = parse_reduction("tome:1");
    CHECK(!test::compare(two.forward(other), other_plain, 1e-5, 1e-5).empty());
  }
}
