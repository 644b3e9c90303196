// ops/optim.h — fused parameter updates: one kernel call updates every parameter of a step.
//
// These are ops without autograd: they write parameters and optimizer state in place and record
// nothing. Each takes parallel lists (entry i: one parameter, its gradient, its state and its
// hyper-parameters), so an optimizer step over all groups is one kernel call (on CUDA, one fused
// launch per tensor) instead of a dozen small ops per parameter.
// Shapes: param[i], grad[i] and each state tensor [i] share one shape and dtype (float32/64);
// params and state must be contiguous (they are allocated so); a non-contiguous grad is copied.
//
// Formulas are PyTorch 1.13's single-tensor torch.optim (w: param, g: grad, t: step ≥ 1):
//   adamw_step, decoupled (AdamW):  w ← w·(1 − lr·wd)                 then the Adam update
//   adamw_step, not decoupled (Adam): g ← g + wd·w                    then the Adam update
//   Adam update: m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//                w ← w − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)
//   sgd_step: g ← g + wd·w;  with momentum μ: b ← g on the first step (init), else
//             b ← μ·b + (1−dampening)·g;  g ← g + μ·b (Nesterov) or b;   w ← w − lr·g
//
// What it is not: the optimizers' bookkeeping (state allocation, groups, schedules: nn/optim.h).
// Extend: another optimizer adds its X(name) to ops/op_list.h, its formula to ops/optim_math.h and a
// fused kernel per backend (ops/cpu/optim.cpp, cuda/optim.cu).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/optim_math.h"  // AdamParamHyper, AdamOptions, SgdParamHyper, SgdOptions

namespace sieve {

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& options);

// momentum_buf may be empty when options.momentum == 0.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& options);

}  // namespace sieve
