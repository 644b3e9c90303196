// cuda/copy.cpp — the copy family's CUDA entry points (cuda/kernels.h), called by SIEVE_DISPATCH
// from ops/copy.cpp: Tensors become TensorArgs, the kernels are in cuda/copy.cu.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"

namespace sieve::cuda {

void copy(const Tensor& src, const Tensor& dst) {
  launch_copy(tensor_arg_as(src, dst.shape(), "copy"), tensor_arg(dst, "copy"));
}

void fill(const Tensor& dst, double value) { launch_fill(tensor_arg(dst, "fill"), value); }

}  // namespace sieve::cuda
