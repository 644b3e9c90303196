// models/sequence.h — the input and output ends every sequence model shares (Transformer, Mamba,
// MRSS): the data-decided config keys, the stem that turns inputs into (B, L, D) and the head that
// turns (B, L, D) into logits. A sequence model is  stem → its own blocks → head.
//
// Legend: B batch, L sequence length, D model width ("dim"), V vocab, C in_channels, K num_classes.
//
// Data-decided keys (the trainer sets them from the task, as in_channels/image_size/num_classes
// for images; sequence_data_options() declares them with defaults so every sequence ModelSpec
// appends the same four):
//   vocab        > 0: inputs are int64 tokens (B, L) in 0..V−1, embedded by a table;
//                0:   inputs are float32 features (B, L, C) (sequential MNIST: C = 1)
//   in_channels  C, features per step when vocab = 0 (ignored for tokens)
//   num_classes  K, output logits
//   per_token    true:  logits (B, L, K), one per position (selective-copy, induction; the
//                       targets (B, L) hold -100 where nothing is predicted);
//                false: logits (B, K) read at the last position, which has seen the whole sequence
//                       in a causal model (majority, smnist; targets (B,))
//
// Parameter names (the registry's head_prefix of every sequence model is "head."):
//   embed.weight            (V, D) embedding table, init N(0, 1) as torch.nn.Embedding; or
//   embed.weight, .bias     (D, C) and (D) of a Linear C → D for float inputs, init as torch.nn.Linear
//   head.norm.weight(, .bias)  the final norm (RMSNorm or LayerNorm by the head's constructor flag);
//                           it belongs to the head, so `sieve ckpt strip-head` and `--init` treat the
//                           whole read-out (final norm + classifier) as the part to retrain
//   head.weight, head.bias  (K, D) and (K): the classifier
// A model registers the stem as "embed" and the head as "head".
//
// What it is not: positions (a model adds its own, or none), the blocks, the loss (the trainer
// flattens (B, L, K) logits and (B, L) targets for cross-entropy, ignoring -100).
// Extend: a new input kind (e.g. two token streams) is a new field in SequenceIO and a branch in
// SequenceStem; keep the parameter names above for the existing kinds.
#pragma once

#include <memory>
#include <vector>

#include "models/registry.h"
#include "nn/layers.h"

namespace sieve::models {

struct SequenceIO {
  int64_t vocab = 16;       // 0: float inputs of in_channels features
  int64_t in_channels = 1;  // used only when vocab == 0
  int64_t num_classes = 16;
  bool per_token = true;
};

// Reads and checks the four data keys (vocab ≥ 0, in_channels > 0, num_classes > 0).
SequenceIO sequence_io(const ModelConfig& config);

// The four data keys with defaults (an induction-like task: vocab 16, 16 classes, per token);
// a sequence ModelSpec's options are its own keys plus these.
std::vector<ModelOption> sequence_data_options();

// inputs → (B, L, D): int64 tokens (B, L) through an embedding table when io.vocab > 0, float32
// (B, L, C) through a Linear C → D otherwise. Parameters "weight" (and "bias"); register as "embed".
class SequenceStem : public nn::Module {
 public:
  SequenceStem(const SequenceIO& io, int64_t dim, Generator* gen = nullptr);
  Tensor forward(const Tensor& inputs) override;  // (B, L) int64 or (B, L, C) float32 → (B, L, D)
  SequenceIO io;
  int64_t dim;
  Tensor weight, bias;  // bias only for float inputs
};

// (B, L, D) → norm → [last position when !per_token] → Linear D → K:
// logits (B, L, K) when io.per_token, else (B, K). Register as "head" (parameter names above).
class SequenceHead : public nn::Module {
 public:
  // rms_norm: RMSNorm (Mamba's choice) instead of LayerNorm (the Transformer's).
  SequenceHead(const SequenceIO& io, int64_t dim, bool rms_norm, double norm_eps = 1e-5, Generator* gen = nullptr);
  Tensor forward(const Tensor& hidden) override;
  SequenceIO io;
  std::shared_ptr<nn::Module> norm;  // nn::RMSNorm or nn::LayerNorm, child "norm"
  Tensor weight, bias;
};

}  // namespace sieve::models
