// models/projectors.h — the five projectors of the LLaVA study: vision tokens → the language
// model's input space. A projector is the only new part between a frozen image tower and a
// language model (LLaVA, Liu et al. 2023); the course study compared these five.
//
// Legend: B batch, N vision tokens, Dv vision width, D language-model width, r rank.
// Every projector maps x (B, N, Dv) → (B, N, D), token by token:
//   linear   W x + b                                  LLaVA-1's projector; names weight, bias
//   lowrank  U (V x) + b, V: Dv → r (no bias), U: r → D    names down, up
//   mlp      W₂ GELU(W₁ x + b₁) + b₂, hidden D          LLaVA-1.5's mlp2x_gelu; names 0, 2 (as its
//                                                       nn.Sequential, so its state dicts map)
//   gated    σ(W_g x + b_g) ⊙ (W_p x + b_p)              names gate, proj
//   lora     W₀ x + b₀ + B (A x), W₀, b₀ frozen          names base, lora_A, lora_B (PEFT's); B
//            A: Dv → r, B: r → D, B starts at 0        starts at zero, so the projector starts as
//                                                       its frozen base; scale α/r = 1
// Parameter counts (trainable first) are what `sieve experiment projectors` reports; lora's base
// is a parameter that does not require a gradient, so optimizers leave it alone and it still
// travels in checkpoints.
//
// What it is not: the vision tower or the language model (models/vlm.h). Extend: a new projector
// is a name in kProjectorNames, a class here and a case in make_projector.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "nn/layers.h"

namespace sieve::models {

// The projector names in the study's order; --projector takes one of them.
inline const std::vector<std::string> kProjectorNames = {"linear", "lowrank", "mlp", "gated", "lora"};

struct ProjectorConfig {
  std::string kind = "mlp";
  int64_t in_dim = 64, out_dim = 64;
  int64_t rank = 8;  // lowrank and lora
};

// Builds the projector `config.kind` names; an unknown name or a bad size is an error naming
// `flag` and the names there are.
std::shared_ptr<nn::Module> make_projector(const ProjectorConfig& config, Generator* gen = nullptr,
                                           const std::string& flag = "--projector");

// Elements of the parameters that train (require a gradient); Module::num_parameters counts all.
int64_t trainable_parameters(const nn::Module& module);

class LowRankProjector : public nn::Module {
 public:
  LowRankProjector(int64_t in_dim, int64_t out_dim, int64_t rank, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Linear> down, up;
};

class MlpProjector : public nn::Module {
 public:
  MlpProjector(int64_t in_dim, int64_t out_dim, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string constants() const override;
  std::shared_ptr<nn::Linear> fc1, fc2;  // registered as "0" and "2"
};

class GatedProjector : public nn::Module {
 public:
  GatedProjector(int64_t in_dim, int64_t out_dim, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Linear> gate, proj;
};

class LoraProjector : public nn::Module {
 public:
  LoraProjector(int64_t in_dim, int64_t out_dim, int64_t rank, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Linear> base;  // frozen
  Tensor lora_A, lora_B;             // (r, Dv), (D, r)
};

}  // namespace sieve::models
