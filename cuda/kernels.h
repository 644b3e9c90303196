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
#include "ops/cpu/attention.h"
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

// ---- attention (cuda/attention.cu, cuda/attention_backward.cu, cuda/attention.cpp) ----
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const cpu::AttentionMasks& masks, const Tensor& out,
               const Tensor& probs, const Tensor& cls);
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& g,
                        const cpu::AttentionMasks& masks, const Tensor& dq, const Tensor& dk, const Tensor& dv);

// ---- scan (cuda/scan.cu, cuda/scan_backward.cu, cuda/scan.cpp) ----
void selective_scan_forward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                            const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y,
                            const Tensor& states, int64_t chunk);
void selective_scan_backward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                             const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& states,
                             const Tensor& g, int64_t chunk, const Tensor& dx, const Tensor& ddelta,
                             const Tensor& dA, const Tensor& dBm, const Tensor& dCm, const Tensor& dD,
                             const Tensor& dz);

// ---- index (cuda/index.cu, cuda/index.cpp) ----
void embedding(const Tensor& weight, const Tensor& ids, const Tensor& out);
void embedding_backward(const Tensor& g, const Tensor& ids, const Tensor& grad_weight);
void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out);
void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src);
void topk(const Tensor& x, int64_t k, int dim, bool largest, const Tensor& values, const Tensor& indices);
void argsort(const Tensor& x, int dim, bool descending, const Tensor& indices);

// ---- dropout (cuda/dropout.cu, cuda/dropout.cpp) ----
void dropout(const Tensor& x, const Tensor& out, double p, uint64_t seed, uint64_t first);

// ---- conv (cuda/conv.cu, cuda/conv.cpp) ----
void conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y);
void conv1d_causal_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                                      const Tensor& gw, const Tensor& gb);
void unfold_patches(const Tensor& x, int64_t p, const Tensor& out);
void fold_patches(const Tensor& g, int64_t p, const Tensor& gx);

// ---- optim (cuda/optim.cu, cuda/optim.cpp) ----
void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& options);
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& options);

#undef SIEVE_CUDA_MISSING

}  // namespace sieve::cuda
