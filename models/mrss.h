// models/mrss.h — MRSS, multi-resolution selective scan: a Mamba mixer at full rate over some
// channels beside a second Mamba mixer over the rest, run on the input mean-pooled by a stride r.
//
// The model is MambaModel's (models/mamba.h: embed → depth × [x + mixer(RMSNorm(x))] → head) with
// MrssMixer in place of MambaMixer. The mixer, with C = E·D channels split into C_f fast and
// C_s = C − C_f slow ones (C_f = round(fast_fraction · C)), W = floor(L / r) whole windows:
//   fast: f  = MambaMixer over C_f channels on u, L steps: its own in_proj (D → 2C_f), causal conv,
//              x_proj/dt_proj/A_log/D, scan with the D skip and SiLU(z) gate, out_proj (C_f → D)   (B, L, D)
//   slow: p  = mean of u over each window of r steps                                              (B, W, D)
//         s  = MambaMixer over C_s channels on p, W steps: everything as the fast one, the conv
//              running over windows (K taps = K·r steps)                                         (B, W, D)
//         s↑ = causal_upsample(s): position t reads the last window that ended at or before t    (B, L, D)
//   out = g ⊙ f + (1 − g) ⊙ s↑,  g = σ(gate_proj(u))  (D → D, bias; per output feature and position)
// The gate lets every output feature choose, per position, between the fine and the coarse summary.
//
// Why the whole slow mixer runs on the pooled input (and not only its scan). An earlier MrssMixer
// kept one in_proj, conv, skip, z gate and out_proj at full rate for all C channels and pooled only
// the slow channels' scan input. On a CPU at D = 64, L = 1024 the scan is about half of a Mamba
// step (the rest is the projections, the conv and elementwise work), so that design saved at most
// share × (1 − updates ratio) ≈ ½ × 37.5% ≈ 19% at the defaults, and its gate cost a D×D product
// more: it could not reach the 30% the study asks for. Pooling u itself moves the slow channels'
// projections, conv, skip and z gate to L / r with their scan. The price: a slow channel no longer
// sees its own step at once (its skip reads the window mean too); the fast branch does.
//
// Cost. Every term of a Mamba mixer's step is proportional to its channel count C at a fixed D
// (in_proj 2·D·2C, conv 2·K·C, x_proj 2·C·(R + 2N), dt_proj 2·R·C, scan C·(6N + 8), out_proj 2·C·D,
// the SiLU/softplus work a few C; ops/README.md's formulas). So, per position, an MRSS mixer costs
//     (C_f + C_s / r) / C  of a Mamba mixer,  plus the gate: 2·D² + D (gate_proj) + ~6·D (σ, mix)
// and O(D) for pooling and upsampling. At D = 64 (C = 128, R = 4, N = 16, K = 4) a Mamba mixer's
// forward is about 74.8k FLOPs per position and the gate 8.6k (11.6% of it):
//     r = 4, fast_fraction 0.5:   (64 + 64/4) / 128 = 0.625,  + 0.116 → 0.74 of Mamba's mixer
//     r = 8, fast_fraction 0.25:  (32 + 96/8) / 128 = 0.344,  + 0.116 → 0.46 of Mamba's mixer
// (the backward scales the same way). The embedding, the blocks' norms and residuals, the head and
// the loss run at full rate in both models, so a training step saves a little less than this.
//
// Causal upsampling. Window w holds steps w·r … (w+1)·r − 1 and ends at e_w = (w+1)·r − 1. The slow
// state after window w has seen windows 0..w, all ending at or before e_w, so position t reads the
// slow output of the last window that ended at or before t:  w(t) = floor((t + 1) / r) − 1,
// zeros while w(t) < 0 (t < r − 1). For r = 4, L = 10 (W = 2):
//     t        0  1  2  3  4  5  6  7  8  9
//     window  [0  0  0  0][1  1  1  1][2  2  …   (window 2 is partial: not pooled)
//     reads    -  -  -  s0 s0 s0 s0 s1 s1 s1      (- = zeros)
// A window ending at t includes t itself, which is allowed (it is what position t has seen).
// Built from existing ops: s.unsqueeze(2).expand(B, W, r, D).reshape(B, W·r, D), then cat with
// r − 1 zero rows in front and narrow to L. A trailing partial window (L not a multiple of r) is
// not pooled at all: its output could only be read by positions inside it, and reading it would
// make position t's output depend on where the sequence ends; so the output at t is the same for
// every L > t (a prefix property the tests check), and W = floor(L / r) steps are all the slow
// mixer costs. Pooling reads each step once and upsampling writes each step once (no O(L·r) term).
//
// State updates per forward (one per (b, step, channel, n)):
//   depth · B · N · (L · C_f + floor(L / r) · C_s)        MrssModel::state_updates(B, L)
// against Mamba's depth · B · N · L · C. The default (fast_fraction 0.5, r = 4) does 62.5% of
// Mamba's; fast_fraction 0.25 with r = 8 does 34%. The backward recomputes each once more.
//
// Names: layers.0.mixer.fast.{in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj},
// layers.0.mixer.slow.{…the same…}, layers.0.mixer.gate_proj, layers.0.norm; embed./head. as
// Mamba. Each branch is a MambaMixer (mamba.h) with the paper's init; their A_log and D are not
// decayed. The parameter count equals Mamba's plus the gate (D² + D per layer): the two in_projs,
// convs and out_projs together are the size of Mamba's one.
//
// What it is not: a new op (pooling and upsampling are views, reshape, mean, expand, cat and
// narrow). Extend: another slow-branch rule (several strides) adds MambaMixers here; keep the
// upsampling rule and its test.
#pragma once

#include "models/mamba.h"

namespace sieve::models {

struct MrssConfig {
  MambaConfig mamba;
  int64_t stride = 4;          // r, window of the slow branch
  double fast_fraction = 0.5;  // share of the C = E·D channels scanned at full rate
  int64_t fast_channels() const;  // round(fast_fraction · C), checked to leave both branches ≥ 1
};

// y (B, W, C) at window rate → (B, L, C) at full rate, position t reading window floor((t+1)/r) − 1
// (zeros before the first window ends); needs W = floor(L / r). Exposed for the tests.
Tensor causal_upsample(const Tensor& y, int64_t stride, int64_t length);
// x (B, L, C) → (B, floor(L / r), C): the mean of each whole window of r steps.
Tensor window_mean(const Tensor& x, int64_t stride);

class MrssMixer : public nn::Module {
 public:
  MrssMixer(const MrssConfig& config, Generator* gen = nullptr);
  Tensor forward(const Tensor& u) override;  // (B, L, D) → (B, L, D)

  int64_t channels, fast_channels, slow_channels, stride;
  std::shared_ptr<MambaMixer> fast, slow;  // C_f channels at L steps; C_s channels at W steps
  std::shared_ptr<nn::Linear> gate_proj;
};

class MrssModel : public MambaModel {
 public:
  explicit MrssModel(const MrssConfig& config, Generator* gen = nullptr);
  int64_t state_updates(int64_t batch, int64_t length) const override;
  MrssConfig mrss;
};

}  // namespace sieve::models
