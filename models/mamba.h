// models/mamba.h — Mamba (Gu & Dao 2023): a stack of selective-SSM blocks for the sequence tasks.
//
//   inputs (B, L) tokens or (B, L, C_in) floats → embed (models/sequence.h) → (B, L, D)
//   → depth × [ x + mixer(norm(x)) ]  (pre-norm residual, RMSNorm)
//   → head (RMSNorm + Linear) → logits (B, L, K) per token, or (B, K) at the last position
//
// The mixer (MambaMixer), with E = expand, C = E·D channels, R = dt_rank, N = d_state, K = d_conv:
//   u (B, L, D) → in_proj (D → 2C, no bias) → x, z (B, L, C) each
//   x → conv1d (causal depthwise, K taps, bias) → SiLU
//   x → x_proj (C → R + 2N, no bias) → δ (B, L, R), B (B, L, N), C (B, L, N)
//   Δ = softplus(dt_proj(δ))  (R → C, bias);   A = −exp(A_log)  (C, N)
//   y = selective_scan(x, Δ, A, B, C, D, z)   (ops/scan.h: the D skip and the SiLU(z) gate fused)
//   → out_proj (C → D, no bias)
// Init as the paper's reference code: A_log[c, n] = log(n + 1) (S4D-real), D = 1,
// dt_proj.weight ~ U(±R^−1/2), dt_proj.bias = softplus⁻¹(dt) with dt = exp(U[log 1e-3, log 1e-1])
// clamped ≥ 1e-4 (so Δ starts in [1e-3, 1e-1]); in_proj, x_proj, out_proj and the conv as the
// PyTorch defaults. A_log and D are registered with no_weight_decay (Module's flag, which
// nn::weight_decay_groups reads): A_log is a matrix, so the biases-and-norms rule alone would decay it.
//
// Norm: RMSNorm (eps 1e-5) in the blocks and the head, as the reference MixerModel (rms_norm=True):
// it is what the paper trained, and it is one reduction cheaper than LayerNorm per position.
//
// Names as mamba_ssm's MixerModel under `backbone.` (embeddings/norm_f/lm_head excepted, which are
// the shared embed./head. of models/sequence.h): layers.0.norm.weight, layers.0.mixer.in_proj.weight,
// layers.0.mixer.conv1d.weight (C, 1, K) and .bias, layers.0.mixer.x_proj.weight,
// layers.0.mixer.dt_proj.weight/.bias, layers.0.mixer.A_log, layers.0.mixer.D,
// layers.0.mixer.out_proj.weight — the same shapes as PyTorch's, so a state dict maps one to one.
//
// State updates (h_t = …, one per (b, t, c, n)) per forward: depth · B · L · C · N; the backward
// recomputes them once more. MambaModel::state_updates(B, L) returns the forward count.
//
// Generation (the VLM's language model in the Mamba slot): decode runs positions with a cache per
// layer (MambaCache: the last K − 1 inputs of the conv and the scan's state h, (B, C, N)), so a new
// position costs the same whatever came before — Mamba's constant-time step. The first call (the
// prompt) runs the fused scan and reads the final state in closed form,
//   h_L = Σ_t exp(A·(S_L − S_t)) ⊙ Δ_t·x_t·B_t,   S_t = Δ_1 + … + Δ_t,
// each later position is one recurrence step; a test checks decode against the whole sequence.
// What it is not: the scan kernel (ops/scan.h). Extend: a variant mixer either derives from SelectiveSSM for the
// x_proj/dt_proj/A_log/D part and keeps these names (a bidirectional one), or composes whole
// MambaMixers of its own channel count (MRSS: a fast and a slow one).
#pragma once

#include <vector>

#include "models/sequence.h"
#include "nn/layers.h"

namespace sieve::models {

struct MambaConfig {
  SequenceIO io;
  int64_t dim = 64, depth = 4, d_state = 16, expand = 2, d_conv = 4;
  int64_t dt_rank = 0;  // 0: ceil(dim / 16)
  int64_t channels() const { return expand * dim; }
  int64_t rank() const { return dt_rank > 0 ? dt_rank : (dim + 15) / 16; }
};

// Causal depthwise Conv1d over channels-last input: x (B, L, C) → (B, L, C).
// weight (C, 1, K) and bias (C), as torch.nn.Conv1d(C, C, K, groups=C, padding=K−1) and its init.
class CausalConv1d : public nn::Module {
 public:
  CausalConv1d(int64_t channels, int64_t kernel, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

// The selective-SSM part of a mixer over C channels: x_proj, dt_proj, A_log, D with the paper's
// init, and the scan. x (B, L, C) → Δ (B, L, C), B, C (B, L, N) → y (B, L, C).
class SelectiveSSM : public nn::Module {
 public:
  SelectiveSSM(int64_t channels, int64_t d_state, int64_t dt_rank, Generator* gen = nullptr);

  struct Selection {
    Tensor delta, Bm, Cm;  // (B, L, C), (B, L, N), (B, L, N)
  };
  Selection select_inputs(const Tensor& x) const;  // x_proj, split, dt_proj, softplus
  Tensor A() const;                                // −exp(A_log): (C, N)
  // selective_scan(x, Δ, A, B, C, D, z); with_skip false leaves D out (a caller adding it itself).
  Tensor scan(const Tensor& x, const Tensor& z, bool with_skip = true) const;

  int64_t channels, d_state, dt_rank;
  std::shared_ptr<nn::Linear> x_proj, dt_proj;
  Tensor A_log, D;  // (C, N), (C); both no_weight_decay

 protected:
  SelectiveSSM(std::string type_name, int64_t channels, int64_t d_state, int64_t dt_rank, Generator* gen);
};

// What a mixer carries from one decoded position to the next (inference only).
struct MambaCache {
  Tensor conv;  // (B, K − 1, C): the conv's inputs at the last K − 1 positions (zeros before the start)
  Tensor ssm;   // (B, C, N): the scan's state h after the last position; undefined before the first call
};

// u (B, L, D) → (B, L, D): the Mamba block without its norm and residual (see the legend above).
// The second constructor sets C directly instead of E·D (MRSS's branches: C_f and C_s channels).
class MambaMixer : public SelectiveSSM {
 public:
  MambaMixer(const MambaConfig& config, Generator* gen = nullptr);
  MambaMixer(const MambaConfig& config, int64_t channels, Generator* gen = nullptr);
  Tensor forward(const Tensor& u) override;
  // Under NoGradGuard: u (B, L, D) continues the sequence `cache` holds (empty: a new one).
  Tensor forward_cached(const Tensor& u, MambaCache& cache);
  std::shared_ptr<nn::Linear> in_proj, out_proj;
  std::shared_ptr<CausalConv1d> conv1d;
};

// x + mixer(norm(x)); `mixer` is any (B, L, D) → (B, L, D) module (MambaMixer, MrssMixer).
class ResidualBlock : public nn::Module {
 public:
  ResidualBlock(int64_t dim, std::shared_ptr<nn::Module> mixer);
  Tensor forward(const Tensor& x) override;
  Tensor forward_cached(const Tensor& x, MambaCache& cache);  // a MambaMixer's only (MRSS has no cache)
  std::shared_ptr<nn::Module> mixer;
  std::shared_ptr<nn::RMSNorm> norm;
};

class MambaModel : public nn::Module {
 public:
  explicit MambaModel(const MambaConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& inputs) override;  // (B, L) or (B, L, C_in) → (B, L, K) or (B, K)
  // x (B, L, D), the stem's output or any other D-vectors → the head's logits.
  Tensor forward_embeddings(const Tensor& x);
  // Under NoGradGuard: x (B, L, D) continuing the sequences in caches (one per layer; resized here
  // when empty) → logits (B, L, K) per token.
  Tensor decode(const Tensor& x, std::vector<MambaCache>& caches);
  virtual int64_t state_updates(int64_t batch, int64_t length) const;  // depth · B · L · C · N

  MambaConfig config;
  std::shared_ptr<SequenceStem> embed;
  std::shared_ptr<nn::ModuleList> layers;  // ResidualBlock with a MambaMixer
  std::shared_ptr<SequenceHead> head;

 protected:
  // For variants (MRSS): the stem and the head, no layers yet; the variant fills `layers`.
  MambaModel(std::string type_name, const MambaConfig& config, Generator* gen);
};

}  // namespace sieve::models
