// nn/optim.h — optimizers (SGD, Adam, AdamW) with parameter groups, and gradient clipping.
//
// An optimizer holds parameter groups (each with its own lr and weight decay) and, per parameter,
// its state, allocated on the first step that parameter has a gradient. step() gathers every
// parameter that has a gradient into one list and makes ONE fused update call (ops/optim.h), so a
// step is a single kernel however many parameters the model has. Parameters without a gradient
// are skipped, as in PyTorch.
//
//   model->no_weight_decay_for_biases_and_norms();
//   AdamW opt(weight_decay_groups(*model, 0.05), {.lr = 3e-4});
//   loss.backward(); clip_grad_norm(model->parameters(), 1.0); opt.step(); opt.zero_grad();
//
// State is exposed as named tensors, indexed as PyTorch's optimizer state_dict indexes
// parameters (0, 1, ... across groups in order): "state.3.exp_avg", "state.3.step", ...
// so a checkpoint can save and restore it.
//
// What it is not: the update arithmetic (ops/cpu/optim.cpp), LR schedules (nn/schedule.h).
// Extend: derive from Optimizer, keep per-parameter state in a vector indexed like params_flat(),
// and make step() one fused call.
#pragma once

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"
#include "ops/optim.h"

namespace sieve::nn {

// A group's lr / weight_decay left NaN take the optimizer's defaults.
struct ParamGroup {
  std::vector<Tensor> params;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
};

// Two groups from a module's flags: {parameters to decay (weight_decay), no-decay ones (0)}.
// Call module.no_weight_decay_for_biases_and_norms() first for the usual rule.
std::vector<ParamGroup> weight_decay_groups(const Module& module, double weight_decay);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // drops every parameter's gradient
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void set_lr(double lr);  // every group (what a schedule calls each step)
  std::vector<Tensor> params_flat() const;  // all groups' params in order: state index → param

  // Named state tensors (handles to the live state) and loading them back (copies in; a key that
  // names no parameter or state, or a shape mismatch, is an error naming the key).
  virtual std::map<std::string, Tensor> state_tensors() const = 0;
  virtual void load_state_tensors(const std::map<std::string, Tensor>& state) = 0;

 protected:
  Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_weight_decay, const char* name);
  // Parses "state.<index>.<field>"; checks the index. Returns (index, field).
  std::pair<size_t, std::string> parse_state_key(const std::string& key) const;
  std::vector<ParamGroup> groups_;
  const char* name_;
};

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // AdamW's constructor makes its default 0.01 (PyTorch's)
};

// Adam: L2 weight decay added to the gradient (torch.optim.Adam).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamConfig config = {});
  Adam(std::vector<Tensor> params, AdamConfig config = {}) : Adam({ParamGroup{std::move(params)}}, config) {}
  void step() override;
  std::map<std::string, Tensor> state_tensors() const override;
  void load_state_tensors(const std::map<std::string, Tensor>& state) override;
  int64_t step_count(size_t index) const { return state_.at(index).step; }

 protected:
  Adam(std::vector<ParamGroup> groups, AdamConfig config, bool decoupled, const char* name);

 private:
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq;  // undefined until the parameter's first update
  };
  void ensure_state(size_t index, const Tensor& param);
  AdamConfig config_;
  bool decoupled_;
  std::vector<State> state_;
};

// AdamW: decoupled weight decay, w ← w·(1 − lr·wd) before the Adam update (torch.optim.AdamW).
class AdamW : public Adam {
 public:
  static AdamConfig defaults() { return AdamConfig{.weight_decay = 0.01}; }
  AdamW(std::vector<ParamGroup> groups, AdamConfig config = defaults()) : Adam(std::move(groups), config, true, "AdamW") {}
  AdamW(std::vector<Tensor> params, AdamConfig config = defaults())
      : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, config) {}
};

struct SgdConfig {
  double lr = 1e-2;
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SgdConfig config = {});
  SGD(std::vector<Tensor> params, SgdConfig config = {}) : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, config) {}
  void step() override;
  std::map<std::string, Tensor> state_tensors() const override;  // "state.<i>.momentum_buffer"
  void load_state_tensors(const std::map<std::string, Tensor>& state) override;

 private:
  SgdConfig config_;
  std::vector<Tensor> momentum_;  // undefined until the parameter's first update with momentum
};

// Scales all gradients so their joint L2 norm is at most max_norm (PyTorch's
// clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only when below 1).
// Returns the total norm before clipping. Parameters without a gradient are ignored.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// Its second half: scales the gradients of params as clip_grad_norm would for a total norm already
// known (ZeRO-1 sums the ranks' squared norms itself: dist/data_parallel.cpp).
void clip_grads_to(const std::vector<Tensor>& params, double total_norm, double max_norm);

}  // namespace sieve::nn
