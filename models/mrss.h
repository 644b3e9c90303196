// models/mrss.h — MRSS, multi-resolution selective scan: Mamba whose scan is split into a fast
// branch at full rate and a slow branch over the sequence mean-pooled by a stride r.
//
// The model is MambaModel's (models/mamba.h: embed → depth × [x + mixer(RMSNorm(x))] → head) with
// MrssMixer in place of MambaMixer. The mixer, with C = E·D channels split into C_f fast and
// C_s = C − C_f slow ones (C_f = round(fast_fraction · C)), W = floor(L / r) whole windows:
//   u (B, L, D) → in_proj (D → 2C) → x, z;  x → causal conv1d → SiLU      (as Mamba, all C channels)
//   fast: y_f = selective_scan over x[:, :, :C_f] at L steps, with its own x_proj/dt_proj/A_log/D and
//         SiLU(z_f) gate (the Mamba mixer on C_f channels)                              (B, L, C_f)
//   slow: p   = mean of x[:, :, C_f:] over each window of r steps                        (B, W, C_s)
//         s   = selective_scan over p at W steps (its own x_proj/dt_proj/A_log; Δ, B, C chosen
//               from the pooled input), no skip, no gate                                (B, W, C_s)
//         y_s = (upsample(s) + D_s ⊙ x_s) ⊙ SiLU(z_s): the skip and the gate at full rate, so a
//               slow channel still sees its own step at once                            (B, L, C_s)
//   out = g ⊙ out_f(y_f) + (1 − g) ⊙ out_s(y_s),  g = σ(gate_proj(u))   (C_f → D, C_s → D, D → D)
// Without the gate (g = ½) out_f(y_f) + out_s(y_s) is exactly one out_proj over cat(y_f, y_s); the
// gate lets every output feature choose, per position, between the fine and the coarse summary.
//
// Causal upsampling. Window w holds steps w·r … (w+1)·r − 1 and ends at e_w = (w+1)·r − 1. The slow
// state after window w has seen windows 0..w, all ending at or before e_w, so position t reads the
// slow output of the last window that ended at or before t:  w(t) = floor((t + 1) / r) − 1,
// zeros while w(t) < 0 (t < r − 1). For r = 4, L = 10 (W = 2):
//     t        0  1  2  3  4  5  6  7  8  9
//     window  [0  0  0  0][1  1  1  1][2  2  …   (window 2 is partial: not scanned)
//     reads    -  -  -  s0 s0 s0 s0 s1 s1 s1      (- = zeros)
// A window ending at t includes t itself, which is allowed (it is what position t has seen).
// Built from existing ops: s.unsqueeze(2).expand(B, W, r, C_s).reshape(B, W·r, C_s), then cat with
// r − 1 zero rows in front and narrow to L. A trailing partial window (L not a multiple of r) is
// not scanned at all: its output could only be read by positions inside it, and reading it would
// make position t's output depend on where the sequence ends; so the output at t is the same for
// every L > t (a prefix property the tests check), and W = floor(L / r) steps are all the slow
// branch costs. Everything outside the two scans is O(L·C): pooling reads each step once and
// upsampling writes each step once (no O(L·r) term), the skip and the gates are elementwise.
//
// State updates per forward (one per (b, step, channel, n)):
//   depth · B · N · (L · C_f + floor(L / r) · C_s)        MrssModel::state_updates(B, L)
// against Mamba's depth · B · N · L · C. The default (fast_fraction 0.5, r = 4) does 62.5% of
// Mamba's; fast_fraction 0.25 with r = 8 does 34%. The backward recomputes each once more.
// What that buys in time depends on the scan's share of a step (on a CPU at D = 64, L = 1024 it is
// about half of Mamba's step; the projections, conv and gate cost what they cost in Mamba, the gate
// a D×D matmul more): the step saves about (share) × (1 − updates ratio).
//
// Names: layers.0.mixer.{in_proj, conv1d, gate_proj}, layers.0.mixer.fast.{x_proj, dt_proj, A_log,
// D, out_proj}, layers.0.mixer.slow.{…the same…}, layers.0.norm; embed./head. as Mamba. Both
// branches get the paper's init (mamba.h); their A_log and D are not decayed.
//
// What it is not: a new op (pooling and upsampling are views, reshape, mean, expand, cat and
// narrow). Extend: another slow-branch rule (several strides) adds branches here; keep the
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

// One branch: the selective SSM over its channels plus its share of the output projection.
class MrssBranch : public SelectiveSSM {
 public:
  MrssBranch(int64_t channels, int64_t dim, int64_t d_state, int64_t dt_rank, Generator* gen = nullptr);
  std::shared_ptr<nn::Linear> out_proj;  // channels → D, no bias
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
  std::shared_ptr<nn::Linear> in_proj, gate_proj;
  std::shared_ptr<CausalConv1d> conv1d;
  std::shared_ptr<MrssBranch> fast, slow;
};

class MrssModel : public MambaModel {
 public:
  explicit MrssModel(const MrssConfig& config, Generator* gen = nullptr);
  int64_t state_updates(int64_t batch, int64_t length) const override;
  MrssConfig mrss;
};

}  // namespace sieve::models
