// models/transformer.h — a causal pre-LN Transformer for the sequence tasks, the attention
// baseline Mamba and MRSS are compared against (same width and depth).
//
//   inputs (B, L) tokens or (B, L, C) floats → embed (models/sequence.h) → + sinusoidal positions
//   → depth × pre-LN TransformerBlock with causal multi-head attention → head (LayerNorm + Linear)
//   → logits (B, L, K) per token, or (B, K) at the last position
//
// Positions are the fixed sinusoids of Vaswani et al. (2017), PE[t, 2i] = sin(t / 10000^(2i/D)),
// PE[t, 2i+1] = cos(t / 10000^(2i/D)), computed for whatever L comes in: there is no learned table,
// so a model trained at L = 256 runs (if not necessarily well) at L = 16384. No parameters for them.
// Names: embed.weight, blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*, head.norm.*,
// head.weight/bias (the blocks are timm's, nn/attention.h). Norm eps 1e-5 (PyTorch's default).
// Memory: attention saves (B, heads, L, L) probabilities per block — the reason long-length
// evaluation of this model needs small batches, and the point of the comparison with the SSMs.
//
// Generation (the VLM's language model, models/vlm.h): forward_embeddings runs positions that are
// already vectors (a projector's image tokens beside embedded text), and decode runs the same
// computation position by position with a key/value cache per block (nn/attention.h KVCache), so
// a new token costs one position, not the whole prefix; a test checks both give the same logits.
// Extend: rotary or ALiBi positions would replace the sinusoids (positions()); keep the block names.
#pragma once

#include <vector>

#include "models/sequence.h"
#include "nn/attention.h"

namespace sieve::models {

struct TransformerConfig {
  SequenceIO io;
  int64_t dim = 64, depth = 2, heads = 4, mlp_hidden = 256;
  double dropout = 0.0;
};

// (L, D) float32 sinusoidal positions on `device`.
Tensor sinusoidal_positions(int64_t length, int64_t dim, Device device = kCPU);

class CausalTransformer : public nn::Module {
 public:
  explicit CausalTransformer(const TransformerConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& inputs) override;  // (B, L) or (B, L, C) → (B, L, K) or (B, K)
  // x (B, L, D), the stem's output or any other D-vectors → the head's logits; positions 0..L−1.
  Tensor forward_embeddings(const Tensor& x);
  // Under NoGradGuard: x (B, L, D) at positions caches[0].length.. → logits (B, L, K) per token.
  // caches: one per block, empty at the start of a sequence (resized here when it has none).
  Tensor decode(const Tensor& x, std::vector<nn::KVCache>& caches);

  TransformerConfig config;
  std::shared_ptr<SequenceStem> embed;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<SequenceHead> head;

 private:
  Tensor positions(int64_t start, int64_t length, Device device);  // (length, D) rows start.. of the table
  Tensor positions_;  // the longest (L, D) table made so far, on the device last asked for
};

}  // namespace sieve::models
