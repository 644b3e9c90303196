// models/sequence.cpp — SequenceStem, SequenceHead and the data keys (see sequence.h).
#include "models/sequence.h"

#include <cmath>

#include "core/error.h"
#include "nn/init.h"
#include "ops/index.h"
#include "ops/matmul.h"

namespace sieve::models {

SequenceIO sequence_io(const ModelConfig& c) {
  SequenceIO io{.vocab = c.get_int("vocab"), .in_channels = c.get_int("in_channels"),
                .num_classes = c.get_int("num_classes"), .per_token = c.get_bool("per_token")};
  SIEVE_CHECK(io.vocab >= 0, "sequence model: vocab must be ≥ 0 (0 = float inputs), got {}", io.vocab);
  SIEVE_CHECK(io.in_channels > 0, "sequence model: in_channels must be positive, got {}", io.in_channels);
  SIEVE_CHECK(io.num_classes > 0, "sequence model: num_classes must be positive, got {}", io.num_classes);
  return io;
}

std::vector<ModelOption> sequence_data_options() {
  return {
      {"vocab", 16, "input tokens 0..vocab-1; 0 = float inputs of in_channels features (set from the task)", 0, 1 << 24},
      {"in_channels", 1, "features per step of float inputs (set from the task)", 1, 1 << 16},
      {"num_classes", 16, "output classes (set from the task)", 1, 1 << 24},
      {"per_token", true, "logits at every position (true) or at the last one only (set from the task)"},
  };
}

// ---- SequenceStem ----

SequenceStem::SequenceStem(const SequenceIO& io_, int64_t dim_, Generator* gen)
    : Module("SequenceStem"), io(io_), dim(dim_) {
  SIEVE_CHECK(dim > 0, "SequenceStem: dim must be positive, got {}", dim);
  if (io.vocab > 0) {
    weight = register_parameter("weight", empty({io.vocab, dim}));
    nn::init::normal_(weight, 0.0, 1.0, gen);
  } else {
    // As torch.nn.Linear(in_channels, dim).
    weight = register_parameter("weight", empty({dim, io.in_channels}));
    nn::init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
    bias = register_parameter("bias", empty({dim}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(io.in_channels));
    nn::init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor SequenceStem::forward(const Tensor& inputs) {
  const nn::ModuleScope scope(this);
  if (io.vocab > 0) {
    SIEVE_CHECK(inputs.ndim() == 2 && inputs.dtype() == DType::i64,
                "SequenceStem: expected int64 tokens (B, L), got {}", inputs.describe());
    return embedding(weight, inputs);  // (B, L, D)
  }
  SIEVE_CHECK(inputs.ndim() == 3 && inputs.size(2) == io.in_channels && inputs.dtype() != DType::i64,
              "SequenceStem: expected float features (B, L, {}), got {}", io.in_channels, inputs.describe());
  return matmul(inputs, weight.t()) + bias;  // (B, L, C) · (C, D) → (B, L, D)
}

// ---- SequenceHead ----

SequenceHead::SequenceHead(const SequenceIO& io_, int64_t dim, bool rms_norm, double norm_eps, Generator* gen)
    : Module("SequenceHead"), io(io_) {
  SIEVE_CHECK(dim > 0, "SequenceHead: dim must be positive, got {}", dim);
  // Own parameters first, then the norm: state dicts list head.weight, head.bias, head.norm.*.
  weight = register_parameter("weight", empty({io.num_classes, dim}));
  nn::init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
  bias = register_parameter("bias", empty({io.num_classes}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  nn::init::uniform_(bias, -bound, bound, gen);
  if (rms_norm)
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(dim, norm_eps));
  else
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(dim, norm_eps));
}

Tensor SequenceHead::forward(const Tensor& hidden) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(hidden.ndim() == 3 && hidden.size(2) == weight.size(1), "SequenceHead: expected (B, L, {}), got {}",
              weight.size(1), hidden.describe());
  // The norm works per position, so reading the last position first normalises only what is read.
  const Tensor x = io.per_token ? hidden : hidden.select(1, hidden.size(1) - 1);  // (B, L, D) or (B, D)
  return matmul(norm->forward(x), weight.t()) + bias;                             // (B, L, K) or (B, K)
}

}  // namespace sieve::models
