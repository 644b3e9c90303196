// cuda/norm.cpp — the norm family's CUDA entry points (cuda/kernels.h), called by SIEVE_DISPATCH
// from ops/norm.cpp with contiguous tensors; the kernels are in cuda/norm.cu. As on the CPU, an
// undefined mean means rms_norm, an undefined weight/bias no affine part, an undefined
// dweight/dbias "not wanted". Here the double scratch of the dweight/dbias partials is made.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

void norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                  const Tensor& mean, const Tensor& rstd) {
  const char* op = mean.defined() ? "layer_norm" : "rms_norm";
  check_floating(mean.defined() ? Op::layer_norm : Op::rms_norm, x);
  SIEVE_CHECK(x.is_contiguous() && y.is_contiguous(), "{}: expected contiguous tensors, got {} and {}", op,
              x.describe(), y.describe());
  const int64_t c = x.ndim() > 0 ? x.shape().back() : 1;
  const int64_t rows = c > 0 ? x.numel() / c : 0;
  launch_norm_forward(tensor_arg(x, op), optional_tensor_arg(weight, op), optional_tensor_arg(bias, op), eps,
                      tensor_arg(y, op), optional_tensor_arg(mean, op), tensor_arg(rstd, op), rows, c);
}

void norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, const Tensor& g,
                   const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  const char* op = mean.defined() ? "layer_norm" : "rms_norm";
  SIEVE_CHECK(x.is_contiguous() && g.is_contiguous() && dx.is_contiguous(),
              "{}: backward expects contiguous tensors, got {}, {} and {}", op, x.describe(), g.describe(),
              dx.describe());
  const int64_t c = x.ndim() > 0 ? x.shape().back() : 1;
  const int64_t rows = c > 0 ? x.numel() / c : 0;
  const bool params = dweight.defined() || dbias.defined();
  const Tensor scratch =
      params ? empty({norm_param_chunks(rows), 2, c}, {.dtype = DType::f64, .device = x.device()}) : Tensor();
  launch_norm_backward(tensor_arg(x, op), optional_tensor_arg(weight, op), optional_tensor_arg(mean, op),
                       tensor_arg(rstd, op), tensor_arg(g, op), tensor_arg(dx, op), optional_tensor_arg(dweight, op),
                       optional_tensor_arg(dbias, op), optional_tensor_arg(scratch, op), rows, c);
}

}  // namespace sieve::cuda
