// ops/cpu/optim.h — CPU kernels of the fused optimizer updates (ops/optim.cpp).
//
// The front end has checked the lists (same lengths, shapes, dtypes, contiguity); the kernels
// split every tensor into chunks and run all chunks of all tensors in one OpenMP loop.
// What it is not: optimizer bookkeeping (nn/optim.cpp).
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ops/kernel_list.h"
#include "ops/optim.h"

// The family's kernels, for every backend (ops/kernel_list.h): one fused update of every tensor
// of a parameter group (the formulas: ops/optim.h).
#define SIEVE_OPTIM_KERNELS(X)                                                                    \
  X(adamw_step, (const std::vector<Tensor>& params, const std::vector<Tensor>& grads,              \
                 const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,        \
                 const std::vector<AdamParamHyper>& hyper, const AdamOptions& options))            \
  X(sgd_step, (const std::vector<Tensor>& params, const std::vector<Tensor>& grads,                \
               const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,   \
               const SgdOptions& options))

namespace sieve::cpu {

SIEVE_OPTIM_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
