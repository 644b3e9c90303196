// ops/scan.h — the selective scan of Mamba (Gu & Dao 2023), one fused op with its own backward.
//
// Shapes (channels last, so the Linear layers around it need no transposes):
//   B batch, L sequence length, C = E·D channels (the expanded width), N state size.
//   x, delta: (B, L, C)    delta > 0 (the caller applies softplus)
//   A:        (C, N)       A < 0 (the caller computes −exp(A_log))
//   Bm, Cm:   (B, L, N)    the input-dependent B and C, shared by all channels; or
//             (B, L, G, N) G groups: channels g·C/G … (g+1)·C/G − 1 read group g's (G divides C).
//             VMamba's SS2D scans its K routes in one call this way: K·C channels, G = K.
//   D:        (C) or undefined (no skip term)
//   z:        (B, L, C) or undefined (no gate)
//   → y:      (B, L, C)
//
// Per batch b and channel c, with a state h of N values starting at 0 (B_t, C_t: its group's):
//   h_t = exp(Δ_t·A[c]) ⊙ h_{t−1} + Δ_t·x_t·B_t        (Δ_t = delta[b,t,c], x_t = x[b,t,c])
//   y_t = ⟨C_t, h_t⟩ + D[c]·x_t
//   y_t ← y_t · silu(z[b,t,c])                          when z is given
//
// The forward keeps nothing of size (B, L, C, N): backward recomputes the states chunk by chunk
// from states saved only at chunk boundaries, as the Mamba paper's hardware-aware scan does.
//
// What it is not: the Mamba block (models/mamba), which computes delta, A, B, C and D from its
// input. Extend: a variant (a bias and softplus on delta fused in, a reverse direction for
// bidirectional models) adds a flag here and its case in ops/cpu/scan.cpp.
#pragma once

#include "core/tensor.h"

namespace sieve {

Tensor selective_scan(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                      const Tensor& D = {}, const Tensor& z = {});

}  // namespace sieve
