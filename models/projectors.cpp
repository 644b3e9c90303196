// models/projectors.cpp — linear, low-rank, MLP, gated and LoRA projectors (see projectors.h).
#include "models/projectors.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "nn/init.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"

namespace sieve::models {

LowRankProjector::LowRankProjector(int64_t in_dim, int64_t out_dim, int64_t rank, Generator* gen)
    : Module("LowRankProjector") {
  down = register_module("down", std::make_shared<nn::Linear>(in_dim, rank, /*bias=*/false, gen));
  up = register_module("up", std::make_shared<nn::Linear>(rank, out_dim, /*bias=*/true, gen));
}

Tensor LowRankProjector::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  return up->forward(down->forward(x));
}

MlpProjector::MlpProjector(int64_t in_dim, int64_t out_dim, Generator* gen) : Module("MlpProjector") {
  // LLaVA-1.5's mlp2x_gelu is nn.Sequential(Linear, GELU, Linear): its linears are children 0 and 2.
  fc1 = register_module("0", std::make_shared<nn::Linear>(in_dim, out_dim, true, gen));
  fc2 = register_module("2", std::make_shared<nn::Linear>(out_dim, out_dim, true, gen));
}

std::string MlpProjector::constants() const { return "gelu erf"; }

Tensor MlpProjector::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  return fc2->forward(gelu(fc1->forward(x)));
}

GatedProjector::GatedProjector(int64_t in_dim, int64_t out_dim, Generator* gen) : Module("GatedProjector") {
  gate = register_module("gate", std::make_shared<nn::Linear>(in_dim, out_dim, true, gen));
  proj = register_module("proj", std::make_shared<nn::Linear>(in_dim, out_dim, true, gen));
}

Tensor GatedProjector::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  return sigmoid(gate->forward(x)) * proj->forward(x);
}

LoraProjector::LoraProjector(int64_t in_dim, int64_t out_dim, int64_t rank, Generator* gen)
    : Module("LoraProjector") {
  base = register_module("base", std::make_shared<nn::Linear>(in_dim, out_dim, true, gen));
  base->requires_grad_(false);
  // PEFT's initialisation: A as a Linear's weight (Kaiming-uniform), B zeros, so B·A starts at 0.
  lora_A = register_parameter("lora_A", empty({rank, in_dim}));
  nn::init::kaiming_uniform_(lora_A, std::sqrt(5.0), gen);
  lora_B = register_parameter("lora_B", zeros({out_dim, rank}));
}

Tensor LoraProjector::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  // Two thin products through the rank, never the (D, Dv) matrix B·A: r·(Dv + D) per token.
  return base->forward(x) + matmul(matmul(x, lora_A.t()), lora_B.t());
}

std::shared_ptr<nn::Module> make_projector(const ProjectorConfig& config, Generator* gen, const std::string& flag) {
  const std::string& kind = config.kind;
  SIEVE_CHECK(std::find(kProjectorNames.begin(), kProjectorNames.end(), kind) != kProjectorNames.end(),
              "{}: unknown projector '{}' (known: {})", flag, kind, fmt::join(kProjectorNames, ", "));
  SIEVE_CHECK(config.in_dim > 0 && config.out_dim > 0, "{} {}: sizes must be positive, got {} → {}", flag, kind,
              config.in_dim, config.out_dim);
  const bool ranked = kind == "lowrank" || kind == "lora";
  SIEVE_CHECK(!ranked || (config.rank >= 1 && config.rank <= std::min(config.in_dim, config.out_dim)),
              "{} {}: rank {} must be between 1 and min({}, {})", flag, kind, config.rank, config.in_dim,
              config.out_dim);
  if (kind == "linear") return std::make_shared<nn::Linear>(config.in_dim, config.out_dim, true, gen);
  if (kind == "lowrank") return std::make_shared<LowRankProjector>(config.in_dim, config.out_dim, config.rank, gen);
  if (kind == "mlp") return std::make_shared<MlpProjector>(config.in_dim, config.out_dim, gen);
  if (kind == "gated") return std::make_shared<GatedProjector>(config.in_dim, config.out_dim, gen);
  return std::make_shared<LoraProjector>(config.in_dim, config.out_dim, config.rank, gen);
}

int64_t trainable_parameters(const nn::Module& module) {
  int64_t n = 0;
  for (const Tensor& p : module.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace sieve::models
