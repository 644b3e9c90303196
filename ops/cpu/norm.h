// ops/cpu/norm.h — CPU kernels of layer_norm and rms_norm (ops/norm.cpp), forward and backward.
//
// All tensors are contiguous; x, y, g, dx: (R, C) seen as rows; mean, rstd: (R); weight, bias,
// dweight, dbias: (C). An undefined weight/bias means "no affine part"; an undefined dweight/dbias
// means "not wanted". rms_norm is the same kernel without centring (mean is undefined there).
//
// What it is not: autograd (ops/norm.cpp). Extend: another last-dim normalisation is a flag on
// these kernels.
#pragma once

#include "core/tensor.h"
#include "ops/kernel_list.h"

// The family's kernels, for every backend (ops/kernel_list.h):
//   norm_forward: y := (x − mean)·rstd·w + b per row, saving mean and rstd = 1/sqrt(var + eps);
//     rms (mean undefined): y := x·rstd·w with rstd = 1/sqrt(mean(x²) + eps).
//   norm_backward: dx, dweight (Σ_rows g·x̂) and dbias (Σ_rows g) in one pass over the rows, from
//     the saved stats.
#define SIEVE_NORM_KERNELS(X)                                                                      \
  X(norm_forward, (const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y, \
                   const Tensor& mean, const Tensor& rstd))                                          \
  X(norm_backward, (const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,    \
                    const Tensor& g, const Tensor& dx, const Tensor& dweight, const Tensor& dbias))

namespace sieve::cpu {

SIEVE_NORM_KERNELS(SIEVE_DECLARE_KERNEL)

}  // namespace sieve::cpu
