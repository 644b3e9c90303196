// cuda/launchers.h — the launchers each cuda/<family>.cu defines, grouped by family: plain
// functions on TensorArgs (cuda/tensor_arg.h) that queue kernels on sieve's stream. Their only
// callers are the entry points in cuda/<family>.cpp (and other entry points that reuse one, as
// matmul reuses launch_copy for its bias rows). Enum kinds travel as int so this header needs
// no ops/ header (ops/cpu/<family>.h pulls in fmt, which nvcc cannot parse).
//
// Extend: a new family adds its section here, defines it in cuda/<family>.cu.
#pragma once

#include "cuda/tensor_arg.h"

namespace sieve::cuda {

// ---- copy (cuda/copy.cu) ----
// dst := src elementwise, converting dtype; src already has dst's shape (strides 0 where expanded).
void launch_copy(const TensorArg& src, const TensorArg& dst);
void launch_fill(const TensorArg& dst, double value);

// ---- elementwise (cuda/elementwise.cu); kinds are cpu::BinaryKind / cpu::UnaryKind as int ----
// a and b carry out's shape with strides stretched for broadcasting.
void launch_binary(int kind, const TensorArg& a, const TensorArg& b, const TensorArg& out);
void launch_unary(int kind, const TensorArg& x, const TensorArg& out, double exponent, double beta,
                  double threshold);
// x, y, g, gx contiguous, same shape.
void launch_unary_backward(int kind, const TensorArg& x, const TensorArg& y, const TensorArg& g,
                           const TensorArg& gx, double exponent, double beta, double threshold);
// cond, a, b carry out's shape with stretched strides.
void launch_where(const TensorArg& cond, const TensorArg& a, const TensorArg& b, const TensorArg& out);

// ---- reduce (cuda/reduce.cu); kind is cpu::ReduceKind as int ----
// out (contiguous, keepdim layout: x's shape with reduced dims of size 1) := the reduction of x
// over the dims flagged in `reduced` (ndim flags), times scale for sums.
void launch_reduce(int kind, const TensorArg& x, const bool* reduced, const TensorArg& out, double scale);
// out (keepdim layout) := Σ (x − mean)² / max(count − correction, 0) over the flagged dims.
void launch_var(const TensorArg& x, const bool* reduced, int64_t correction, const TensorArg& out);
// out (int64, keepdim layout) := index of the first maximum of x along dim.
void launch_argmax(const TensorArg& x, int dim, const TensorArg& out);
// out := 1 where x equals value (x's shape, stride 0 along reduced dims; NaN equals NaN), else 0.
void launch_equal_mask(const TensorArg& x, const TensorArg& value, const TensorArg& out);
// out := inclusive cumulative sum of contiguous x along dim (reverse: from the end); out contiguous.
void launch_cumsum(const TensorArg& x, int dim, bool reverse, const TensorArg& out);

// ---- softmax (cuda/softmax.cu) ----
// x, y (or y, g, dx) contiguous, seen as (a, c, b) around the softmax dim: c values b apart.
void launch_softmax(const TensorArg& x, const TensorArg& y, int64_t a, int64_t c, int64_t b, bool log);
void launch_softmax_backward(const TensorArg& y, const TensorArg& g, const TensorArg& dx, int64_t a, int64_t c,
                             int64_t b, bool log);

// ---- loss (cuda/loss.cu) ----
// logits (R, C) and target (R, int64) contiguous. losses (R): the per-row losses (out itself
// when !reduce); reduce: out (0-d) := Σ losses / divisor. scratch: loss_scratch_size() doubles.
int64_t loss_scratch_size();
void launch_cross_entropy(const TensorArg& logits, const TensorArg& target, int64_t ignore_index, double smoothing,
                          bool reduce, double divisor, const TensorArg& losses, const TensorArg& out,
                          const TensorArg& lse, const TensorArg& scratch);
void launch_cross_entropy_backward(const TensorArg& logits, const TensorArg& target, const TensorArg& lse,
                                   const TensorArg& g, int64_t ignore_index, double smoothing, double divisor,
                                   const TensorArg& dlogits);
// a, b contiguous; reduce: out (0-d) := Σ (a − b)² · scale (scratch: loss_scratch_size() doubles).
void launch_mse_loss(const TensorArg& a, const TensorArg& b, bool reduce, double scale, const TensorArg& out,
                     const TensorArg& scratch);
// da, db may have null data (not wanted); g is 0-d or a's shape.
void launch_mse_loss_backward(const TensorArg& a, const TensorArg& b, const TensorArg& g, double scale,
                              const TensorArg& da, const TensorArg& db);

// ---- norm (cuda/norm.cu) ----
// x, y, g, dx: (rows, c) contiguous; mean, rstd: (rows); weight, bias, dweight, dbias: (c). Null
// data: no weight / no bias / rms_norm (mean) / not wanted (dweight, dbias).
// scratch: norm_param_chunks(rows) × 2 × c doubles when dweight or dbias is wanted.
int64_t norm_param_chunks(int64_t rows);
void launch_norm_forward(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, double eps,
                         const TensorArg& y, const TensorArg& mean, const TensorArg& rstd, int64_t rows, int64_t c);
void launch_norm_backward(const TensorArg& x, const TensorArg& weight, const TensorArg& mean, const TensorArg& rstd,
                          const TensorArg& g, const TensorArg& dx, const TensorArg& dweight, const TensorArg& dbias,
                          const TensorArg& scratch, int64_t rows, int64_t c);

// ---- optim (cuda/optim.cu) ----
// One parameter tensor's update; the scalars are computed on the host in double (cuda/optim.cpp).
struct AdamScalars {
  double decay, l2, beta1, beta2, step_size, inv_bc2_sqrt, eps;
};
struct SgdScalars {
  double lr, weight_decay, momentum, dampening;
  bool init_buffer, nesterov;
};
void launch_adamw(const TensorArg& w, const TensorArg& g, const TensorArg& m, const TensorArg& v,
                  const AdamScalars& scalars);
// buf: the momentum buffer, null data without momentum.
void launch_sgd(const TensorArg& w, const TensorArg& g, const TensorArg& buf, const SgdScalars& scalars);

}  // namespace sieve::cuda
