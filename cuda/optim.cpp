// cuda/optim.cpp — the optimizer family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/optim.cpp once its list checks have passed; the kernels are in
// cuda/optim.cu. Here each tensor's scalars are computed in double with the CPU's formulas
// (ops/cpu/optim.cpp), then one kernel per tensor is queued.
//
// Extend: see cuda/kernels.h.
#include <cmath>

#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"

namespace sieve::cuda {

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& o) {
  for (size_t i = 0; i < params.size(); ++i) {
    const AdamParamHyper& h = hyper[i];
    const double t = static_cast<double>(h.step);
    AdamScalars s;
    s.decay = o.decoupled_weight_decay ? 1.0 - h.lr * h.weight_decay : 1.0;
    s.l2 = o.decoupled_weight_decay ? 0.0 : h.weight_decay;
    s.beta1 = o.beta1;
    s.beta2 = o.beta2;
    s.step_size = h.lr / (1.0 - std::pow(o.beta1, t));
    s.inv_bc2_sqrt = 1.0 / std::sqrt(1.0 - std::pow(o.beta2, t));
    s.eps = o.eps;
    launch_adamw(tensor_arg(params[i], "adamw_step"), tensor_arg(grads[i], "adamw_step"),
                 tensor_arg(exp_avg[i], "adamw_step"), tensor_arg(exp_avg_sq[i], "adamw_step"), s);
  }
}

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& o) {
  const bool use_momentum = o.momentum != 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    SgdScalars s;
    s.lr = hyper[i].lr;
    s.weight_decay = hyper[i].weight_decay;
    s.momentum = o.momentum;
    s.dampening = o.dampening;
    s.init_buffer = hyper[i].init_buffer;
    s.nesterov = o.nesterov;
    launch_sgd(tensor_arg(params[i], "sgd_step"), tensor_arg(grads[i], "sgd_step"),
               use_momentum ? tensor_arg(momentum_buf[i], "sgd_step") : TensorArg{}, s);
  }
}

}  // namespace sieve::cuda
