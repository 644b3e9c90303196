// autograd/grad_mode.h — switching graph recording off (inference, optimizer steps, backward).
//
//   { NoGradGuard no_grad; auto logits = model.forward(x); }   // records nothing
//
// The flag is thread-local, as in PyTorch, so a data-loading thread never changes it for training.
// Extend: nothing to extend.
#pragma once

namespace sieve {

bool grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace sieve
