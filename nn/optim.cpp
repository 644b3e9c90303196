// nn/optim.cpp — optimizer bookkeeping: groups, lazily allocated state, one fused update per step.
//
// step() runs under NoGradGuard: the update is not part of any graph, and the in-place ops refuse
// to write a parameter that requires grad while recording. State tensors are allocated with
// zeros on a parameter's first step, in its dtype and on its device.
//
// Extend: a new optimizer keeps its state in a vector indexed like params_flat() and calls its
// fused op from ops/optim.h once per step.
#include "nn/optim.h"

#include <cmath>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/profile.h"
#include "ops/reduce.h"

namespace sieve::nn {

std::vector<ParamGroup> weight_decay_groups(const Module& module, double weight_decay) {
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  no_decay.weight_decay = 0.0;
  for (const auto& p : module.named_parameters()) (p.no_weight_decay ? no_decay : decay).params.push_back(p.tensor);
  return {decay, no_decay};
}

// ---- Optimizer ----

Optimizer::Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_wd, const char* name)
    : groups_(std::move(groups)), name_(name) {
  SIEVE_CHECK(default_lr >= 0, "{}: lr must be ≥ 0, got {}", name_, default_lr);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    if (std::isnan(g.lr)) g.lr = default_lr;
    if (std::isnan(g.weight_decay)) g.weight_decay = default_wd;
    for (size_t i = 0; i < g.params.size(); ++i) {
      const Tensor& p = g.params[i];
      SIEVE_CHECK(p.defined() && p.is_leaf(), "{}: group {} entry {} is not a defined leaf tensor", name_, gi, i);
    }
  }
  // A parameter in two groups would be updated twice per step. (A hash map, not a pairwise
  // check: that took minutes for a 20,000-block model.)
  std::unordered_map<const TensorImpl*, size_t> first_seen;
  const std::vector<Tensor> all = params_flat();
  for (size_t j = 0; j < all.size(); ++j) {
    const auto [it, fresh] = first_seen.emplace(all[j].impl(), j);
    SIEVE_CHECK(fresh, "{}: parameter {} appears again as parameter {}", name_, it->second, j);
  }
}

std::vector<Tensor> Optimizer::params_flat() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Optimizer::zero_grad() {
  for (const auto& g : groups_)
    for (const auto& p : g.params) Tensor(p).zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.lr = lr;
}

std::pair<size_t, std::string> Optimizer::parse_state_key(const std::string& key) const {
  const std::string prefix = "state.";
  const size_t dot = key.find('.', prefix.size());
  SIEVE_CHECK(key.rfind(prefix, 0) == 0 && dot != std::string::npos,
              "{}: state key '{}' is not of the form state.<index>.<field>", name_, key);
  const std::string digits = key.substr(prefix.size(), dot - prefix.size());
  SIEVE_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
              "{}: state key '{}' has no parameter index", name_, key);
  const size_t index = std::stoull(digits);
  const size_t n = params_flat().size();
  SIEVE_CHECK(index < n, "{}: state key '{}' names parameter {} but there are {}", name_, key, index, n);
  return {index, key.substr(dot + 1)};
}

namespace {

// Copies `src` into a freshly allocated (or existing) state tensor shaped like `param`.
void load_into(Tensor& dst, const Tensor& param, const Tensor& src, const char* opt, const std::string& key) {
  SIEVE_CHECK(src.defined() && src.shape() == param.shape(), "{}: state '{}' must have the parameter's shape {}, got {}",
              opt, key, param.describe(), src.defined() ? src.describe() : std::string("(undefined)"));
  if (!dst.defined()) dst = zeros(param.shape(), {.dtype = param.dtype(), .device = param.device()});
  copy_(dst, src.to(dst.dtype()).to(dst.device()));
}

Tensor step_tensor(int64_t step) { return scalar(static_cast<double>(step), {.dtype = DType::i64}); }

}  // namespace

// ---- Adam / AdamW ----

Adam::Adam(std::vector<ParamGroup> groups, AdamConfig config) : Adam(std::move(groups), config, false, "Adam") {}

Adam::Adam(std::vector<ParamGroup> groups, AdamConfig config, bool decoupled, const char* name)
    : Optimizer(std::move(groups), config.lr, config.weight_decay, name), config_(config), decoupled_(decoupled) {
  SIEVE_CHECK(config.eps >= 0 && config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
              "{}: need 0 ≤ beta < 1 and eps ≥ 0, got betas ({}, {}) eps {}", name, config.beta1, config.beta2,
              config.eps);
  state_.resize(params_flat().size());
}

void Adam::ensure_state(size_t index, const Tensor& param) {
  State& s = state_[index];
  const Options opts{.dtype = param.dtype(), .device = param.device()};
  if (!s.exp_avg.defined()) s.exp_avg = zeros(param.shape(), opts);
  if (!s.exp_avg_sq.defined()) s.exp_avg_sq = zeros(param.shape(), opts);
}

void Adam::step() {
  NoGradGuard no_grad;
  const profile::PhaseGuard phase(profile::Phase::update);
  std::vector<Tensor> params, grads, m, v;
  std::vector<AdamParamHyper> hyper;
  size_t index = 0;
  for (const auto& g : groups_) {
    for (const auto& p : g.params) {
      const size_t i = index++;
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      ensure_state(i, p);
      State& s = state_[i];
      ++s.step;
      params.push_back(p);
      grads.push_back(grad);
      m.push_back(s.exp_avg);
      v.push_back(s.exp_avg_sq);
      hyper.push_back({.lr = g.lr, .weight_decay = g.weight_decay, .step = s.step});
    }
  }
  adamw_step(params, grads, m, v, hyper,
             {.beta1 = config_.beta1, .beta2 = config_.beta2, .eps = config_.eps, .decoupled_weight_decay = decoupled_});
}

std::map<std::string, Tensor> Adam::state_tensors() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const State& s = state_[i];
    if (s.step == 0) continue;
    const std::string prefix = "state." + std::to_string(i) + ".";
    out[prefix + "step"] = step_tensor(s.step);
    out[prefix + "exp_avg"] = s.exp_avg;
    out[prefix + "exp_avg_sq"] = s.exp_avg_sq;
  }
  return out;
}

void Adam::load_state_tensors(const std::map<std::string, Tensor>& state) {
  NoGradGuard no_grad;
  const std::vector<Tensor> params = params_flat();
  for (const auto& [key, t] : state) {
    const auto [i, field] = parse_state_key(key);
    State& s = state_[i];
    if (field == "step") {
      // ≤ 2^53: a step count beyond exact doubles (10^18) would overflow the bias correction.
      SIEVE_CHECK(t.defined() && t.numel() == 1 && t.item() >= 0 && t.item() <= 9007199254740992.0 &&
                      t.item() == std::floor(t.item()),
                  "{}: '{}' must be one whole number from 0 to 2^53", name_, key);
      s.step = static_cast<int64_t>(t.item());
    } else if (field == "exp_avg") {
      load_into(s.exp_avg, params[i], t, name_, key);
    } else if (field == "exp_avg_sq") {
      load_into(s.exp_avg_sq, params[i], t, name_, key);
    } else {
      fail("{}: unknown state field in '{}' (expected step, exp_avg or exp_avg_sq)", name_, key);
    }
  }
  // A parameter's state is whole or absent: a step without its moments (or moments without a
  // step) would silently restart them.
  for (size_t i = 0; i < state_.size(); ++i) {
    const State& s = state_[i];
    const bool any = s.step > 0 || s.exp_avg.defined() || s.exp_avg_sq.defined();
    SIEVE_CHECK(!any || (s.step > 0 && s.exp_avg.defined() && s.exp_avg_sq.defined()),
                "{}: the state of parameter {} is incomplete (step {}, exp_avg {}, exp_avg_sq {})", name_, i, s.step,
                s.exp_avg.defined() ? "present" : "missing", s.exp_avg_sq.defined() ? "present" : "missing");
  }
}

// ---- SGD ----

SGD::SGD(std::vector<ParamGroup> groups, SgdConfig config)
    : Optimizer(std::move(groups), config.lr, config.weight_decay, "SGD"), config_(config) {
  SIEVE_CHECK(config.momentum >= 0 && (!config.nesterov || (config.momentum > 0 && config.dampening == 0)),
              "SGD: need momentum ≥ 0, and Nesterov needs momentum > 0 and zero dampening (momentum {}, dampening {})",
              config.momentum, config.dampening);
  momentum_.resize(params_flat().size());
}

void SGD::step() {
  NoGradGuard no_grad;
  const profile::PhaseGuard phase(profile::Phase::update);
  const bool use_momentum = config_.momentum != 0.0;
  std::vector<Tensor> params, grads, bufs;
  std::vector<SgdParamHyper> hyper;
  size_t index = 0;
  for (const auto& g : groups_) {
    for (const auto& p : g.params) {
      const size_t i = index++;
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      bool init = false;
      if (use_momentum && !momentum_[i].defined()) {
        momentum_[i] = zeros(p.shape(), {.dtype = p.dtype(), .device = p.device()});
        init = true;
      }
      params.push_back(p);
      grads.push_back(grad);
      if (use_momentum) bufs.push_back(momentum_[i]);
      hyper.push_back({.lr = g.lr, .weight_decay = g.weight_decay, .init_buffer = init});
    }
  }
  sgd_step(params, grads, bufs, hyper,
           {.momentum = config_.momentum, .dampening = config_.dampening, .nesterov = config_.nesterov});
}

std::map<std::string, Tensor> SGD::state_tensors() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < momentum_.size(); ++i)
    if (momentum_[i].defined()) out["state." + std::to_string(i) + ".momentum_buffer"] = momentum_[i];
  return out;
}

void SGD::load_state_tensors(const std::map<std::string, Tensor>& state) {
  NoGradGuard no_grad;
  const std::vector<Tensor> params = params_flat();
  for (const auto& [key, t] : state) {
    const auto [i, field] = parse_state_key(key);
    SIEVE_CHECK(field == "momentum_buffer", "SGD: unknown state field in '{}' (expected momentum_buffer)", key);
    load_into(momentum_[i], params[i], t, "SGD", key);
  }
}

// ---- clipping ----

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  SIEVE_CHECK(max_norm >= 0, "clip_grad_norm: max_norm must be ≥ 0, got {}", max_norm);
  const profile::PhaseGuard phase(profile::Phase::update);  // part of the update, not of any module
  NoGradGuard no_grad;
  double total_sq = 0.0;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) total_sq += sum(g * g).item();
  }
  const double total = std::sqrt(total_sq);
  clip_grads_to(params, total, max_norm);
  return total;
}

void clip_grads_to(const std::vector<Tensor>& params, double total_norm, double max_norm) {
  NoGradGuard no_grad;
  const double coef = max_norm / (total_norm + 1e-6);
  if (coef < 1.0)
    for (const auto& p : params) {
      Tensor g = p.grad();
      if (g.defined()) Tensor(p).set_grad(g * coef);
    }
}

}  // namespace sieve::nn
