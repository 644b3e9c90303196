// ops/optim.cpp — front ends of the fused optimizer updates: list checks, then one dispatch.
//
// No autograd: these write parameters in place, which is only allowed with grad mode off (the
// optimizers wrap their step in NoGradGuard), since a parameter that requires grad may be saved
// in a live graph. Errors name the op and the offending list entry.
//
// Extend: a new update op checks its lists with check_lists and dispatches once.
#include "ops/optim.h"

#include "autograd/grad_mode.h"
#include "ops/cpu/optim.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

// Every list has params.size() entries; entry i of each matches params[i] in shape, dtype and
// device; params and state are contiguous. Returns the grads made contiguous where needed.
std::vector<Tensor> check_lists(Op op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                std::initializer_list<const std::vector<Tensor>*> state, size_t n_hyper) {
  SIEVE_CHECK(!grad_enabled(), "{}: updates parameters in place; call it under NoGradGuard", op_name(op));
  const size_t n = params.size();
  SIEVE_CHECK(grads.size() == n && n_hyper == n, "{}: {} params but {} grads and {} hyper-parameter entries",
              op_name(op), n, grads.size(), n_hyper);
  for (const auto* list : state)
    SIEVE_CHECK(list->size() == n, "{}: {} params but a state list of {}", op_name(op), n, list->size());
  std::vector<Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    SIEVE_CHECK(p.defined() && grads[i].defined(), "{}: entry {}: undefined param or grad", op_name(op), i);
    check_floating(op, p);
    SIEVE_CHECK(p.is_contiguous(), "{}: entry {}: param {} must be contiguous", op_name(op), i, p.describe());
    SIEVE_CHECK(p.dtype() == params[0].dtype() && p.device() == params[0].device(),
                "{}: entry {}: param {} differs in dtype or device from entry 0 ({})", op_name(op), i,
                p.describe(), params[0].describe());
    auto same = [&](const Tensor& t, const char* what) {
      SIEVE_CHECK(t.defined() && t.shape() == p.shape() && t.dtype() == p.dtype() && t.device() == p.device(),
                  "{}: entry {}: {} {} does not match param {}", op_name(op), i, what,
                  t.defined() ? t.describe() : std::string("(undefined)"), p.describe());
    };
    same(grads[i], "grad");
    for (const auto* list : state) {
      same((*list)[i], "state");
      SIEVE_CHECK((*list)[i].is_contiguous(), "{}: entry {}: state {} must be contiguous", op_name(op), i,
                  (*list)[i].describe());
    }
    out.push_back(grads[i].contiguous());
  }
  return out;
}

int64_t total_numel(const std::vector<Tensor>& tensors) {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  return n;
}

}  // namespace

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& options) {
  const std::vector<Tensor> g = check_lists(Op::adamw_step, params, grads, {&exp_avg, &exp_avg_sq}, hyper.size());
  for (size_t i = 0; i < hyper.size(); ++i)
    SIEVE_CHECK(hyper[i].step >= 1, "adamw_step: entry {}: step must be ≥ 1, got {}", i, hyper[i].step);
  SIEVE_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
              "adamw_step: betas must be in [0, 1), got ({}, {})", options.beta1, options.beta2);
  if (params.empty()) return;
  // FLOPs per element: both moments 3 + 4, bias corrections 2, sqrt + eps + divide 3, decay 2, step 1.
  SIEVE_DISPATCH(Op::adamw_step, params[0].device(), /*flops=*/15 * total_numel(params), adamw_step, params, g,
                 exp_avg, exp_avg_sq, hyper, options);
}

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& options) {
  SIEVE_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
              "sgd_step: Nesterov needs momentum > 0 and zero dampening (momentum {}, dampening {})",
              options.momentum, options.dampening);
  std::vector<Tensor> g;
  if (options.momentum != 0.0)
    g = check_lists(Op::sgd_step, params, grads, {&momentum_buf}, hyper.size());
  else
    g = check_lists(Op::sgd_step, params, grads, {}, hyper.size());
  if (params.empty()) return;
  // FLOPs per element: decay 2, momentum 3, step 2.
  SIEVE_DISPATCH(Op::sgd_step, params[0].device(), /*flops=*/7 * total_numel(params), sgd_step, params, g,
                 momentum_buf, hyper, options);
}

}  // namespace sieve
