// nn/layers.h — the basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout, MLP.
//
// Each layer is a Module composed from ops/, so its gradient comes from the ops' backwards; no
// layer has a kernel of its own. Parameter names and layouts follow PyTorch (Linear.weight is
// (out, in)), so state dicts load into the matching torch.nn modules. Default initialisations
// follow PyTorch too, drawn from the Generator given (or the default one). That Generator is for
// initialisation only: a layer's dropout draws from the default generator, the one a training
// checkpoint saves and restores.
//
// Shape legend: B batch, T tokens, C/in/out/hidden feature sizes, V vocabulary size; "..." is any
// number of leading dims.
//
// What it is not: attention, patch embedding, transformer blocks (nn/attention.h, same pattern).
// Extend: derive from Module, register parameters in the constructor, compose ops in forward.
#pragma once

#include <memory>

#include "core/random.h"
#include "nn/module.h"
#include "ops/elementwise.h"

namespace sieve::nn {

// x: (..., in) → (..., out);  y = x · Wᵀ + b,  W: (out, in), b: (out)
// Init as torch.nn.Linear: W ~ kaiming_uniform(a=√5) = U(±1/√in), b ~ U(±1/√in).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined when built without
  int64_t in_features, out_features;
};

// ids: (...) int64 → (..., C);  W: (V, C), init N(0, 1) as torch.nn.Embedding.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator* gen = nullptr);
  Tensor forward(const Tensor& ids) override;
  Tensor weight;
};

// x: (..., C) → (..., C), normalised over C; weight ones, bias zeros (when affine).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string constants() const override;
  Tensor weight, bias;
  double eps;
};

// x: (..., C) → (..., C), x / rms(x) · weight; weight ones.
class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);
  Tensor forward(const Tensor& x) override;
  std::string constants() const override;
  Tensor weight;
  double eps;
};

// x: any → same shape. Active only while the module is training (train()/eval()).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  double p;

 private:
  Generator* gen_;  // null: the default generator
};

// x: (..., in) → (..., out): fc2(dropout(gelu(fc1(x)))), fc1: in → hidden, fc2: hidden → out.
// Names fc1/fc2 as timm's Mlp, so ViT checkpoints map one to one.
class MLP : public Module {
 public:
  MLP(int64_t in_features, int64_t hidden_features, int64_t out_features = -1,  // −1: out = in
      GeluApprox approx = GeluApprox::none, double dropout = 0.0, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string constants() const override;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> drop;
  GeluApprox approx;
};

}  // namespace sieve::nn
