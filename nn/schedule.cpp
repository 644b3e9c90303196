// nn/schedule.cpp — the schedules' formulas (see nn/schedule.h).
// Extend: a new schedule's lr(step) goes here, a pure function of the step.
#include "nn/schedule.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace sieve::nn {

WarmupCosine::WarmupCosine(double base, int64_t warmup, int64_t total, double min)
    : base_lr(base), min_lr(min), warmup_steps(warmup), total_steps(total) {
  SIEVE_CHECK(warmup >= 0 && total > warmup && base >= min && min >= 0,
              "WarmupCosine: need 0 ≤ warmup_steps < total_steps and base_lr ≥ min_lr ≥ 0, got warmup {} total {} "
              "base {} min {}", warmup, total, base, min);
}

double WarmupCosine::lr(int64_t step) const {
  SIEVE_CHECK(step >= 0, "WarmupCosine: step must be ≥ 0, got {}", step);
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (step >= total_steps) return min_lr;
  const double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

StepLR::StepLR(double base, int64_t size, double g) : base_lr(base), gamma(g), step_size(size) {
  SIEVE_CHECK(size > 0, "StepLR: step_size must be positive, got {}", size);
}

double StepLR::lr(int64_t step) const {
  SIEVE_CHECK(step >= 0, "StepLR: step must be ≥ 0, got {}", step);
  return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
}

}  // namespace sieve::nn
