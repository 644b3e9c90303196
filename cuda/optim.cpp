// cuda/optim.cpp — the optimizer family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/optim.cpp once its list checks have passed; the kernels are in
// cuda/optim.cu. Here each tensor's scalars are computed in double with the CPU's own function
// (ops/optim_math.h), then one kernel per tensor is queued.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"

namespace sieve::cuda {

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& o) {
  for (size_t i = 0; i < params.size(); ++i) {
    launch_adamw(tensor_arg(params[i], "adamw_step"), tensor_arg(grads[i], "adamw_step"),
                 tensor_arg(exp_avg[i], "adamw_step"), tensor_arg(exp_avg_sq[i], "adamw_step"), adam_scalars(hyper[i], o));
  }
}

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& o) {
  const bool use_momentum = o.momentum != 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    launch_sgd(tensor_arg(params[i], "sgd_step"), tensor_arg(grads[i], "sgd_step"),
               use_momentum ? tensor_arg(momentum_buf[i], "sgd_step") : TensorArg{},
               sgd_scalars(hyper[i], o));
  }
}

}  // namespace sieve::cuda
