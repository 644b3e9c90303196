// cuda/kernels.h — every kernel SIEVE_DISPATCH (ops/dispatch.h) can call on a CUDA tensor: each
// family's kernel list (ops/cpu/<family>.h, the one place a kernel's signature is written; see
// ops/kernel_list.h) declared in sieve::cuda, so the front ends call both backends alike.
//
// A family without CUDA kernels declares its list with SIEVE_CUDA_MISSING_KERNEL instead: each
// kernel is then a declaration only (never defined), a variadic template whose return type is
// Missing. SIEVE_DISPATCH sees that type at compile time and throws the usual
// "<op>: no cuda:0 kernel" error instead of calling it, so a family without CUDA kernels costs
// nothing. (Today every family has its kernels.)
//
// Extend (a family gains CUDA kernels):
//   1. write cuda/<family>.cu (kernels, then launchers on TensorArgs; declare the launchers in
//      cuda/launchers.h) and cuda/<family>.cpp (the entry points: checks, Tensor → TensorArg with
//      cuda/entry.h, dtype choice), and list both in cuda/meson.build;
//   2. here, its line becomes SIEVE_<FAMILY>_KERNELS(SIEVE_DECLARE_KERNEL);
//   3. its op tests in tests/ops/ then run on CUDA too; add its `parity:` case to
//      tests/ops/test_<family>.cpp (tests/README.md).
#pragma once

#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "ops/cpu/attention.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/copy.h"
#include "ops/cpu/dropout.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/index.h"
#include "ops/cpu/loss.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/norm.h"
#include "ops/cpu/optim.h"
#include "ops/cpu/reduce.h"
#include "ops/cpu/scan.h"
#include "ops/cpu/softmax.h"

namespace sieve::cuda {

struct Missing {};

template <typename T>
inline constexpr bool is_missing = std::is_same_v<T, Missing>;

#define SIEVE_CUDA_MISSING_KERNEL(name, params) \
  template <typename... Args>                   \
  Missing name(Args&&...);

// ---- copy (cuda/copy.cu, cuda/copy.cpp) ----
SIEVE_COPY_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- elementwise (cuda/elementwise.cu, cuda/elementwise.cpp) ----
SIEVE_ELEMENTWISE_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- matmul (cuda/matmul.cpp: cuBLAS, no kernel of its own) ----
SIEVE_MATMUL_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- reduce (cuda/reduce.cu, cuda/reduce.cpp) ----
SIEVE_REDUCE_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- softmax (cuda/softmax.cu, cuda/softmax.cpp) ----
SIEVE_SOFTMAX_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- loss (cuda/loss.cu, cuda/loss.cpp) ----
SIEVE_LOSS_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- norm (cuda/norm.cu, cuda/norm.cpp) ----
SIEVE_NORM_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- attention (cuda/attention.cu, cuda/attention_backward.cu, cuda/attention.cpp) ----
SIEVE_ATTENTION_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- scan (cuda/scan.cu, cuda/scan_backward.cu, cuda/scan.cpp) ----
SIEVE_SCAN_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- index (cuda/index.cu, cuda/index.cpp) ----
SIEVE_INDEX_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- dropout (cuda/dropout.cu, cuda/dropout.cpp) ----
SIEVE_DROPOUT_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- conv (cuda/conv.cu, cuda/conv.cpp) ----
SIEVE_CONV_KERNELS(SIEVE_DECLARE_KERNEL)
// ---- optim (cuda/optim.cu, cuda/optim.cpp) ----
SIEVE_OPTIM_KERNELS(SIEVE_DECLARE_KERNEL)

#undef SIEVE_CUDA_MISSING_KERNEL

}  // namespace sieve::cuda
