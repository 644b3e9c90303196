// models/mlp.h — the simplest classifier: flatten, hidden Linear+ReLU layers, a Linear head.
//
//   x: (B, C, H, W) or (B, F) → flatten (B, F) → [Linear → ReLU → Dropout] per hidden width
//   → head Linear → logits (B, classes)
// Names: layers.0.weight, layers.1.weight, ..., head.weight, head.bias (the head is what
// `sieve ckpt strip-head` removes). The first model sieve trains: `sieve train mlp --dataset mnist`.
//
// Extend: a new model is a file like this one plus a ModelSpec in models/registry.cpp.
#pragma once

#include <vector>

#include "nn/layers.h"

namespace sieve::models {

class MlpClassifier : public nn::Module {
 public:
  MlpClassifier(int64_t in_features, const std::vector<int64_t>& hidden, int64_t classes,
                double dropout = 0.0, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::ModuleList> layers;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Linear> head;
  int64_t in_features;
};

}  // namespace sieve::models
