// models/transformer.cpp — CausalTransformer (see transformer.h).
#include "models/transformer.h"

#include <cmath>
#include <vector>

namespace sieve::models {

Tensor sinusoidal_positions(int64_t length, int64_t dim, Device device) {
  SIEVE_CHECK(length > 0 && dim > 0, "sinusoidal_positions: sizes must be positive, got ({}, {})", length, dim);
  std::vector<float> table(static_cast<size_t>(length * dim));
  for (int64_t i = 0; i < dim; i += 2) {
    const double inv_freq = std::pow(10000.0, -static_cast<double>(i) / static_cast<double>(dim));
    for (int64_t t = 0; t < length; ++t) {
      const double angle = static_cast<double>(t) * inv_freq;
      table[t * dim + i] = static_cast<float>(std::sin(angle));
      if (i + 1 < dim) table[t * dim + i + 1] = static_cast<float>(std::cos(angle));
    }
  }
  Tensor out = from_vector(table, {length, dim});
  return device == kCPU ? out : out.to(device);
}

CausalTransformer::CausalTransformer(const TransformerConfig& c, Generator* gen)
    : Module("CausalTransformer"), config(c) {
  SIEVE_CHECK(c.depth >= 0, "transformer: depth must be ≥ 0, got {}", c.depth);
  SIEVE_CHECK(c.heads > 0 && c.dim % c.heads == 0, "transformer: dim {} is not a multiple of heads {}", c.dim,
              c.heads);
  SIEVE_CHECK(c.mlp_hidden > 0, "transformer: the MLP width must be positive, got {}", c.mlp_hidden);
  embed = register_module("embed", std::make_shared<SequenceStem>(c.io, c.dim, gen));
  blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.depth; ++i)
    blocks->push_back(std::make_shared<nn::TransformerBlock>(c.dim, c.heads, c.mlp_hidden, c.dropout, 1e-5, gen));
  head = register_module("head", std::make_shared<SequenceHead>(c.io, c.dim, /*rms_norm=*/false, 1e-5, gen));
}

Tensor CausalTransformer::positions(int64_t start, int64_t length, Device device) {
  if (!positions_.defined() || positions_.size(0) < start + length || positions_.device() != device)
    positions_ = sinusoidal_positions(start + length, config.dim, device);
  return positions_.narrow(0, start, length);
}

Tensor CausalTransformer::forward(const Tensor& inputs) {
  const nn::ModuleScope scope(this);
  return forward_embeddings(embed->forward(inputs));  // (B, L, D) → logits
}

Tensor CausalTransformer::forward_embeddings(const Tensor& embedded) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(embedded.ndim() == 3 && embedded.size(2) == config.dim, "transformer: input {} is not (B, L, {})",
              embedded.describe(), config.dim);
  Tensor x = embedded + positions(0, embedded.size(1), embedded.device());
  AttentionOptions options;
  options.causal = true;
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->at<nn::TransformerBlock>(i)->forward(x, options);
  return head->forward(x);
}

Tensor CausalTransformer::decode(const Tensor& embedded, std::vector<nn::KVCache>& caches) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(embedded.ndim() == 3 && embedded.size(2) == config.dim, "transformer: input {} is not (B, L, {})",
              embedded.describe(), config.dim);
  SIEVE_CHECK(config.io.per_token && config.depth > 0,
              "transformer: decode needs per-token logits (per_token = true) and a block (its cache counts positions)");
  if (caches.empty()) caches.resize(blocks->size());
  SIEVE_CHECK(caches.size() == blocks->size(), "transformer: {} caches for {} blocks", caches.size(), blocks->size());
  const int64_t start = caches.empty() ? 0 : caches[0].length;
  Tensor x = embedded + positions(start, embedded.size(1), embedded.device());
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->at<nn::TransformerBlock>(i)->forward_cached(x, caches[i]);
  return head->forward(x);
}

}  // namespace sieve::models
