// cuda/kernels.h — every kernel SIEVE_DISPATCH (ops/dispatch.h) can call on a CUDA tensor,
// grouped by family: the ones written so far with their real signatures (the same as their CPU
// twins in ops/cpu/<family>.h, so the front ends call both alike), the others as "missing".
//
// A missing kernel is a declaration only (never defined): a variadic template whose return type
// is Missing. SIEVE_DISPATCH sees that type at compile time and throws the usual
// "<op>: no cuda:0 kernel" error instead of calling it, so a family without CUDA kernels costs
// nothing and does not have to track its CPU signatures.
//
// Extend (a family gains CUDA kernels):
//   1. write cuda/<family>.cu (kernels, then launchers on TensorArgs; declare the launchers in
//      cuda/launchers.h) and cuda/<family>.cpp (the entry points below: checks, Tensor →
//      TensorArg with cuda/entry.h, dtype choice), and list both in cuda/meson.build;
//   2. here, replace the family's SIEVE_CUDA_MISSING lines with the declarations copied from
//      ops/cpu/<family>.h (and include that header for its types);
//   3. add its cases to the parity tests in tests/cuda/.
#pragma once

#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/reduce.h"

namespace sieve::cuda {

struct Missing {};

template <typename T>
inline constexpr bool is_missing = std::is_same_v<T, Missing>;

#define SIEVE_CUDA_MISSING(kernel) \
  template <typename... Args>      \
  Missing kernel(Args&&...)

// ---- copy (cuda/copy.cu, cuda/copy.cpp) ----
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, double value);

// ---- elementwise (cuda/elementwise.cu, cuda/elementwise.cpp) ----
void binary(cpu::BinaryKind kind, const Tensor& a, const Tensor& b, const Tensor& out);
void unary(cpu::UnaryKind kind, const Tensor& x, const Tensor& out, const cpu::UnaryParams& params);
void unary_backward(cpu::UnaryKind kind, const Tensor& x, const Tensor& y, const Tensor& grad_out,
                    const Tensor& grad_x, const cpu::UnaryParams& params);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

// ---- matmul (cuda/matmul.cpp: cuBLAS, no kernel of its own) ----
void matmul(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out);

// ---- reduce (cuda/reduce.cu, cuda/reduce.cpp): sum/max/min so far ----
void reduce(cpu::ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, const Tensor& out,
            double scale);
SIEVE_CUDA_MISSING(var);
SIEVE_CUDA_MISSING(argmax);
SIEVE_CUDA_MISSING(equal_mask);
SIEVE_CUDA_MISSING(cumsum);

// ---- softmax ----
SIEVE_CUDA_MISSING(softmax);
SIEVE_CUDA_MISSING(softmax_backward);

// ---- loss ----
SIEVE_CUDA_MISSING(cross_entropy);
SIEVE_CUDA_MISSING(cross_entropy_backward);
SIEVE_CUDA_MISSING(mse_loss);
SIEVE_CUDA_MISSING(mse_loss_backward);

// ---- norm ----
SIEVE_CUDA_MISSING(norm_forward);
SIEVE_CUDA_MISSING(norm_backward);

// ---- attention ----
SIEVE_CUDA_MISSING(attention);
SIEVE_CUDA_MISSING(attention_backward);

// ---- scan ----
SIEVE_CUDA_MISSING(selective_scan_forward);
SIEVE_CUDA_MISSING(selective_scan_backward);

// ---- index ----
SIEVE_CUDA_MISSING(embedding);
SIEVE_CUDA_MISSING(embedding_backward);
SIEVE_CUDA_MISSING(gather);
SIEVE_CUDA_MISSING(scatter_add);
SIEVE_CUDA_MISSING(topk);
SIEVE_CUDA_MISSING(argsort);

// ---- dropout ----
SIEVE_CUDA_MISSING(dropout);

// ---- conv ----
SIEVE_CUDA_MISSING(conv1d_causal_depthwise);
SIEVE_CUDA_MISSING(conv1d_causal_depthwise_backward);
SIEVE_CUDA_MISSING(unfold_patches);
SIEVE_CUDA_MISSING(fold_patches);

// ---- optim ----
SIEVE_CUDA_MISSING(adamw_step);
SIEVE_CUDA_MISSING(sgd_step);

#undef SIEVE_CUDA_MISSING

}  // namespace sieve::cuda
