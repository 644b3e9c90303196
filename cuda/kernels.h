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
#include "ops/optim.h"

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

// ---- reduce (cuda/reduce.cu, cuda/reduce.cpp) ----
void reduce(cpu::ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, const Tensor& out,
            double scale);
void var(const Tensor& x, const std::vector<bool>& reduce, int64_t correction, const Tensor& out);
void argmax(const Tensor& x, int dim, const Tensor& out);
void equal_mask(const Tensor& x, const Tensor& value, const Tensor& out);
void cumsum(const Tensor& x, int dim, bool reverse, const Tensor& out);

// ---- softmax (cuda/softmax.cu, cuda/softmax.cpp) ----
void softmax(const Tensor& x, int dim, bool log, const Tensor& out);
void softmax_backward(const Tensor& y, const Tensor& g, int dim, bool log, const Tensor& dx);

// ---- loss (cuda/loss.cu, cuda/loss.cpp) ----
void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double smoothing, bool reduce,
                   double divisor, const Tensor& out, const Tensor& lse);
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& g,
                            int64_t ignore_index, double smoothing, double divisor, const Tensor& dlogits);
void mse_loss(const Tensor& a, const Tensor& b, bool reduce, double scale, const Tensor& out);
void mse_loss_backward(const Tensor& a, const Tensor& b, const Tensor& g, double scale, const Tensor& da,
                       const Tensor& db);

// ---- norm (cuda/norm.cu, cuda/norm.cpp) ----
void norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                  const Tensor& mean, const Tensor& rstd);
void norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, const Tensor& g,
                   const Tensor& dx, const Tensor& dweight, const Tensor& dbias);

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

// ---- optim (cuda/optim.cu, cuda/optim.cpp) ----
void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& options);
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& options);

#undef SIEVE_CUDA_MISSING

}  // namespace sieve::cuda
