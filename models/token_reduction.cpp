// models/token_reduction.cpp — EViT / L2 / SVTR pruning and ToMe merging (see token_reduction.h).
#include "models/token_reduction.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "models/clip.h"
#include "models/vit.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace sieve::models {

// ---------------------------------------------------------------- the settings

namespace {

double parse_number(const std::string& text, const std::string& flag, const std::string& what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SIEVE_CHECK(used == text.size() && !text.empty() && std::isfinite(v), "{}: {} '{}' is not a number", flag, what,
              text);
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at = text.find(sep); at != std::string::npos; at = text.find(sep, start)) {
    parts.push_back(text.substr(start, at - start));
    start = at + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace

TokenReduction parse_reduction(const std::string& text, const std::string& flag) {
  const std::string usage = "want none, evit:KEEP[:fuse], l2:KEEP, svtr:KEEP or tome:R (evit and svtr may end "
                            "with @BLOCK,BLOCK,...)";
  TokenReduction r;
  std::string spec = text;
  const size_t at = spec.find('@');
  if (at != std::string::npos) {
    for (const std::string& b : split(spec.substr(at + 1), ',')) {
      const double v = parse_number(b, flag, "block");
      SIEVE_CHECK(v >= 0 && v == std::floor(v), "{}: block '{}' is not a block index (0, 1, 2, ...)", flag, b);
      r.blocks.push_back(static_cast<int64_t>(v));
    }
    spec = spec.substr(0, at);
  }
  const std::vector<std::string> parts = split(spec, ':');
  const std::string& name = parts[0];
  if (name == "none" && parts.size() == 1 && r.blocks.empty()) return r;
  if (name == "tome") {
    SIEVE_CHECK(parts.size() == 2 && r.blocks.empty(), "{}: '{}': tome takes one number, r (tome:8); {}", flag, text,
                usage);
    const double v = parse_number(parts[1], flag, "r");
    SIEVE_CHECK(v >= 0 && v == std::floor(v), "{}: r {} must be a whole number of tokens ≥ 0", flag, parts[1]);
    r.method = Reduction::tome;
    r.merge = static_cast<int64_t>(v);
    return r;
  }
  SIEVE_CHECK(name == "evit" || name == "l2" || name == "svtr", "{}: unknown reduction '{}'; {}", flag, text, usage);
  r.method = name == "evit" ? Reduction::evit : name == "l2" ? Reduction::l2 : Reduction::svtr;
  SIEVE_CHECK(parts.size() == 2 || (parts.size() == 3 && name == "evit" && parts[2] == "fuse"),
              "{}: '{}' is not {}:KEEP{}; {}", flag, text, name, name == "evit" ? "[:fuse]" : "", usage);
  SIEVE_CHECK(r.blocks.empty() || name != "l2", "{}: l2 prunes once before the first block; it takes no @blocks",
              flag);
  r.keep = parse_number(parts[1], flag, "keep");
  SIEVE_CHECK(r.keep > 0.0 && r.keep <= 1.0, "{}: keep {} is outside (0, 1]", flag, parts[1]);
  r.fuse = parts.size() == 3;
  return r;
}

std::string reduction_str(const TokenReduction& r) {
  const std::string blocks = r.blocks.empty() ? "" : fmt::format("@{}", fmt::join(r.blocks, ","));
  switch (r.method) {
    case Reduction::none: return "none";
    case Reduction::evit: return fmt::format("evit:{}{}{}", r.keep, r.fuse ? ":fuse" : "", blocks);
    case Reduction::l2: return fmt::format("l2:{}", r.keep);
    case Reduction::svtr: return fmt::format("svtr:{}{}", r.keep, blocks);
    case Reduction::tome: return fmt::format("tome:{}", r.merge);
  }
  return "none";
}

std::vector<int64_t> evit_blocks(int64_t depth) {
  std::vector<int64_t> at;
  for (int64_t i : {3, 6, 9}) {
    const int64_t b = i * depth / 12;
    if (at.empty() || at.back() != b) at.push_back(b);
  }
  return at;
}

namespace {

// ⌈keep·n⌉, with a little slack so that 0.7 · 10 is 7, not 8.
int64_t kept_count(double keep, int64_t n) {
  return std::min<int64_t>(n, static_cast<int64_t>(std::ceil(keep * static_cast<double>(n) - 1e-9)));
}

std::vector<int64_t> pruning_blocks(const TokenReduction& r, int64_t depth) {
  return r.blocks.empty() ? evit_blocks(depth) : r.blocks;
}

bool prunes_after(const std::vector<int64_t>& blocks, int64_t i) {
  return std::find(blocks.begin(), blocks.end(), i) != blocks.end();
}

// The tokens after one pruning of T tokens (CLS first) keeping ⌈keep·(T − 1)⌉ patches.
int64_t after_pruning(const TokenReduction& r, int64_t T) {
  const int64_t K = kept_count(r.keep, T - 1);
  const bool summary = (r.method == Reduction::svtr || r.fuse) && K < T - 1;
  return 1 + K + (summary ? 1 : 0);
}

// ToMe can merge at most the A tokens other than CLS: ⌈T/2⌉ − 1.
int64_t mergeable(int64_t T) { return (T + 1) / 2 - 1; }

}  // namespace

std::vector<int64_t> tokens_per_block(const TokenReduction& r, int64_t patches, int64_t depth) {
  const std::vector<int64_t> blocks = pruning_blocks(r, depth);
  if (r.method == Reduction::evit || r.method == Reduction::svtr)
    for (int64_t b : blocks)
      SIEVE_CHECK(b >= 0 && b < depth, "--reduce {}: block {} does not exist (the encoder has blocks 0 to {})",
                  reduction_str(r), b, depth - 1);
  std::vector<int64_t> tokens;
  int64_t T = 1 + patches;
  if (r.method == Reduction::l2) T = after_pruning(r, T);
  for (int64_t i = 0; i < depth; ++i) {
    tokens.push_back(T);
    if ((r.method == Reduction::evit || r.method == Reduction::svtr) && prunes_after(blocks, i)) T = after_pruning(r, T);
    if (r.method == Reduction::tome) {
      SIEVE_CHECK(r.merge <= mergeable(T),
                  "--reduce tome:{}: r is too large: block {} has {} tokens, of which at most {} can merge",
                  r.merge, i, T, mergeable(T));
      T -= r.merge;
    }
  }
  tokens.push_back(T);
  return tokens;
}

// ---------------------------------------------------------------- moving tokens

namespace {

// Rows of x (B, T, D) picked per sample: rows[b] lists sample b's token indices, all lists the
// same length K → (B, K, D). One index_select on the flattened (B·T, D) rows.
Tensor pick_rows(const Tensor& x, const std::vector<std::vector<int64_t>>& rows) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), K = static_cast<int64_t>(rows[0].size());
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(B * K));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t : rows[static_cast<size_t>(b)]) flat.push_back(b * T + t);
  const Tensor index = from_vector<int64_t>(flat, {B * K}, x.device());
  return index_select(x.reshape({B * T, D}), 0, index).view({B, K, D});
}

// Per-sample scores of a (B, n) tensor, on the host.
std::vector<double> host_scores(const Tensor& scores) {
  return scores.detach().to(DType::f64).to_vector<double>();
}

}  // namespace

Tensor keep_top_tokens(const Tensor& x, const std::vector<double>& scores, int64_t keep, Dropped dropped) {
  const int64_t B = x.size(0), N = x.size(1) - 1;
  SIEVE_CHECK(static_cast<int64_t>(scores.size()) == B * N && keep >= 1 && keep <= N,
              "keep_top_tokens: {} scores for {} samples of {} patch tokens, keeping {}", scores.size(), B, N, keep);
  if (keep == N) return x;
  std::vector<std::vector<int64_t>> kept(static_cast<size_t>(B));
  std::vector<double> weights(dropped == Dropped::discard ? 0 : static_cast<size_t>(B * (N + 1)), 0.0);
  std::vector<int64_t> order(static_cast<size_t>(N));
  for (int64_t b = 0; b < B; ++b) {
    const double* s = scores.data() + b * N;
    std::iota(order.begin(), order.end(), 0);
    // Largest first; ties go to the earlier token, so the choice never depends on the sort.
    std::stable_sort(order.begin(), order.end(), [s](int64_t i, int64_t j) { return s[i] > s[j]; });
    std::vector<int64_t>& rows = kept[static_cast<size_t>(b)];
    rows.assign(order.begin(), order.begin() + keep);
    std::sort(rows.begin(), rows.end());
    for (int64_t& t : rows) t += 1;  // patch j is token j + 1
    rows.insert(rows.begin(), 0);    // CLS
    for (int64_t i = keep; i < N && !weights.empty(); ++i) {
      const int64_t j = order[static_cast<size_t>(i)];
      weights[static_cast<size_t>(b * (N + 1) + 1 + j)] =
          dropped == Dropped::mean ? 1.0 / static_cast<double>(N - keep) : s[j];
    }
  }
  Tensor out = pick_rows(x, kept);
  if (dropped == Dropped::discard) return out;
  // One more token per sample: weights (B, 1, T) · x (B, T, D), zero on CLS and the kept tokens.
  const Tensor w = from_vector<double>(weights, {B, 1, N + 1}).to(x.dtype()).to(x.device());
  return cat({out, matmul(w, x)}, 1);
}

Merged tome_merge(const Tensor& x, const Tensor& key_mean, const Tensor& sizes, int64_t r) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  SIEVE_CHECK(key_mean.ndim() == 3 && key_mean.size(0) == B && key_mean.size(1) == T,
              "tome_merge: keys {} do not match tokens {}", shape_str(key_mean.shape()), shape_str(x.shape()));
  SIEVE_CHECK(r >= 0 && r <= mergeable(T), "tome_merge: cannot merge {} of {} tokens (at most {})", r, T,
              mergeable(T));
  if (r == 0) return {x, sizes.defined() ? sizes : ones({B, T}, {.dtype = x.dtype(), .device = x.device()})};
  const int64_t Na = (T + 1) / 2, Nb = T / 2;  // A: even positions (CLS is A's 0), B: odd

  // Each A token's most similar B token: cosine similarity of the head-averaged keys. A and B are
  // every other row of the normalised keys, read in place (rows 2·Dh apart) by the product.
  std::vector<double> best;
  std::vector<int64_t> partner;
  {
    NoGradGuard no_grad;
    const Tensor metric = l2_normalize(key_mean).contiguous();
    const int64_t Dh = metric.size(2);
    const Tensor even = make_view(metric, {B, Na, Dh}, {T * Dh, 2 * Dh, 1}, metric.offset());
    const Tensor odd = make_view(metric, {B, Nb, Dh}, {T * Dh, 2 * Dh, 1}, metric.offset() + Dh);
    const Tensor similarity = matmul(even, odd.transpose(1, 2));  // (B, Na, Nb)
    best = host_scores(max(similarity, {-1}));                     // (B, Na)
    partner = argmax(similarity, -1).to_vector<int64_t>();         // first maximum on ties
  }

  // Per sample: the r A tokens (never CLS) with the most similar partners merge into them. The
  // sizes carry no gradient and are counts, so they are kept on the host, where the choice is.
  const std::vector<double> size_in =
      sizes.defined() ? sizes.detach().to(DType::f64).to_vector<double>() : std::vector<double>(B * T, 1.0);
  const int64_t T2 = T - r, unmerged = Na - r;
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(B));
  std::vector<double> size_out(static_cast<size_t>(B * T2));
  std::vector<int64_t> moved, partners, into;  // flat rows of x: merged A tokens, their partners; rows of the output
  std::vector<int64_t> order(static_cast<size_t>(Na - 1));
  for (int64_t b = 0; b < B; ++b) {
    const double* s = best.data() + b * Na;
    std::iota(order.begin(), order.end(), 1);
    std::stable_sort(order.begin(), order.end(), [s](int64_t i, int64_t j) { return s[i] > s[j]; });
    std::vector<int64_t> stay(order.begin() + r, order.end());
    stay.push_back(0);
    std::sort(stay.begin(), stay.end());
    std::vector<int64_t>& out = rows[static_cast<size_t>(b)];
    for (int64_t a : stay) out.push_back(2 * a);
    for (int64_t j = 0; j < Nb; ++j) out.push_back(2 * j + 1);
    for (int64_t t = 0; t < T2; ++t) size_out[static_cast<size_t>(b * T2 + t)] = size_in[static_cast<size_t>(b * T + out[t])];
    for (int64_t i = 0; i < r; ++i) {
      const int64_t a = order[static_cast<size_t>(i)], j = partner[static_cast<size_t>(b * Na + a)];
      moved.push_back(b * T + 2 * a);
      partners.push_back(b * T + 2 * j + 1);
      into.push_back(b * T2 + unmerged + j);
      size_out[static_cast<size_t>(b * T2 + unmerged + j)] += size_in[static_cast<size_t>(b * T + 2 * a)];
    }
  }
  moved.insert(moved.end(), partners.begin(), partners.end());  // one gather reads both: A rows, then their partners

  // The size-weighted average of a B token d and the A tokens i merged into it, written as a
  // correction of d: (s_d·x_d + Σ s_i·x_i) / S = x_d + Σ (s_i / S)·(x_i − x_d), S = s_d + Σ s_i.
  // So the T − r surviving rows are copied once and only the r merged rows are weighed, instead
  // of weighing, summing and dividing all T rows.
  std::vector<double> weight(static_cast<size_t>(B * r));
  for (size_t k = 0; k < weight.size(); ++k)
    weight[k] = size_in[static_cast<size_t>(moved[k])] / size_out[static_cast<size_t>(into[k])];
  const Tensor pairs = index_select(x.reshape({B * T, C}), 0, from_vector<int64_t>(moved, {2 * B * r}, x.device()));
  const Tensor w = from_vector<double>(weight, {B * r, 1}).to(x.dtype()).to(x.device());
  const Tensor correction = (pairs.narrow(0, 0, B * r) - pairs.narrow(0, B * r, B * r)) * w;  // (B·r, C)
  const Tensor into_index = from_vector<int64_t>(into, {B * r, 1}, x.device()).expand({B * r, C});
  const Tensor merged = scatter_add(pick_rows(x, rows).reshape({B * T2, C}), 0, into_index, correction);
  return {merged.view({B, T2, C}), from_vector<double>(size_out, {B, T2}).to(x.dtype()).to(x.device())};
}

// ---------------------------------------------------------------- the blocks

Tensor run_reduced_blocks(VisionTransformer& vit, Tensor x, const TokenReduction& r) {
  const int64_t depth = static_cast<int64_t>(vit.blocks->size());
  tokens_per_block(r, x.size(1) - 1, depth);  // checks r and the blocks before any work
  const std::vector<int64_t> blocks = pruning_blocks(r, depth);
  const bool attention_pruning = r.method == Reduction::evit || r.method == Reduction::svtr;
  if (r.method == Reduction::l2) {
    Tensor norms;
    {
      NoGradGuard no_grad;
      norms = sum(x.detach() * x.detach(), {-1}).narrow(1, 1, x.size(1) - 1);  // ‖x_j‖², same order
    }
    x = keep_top_tokens(x, host_scores(norms), kept_count(r.keep, x.size(1) - 1), Dropped::discard);
  }
  Tensor sizes;  // ToMe: (B, T) patches per token, undefined until the first merge
  for (int64_t i = 0; i < depth; ++i) {
    nn::TransformerBlock& block = *vit.blocks->at<nn::TransformerBlock>(static_cast<size_t>(i));
    const nn::ModuleScope scope(&block);
    const bool prune_here = attention_pruning && prunes_after(blocks, i);
    AttentionOptions options;
    options.want_cls_probs = prune_here;
    if (sizes.defined()) options.key_bias = log(sizes);  // proportional attention
    Tensor key_mean;
    // TransformerBlock::forward, split where the tokens change: attention, [reduce], MLP.
    Tensor h = x + block.attn->forward(block.norm1->forward(x), options,
                                       r.method == Reduction::tome && r.merge > 0 ? &key_mean : nullptr);
    if (prune_here) {
      const int64_t N = h.size(1) - 1;
      const Dropped dropped = r.method == Reduction::svtr ? Dropped::mean
                              : r.fuse                    ? Dropped::weighted_sum
                                                          : Dropped::discard;
      const Tensor patch_attention = block.attn->last_cls_probs.narrow(1, 1, N);
      h = keep_top_tokens(h, host_scores(patch_attention), kept_count(r.keep, N), dropped);
    }
    if (key_mean.defined()) {
      Merged m = tome_merge(h, key_mean, sizes, r.merge);
      h = m.x;
      sizes = m.sizes;
    }
    x = h + block.mlp_drop->forward(block.mlp->forward(block.norm2->forward(h)));
  }
  return x;
}

}  // namespace sieve::models
