// nn/schedule.h — learning-rate schedules: the lr for a given step, applied with opt.set_lr.
//
//   WarmupCosine sched{.base_lr = 3e-4, .warmup_steps = 100, .total_steps = 5000};
//   for (int64_t s = 0; s < 5000; ++s) { opt.set_lr(sched.lr(s)); ...; opt.step(); }
//
// Steps count from 0 (the step about to be taken). A schedule is a pure function of the step, so
// resuming from a checkpoint needs only the step number.
// What it is not: stateful PyTorch-style schedulers (no .step() to call in the right order).
// Extend: derive from LRSchedule and write lr(step).
#pragma once

#include <cstdint>

namespace sieve::nn {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr(int64_t step) const = 0;
};

// Linear warmup to base_lr over warmup_steps (lr = base·(s+1)/warmup, so step 0 already moves),
// then a half cosine from base_lr to min_lr at total_steps; min_lr afterwards.
class WarmupCosine : public LRSchedule {
 public:
  WarmupCosine(double base_lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);
  double lr(int64_t step) const override;
  double base_lr, min_lr;
  int64_t warmup_steps, total_steps;
};

// base_lr · gamma^⌊step / step_size⌋ (torch.optim.lr_scheduler.StepLR).
class StepLR : public LRSchedule {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr(int64_t step) const override;
  double base_lr, gamma;
  int64_t step_size;
};

}  // namespace sieve::nn
