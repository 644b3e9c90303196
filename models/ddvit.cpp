// models/ddvit.cpp — DynamicDepthViT (see ddvit.h).
#include "models/ddvit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.h"
#include "ops/copy.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/softmax.h"

namespace sieve::models {

namespace {

constexpr int kEntropyBins = 256;
constexpr double kRunningMomentum = 0.1;  // training keeps entropy_range as a running average

// The rows of t (b, ...) listed in `rows` (ascending). All rows: t itself, no copy.
Tensor select_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  if (static_cast<int64_t>(rows.size()) == t.size(0)) return t;
  return index_select(t, 0, from_vector<int64_t>(rows, {static_cast<int64_t>(rows.size())}, t.device()));
}

// q in [0, 1] of sorted values, interpolating linearly between neighbours (numpy's default).
double percentile(const std::vector<double>& sorted, double q) {
  const double at = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (at - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

DepthPolicy parse_depth_policy(const std::string& name) {
  if (name == "exit") return DepthPolicy::exit;
  if (name == "entropy") return DepthPolicy::entropy;
  if (name == "full") return DepthPolicy::full;
  fail("ddvit: unknown policy '{}' (known: exit, entropy, full)", printable(name, 64));
}

const char* depth_policy_name(DepthPolicy policy) {
  switch (policy) {
    case DepthPolicy::exit: return "exit";
    case DepthPolicy::entropy: return "entropy";
    case DepthPolicy::full: return "full";
  }
  return "?";
}

ExitClassifier::ExitClassifier(int64_t dim, int64_t classes, Generator* gen) : Module("ExitClassifier") {
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(dim, 1e-6));
  head = register_module("head", std::make_shared<nn::Linear>(dim, classes, true, gen));
}

Tensor ExitClassifier::forward(const Tensor& cls) {
  const nn::ModuleScope scope(this);
  return head->forward(norm->forward(cls));
}

DynamicDepthViT::DynamicDepthViT(const VitConfig& c, Generator* gen)
    : VisionTransformer("DynamicDepthViT", c, gen, /*with_head=*/false) {
  SIEVE_CHECK(c.depth >= 1, "ddvit: depth must be at least 1, got {}", c.depth);
  exits = register_module("exits", std::make_shared<nn::ModuleList>());
  for (int64_t n = 0; n < c.depth; ++n) exits->push_back(std::make_shared<ExitClassifier>(c.dim, c.num_classes, gen));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  entropy_range = register_buffer("entropy_range", full({2}, nan));
}

Tensor DynamicDepthViT::exit_logits(int64_t n, const Tensor& tokens) const {
  return exits->at<ExitClassifier>(static_cast<size_t>(n))->forward(tokens.select(1, 0));
}

Tensor DynamicDepthViT::forward(const Tensor& images) {
  const nn::ModuleScope scope(this);
  if (!is_training()) return run_dynamic(images);
  Tensor x = embed(images);  // (B, 1+N, D)
  for (size_t n = 0; n < blocks->size(); ++n) x = blocks->at<nn::TransformerBlock>(n)->forward(x);
  last_depths.assign(static_cast<size_t>(x.size(0)), config.depth);
  return exit_logits(config.depth - 1, x);
}

StepOutput DynamicDepthViT::training_step(const Tensor& images, const Tensor& targets) {
  const nn::ModuleScope scope(this);
  Tensor x = embed(images);  // (B, 1+N, D)
  // Like BatchNorm's running statistics: a model trained for the entropy policy arrives at its
  // first evaluation calibrated. calibrate_entropy() on the final weights replaces the estimate.
  if (policy == DepthPolicy::entropy && is_training()) update_entropy_range(token_entropy_bits(x), kRunningMomentum);
  const Tensor y = targets.reshape({-1});
  Tensor loss, logits;
  for (int64_t n = 0; n < config.depth; ++n) {
    x = blocks->at<nn::TransformerBlock>(static_cast<size_t>(n))->forward(x);
    logits = exit_logits(n, x);  // (B, classes)
    const Tensor exit_loss = cross_entropy(logits, y);
    loss = loss.defined() ? loss + exit_loss : exit_loss;
  }
  last_depths.assign(static_cast<size_t>(x.size(0)), config.depth);
  return {loss, logits};
}

// The per-sample loop shared by the policies. `active` maps each row of x to its original
// sample; after block n the policy marks the rows that leave, their logits are kept with their
// original indices, and x shrinks to the rows that stay.
Tensor DynamicDepthViT::run_dynamic(const Tensor& images) {
  Tensor x = embed(images);  // (b, 1+N, D), b = B at first
  const int64_t batch = x.size(0), depth = config.depth;
  SIEVE_CHECK(batch > 0, "ddvit: empty batch {}", images.describe());
  std::vector<int64_t> planned;  // entropy: each sample's depth, decided before any block runs
  if (policy == DepthPolicy::entropy) planned = entropy_depths(x);

  std::vector<int64_t> active(static_cast<size_t>(batch));
  std::iota(active.begin(), active.end(), 0);
  last_depths.assign(active.size(), depth);
  std::vector<Tensor> parts;   // logits of the samples that left, in leaving order
  std::vector<int64_t> order;  // their original indices, same order
  for (int64_t n = 0; n < depth && !active.empty(); ++n) {
    x = blocks->at<nn::TransformerBlock>(static_cast<size_t>(n))->forward(x);
    const bool last = n == depth - 1;
    std::vector<char> leaves(active.size(), last ? 1 : 0);
    Tensor logits;  // (b, classes): computed for every row only when the decision needs them
    if (!last && policy == DepthPolicy::exit) {
      logits = exit_logits(n, x);
      const std::vector<double> top = max(softmax(logits.detach(), -1), {-1}).to_vector<double>();
      for (size_t i = 0; i < active.size(); ++i) leaves[i] = top[i] >= threshold;
    } else if (!last && policy == DepthPolicy::entropy) {
      for (size_t i = 0; i < active.size(); ++i) leaves[i] = planned[static_cast<size_t>(active[i])] == n + 1;
    }
    std::vector<int64_t> leave_rows, stay_rows, still_active;
    for (size_t i = 0; i < active.size(); ++i) {
      if (leaves[i]) {
        leave_rows.push_back(static_cast<int64_t>(i));
        order.push_back(active[i]);
        last_depths[static_cast<size_t>(active[i])] = n + 1;
      } else {
        stay_rows.push_back(static_cast<int64_t>(i));
        still_active.push_back(active[i]);
      }
    }
    if (!leave_rows.empty())
      parts.push_back(logits.defined() ? select_rows(logits, leave_rows) : exit_logits(n, select_rows(x, leave_rows)));
    if (!stay_rows.empty()) x = select_rows(x, stay_rows);  // later blocks run on these only
    active = std::move(still_active);
  }
  if (parts.size() == 1) return parts[0];  // everyone left together: already in original order
  // Row k of `joined` is sample order[k]; gather it back to row order[k].
  std::vector<int64_t> inverse(order.size());
  for (size_t k = 0; k < order.size(); ++k) inverse[static_cast<size_t>(order[k])] = static_cast<int64_t>(k);
  const Tensor joined = cat(parts, 0);
  return index_select(joined, 0, from_vector<int64_t>(inverse, {batch}, joined.device()));
}

// A plain host loop: the entropy is a per-sample scalar that only picks a depth (no gradient),
// and a 256-bin histogram per sample is not an op any other model needs.
std::vector<double> DynamicDepthViT::token_entropy_bits(const Tensor& tokens) {
  SIEVE_CHECK(tokens.ndim() == 3, "ddvit: token entropy expects tokens (B, L, D), got {}", tokens.describe());
  NoGradGuard no_grad;
  const std::vector<float> values = tokens.detach().to_vector<float>();
  const size_t batch = static_cast<size_t>(tokens.size(0)), per = values.size() / std::max<size_t>(batch, 1);
  std::vector<double> bits(batch, 0.0);
  for (size_t b = 0; b < batch; ++b) {
    const float* v = values.data() + b * per;
    const auto [lo, hi] = std::minmax_element(v, v + per);
    if (per == 0 || *lo == *hi) continue;  // one value: one bin, zero entropy
    const double low = *lo, width = static_cast<double>(*hi) - low;
    std::vector<int64_t> count(kEntropyBins, 0);
    for (size_t i = 0; i < per; ++i) {
      const int bin = static_cast<int>((v[i] - low) / width * kEntropyBins);
      ++count[static_cast<size_t>(std::min(bin, kEntropyBins - 1))];  // the maximum falls in the last bin
    }
    for (int64_t c : count)
      if (c > 0) {
        const double p = static_cast<double>(c) / static_cast<double>(per);
        bits[b] -= p * std::log2(p);
      }
  }
  return bits;
}

bool DynamicDepthViT::entropy_calibrated() const {
  const std::vector<double> r = entropy_range.to_vector<double>();
  return std::isfinite(r[0]) && std::isfinite(r[1]);
}

std::vector<int64_t> DynamicDepthViT::entropy_depths(const Tensor& tokens) const {
  SIEVE_CHECK(entropy_calibrated(), "ddvit: the entropy policy needs a calibrated entropy_range, which this model "
              "lacks: use the calibrated.safetensors `sieve experiment ddvit` writes, train with --policy entropy, "
              "or call calibrate_entropy(images)");
  const std::vector<double> range = entropy_range.to_vector<double>();
  const double low = range[0], high = range[1];
  std::vector<int64_t> depths;
  for (double h : token_entropy_bits(tokens)) {
    // Where h sits between low and high, clamped to [0, 1]; a collapsed range splits at low.
    double t = high > low ? (h - low) / (high - low) : (h > low ? 1.0 : 0.0);
    t = std::clamp(t, 0.0, 1.0);
    depths.push_back(1 + static_cast<int64_t>(std::lround(t * static_cast<double>(config.depth - 1))));
  }
  return depths;
}

void DynamicDepthViT::calibrate_entropy(const Tensor& images, int64_t chunk) {
  SIEVE_CHECK(images.ndim() == 4 && images.size(0) > 0 && chunk > 0,
              "ddvit: calibrate_entropy expects images (B, C, H, W) with B ≥ 1, got {}", images.describe());
  const nn::ModuleScope scope(this);
  NoGradGuard no_grad;
  std::vector<double> all;
  for (int64_t start = 0; start < images.size(0); start += chunk) {
    const std::vector<double> part =
        token_entropy_bits(embed(images.narrow(0, start, std::min(chunk, images.size(0) - start))));
    all.insert(all.end(), part.begin(), part.end());
  }
  update_entropy_range(all, 1.0);
}

// momentum 1 (or an uncalibrated range): set to this set's 5th/95th percentiles; else move the
// range that fraction of the way towards them.
void DynamicDepthViT::update_entropy_range(const std::vector<double>& entropies, double momentum) {
  if (entropies.empty()) return;
  std::vector<double> sorted = entropies;
  std::sort(sorted.begin(), sorted.end());
  double low = percentile(sorted, 0.05), high = percentile(sorted, 0.95);
  if (momentum < 1.0 && entropy_calibrated()) {
    const std::vector<double> old = entropy_range.to_vector<double>();
    low = (1 - momentum) * old[0] + momentum * low;
    high = (1 - momentum) * old[1] + momentum * high;
  }
  NoGradGuard no_grad;
  copy_(entropy_range, from_vector<double>({low, high}, {2}, entropy_range.device()).to(entropy_range.dtype()));
}

}  // namespace sieve::models
