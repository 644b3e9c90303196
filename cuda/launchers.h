// cuda/launchers.h — the launchers each cuda/<family>.cu defines, grouped by family: plain
// functions on TensorArgs (cuda/tensor_arg.h) that queue kernels on sieve's stream. Their only
// callers are the entry points in cuda/<family>.cpp (and other entry points that reuse one, as
// matmul reuses launch_copy for its bias rows). This header is read by nvcc, so it includes only
// plain headers (no fmt, no Tensor): the elementwise kinds come from ops/elementwise_math.h; the
// other families' enum kinds travel as int.
//
// Extend: a new family adds its section here, defines it in cuda/<family>.cu.
#pragma once

#include "cuda/tensor_arg.h"
#include "ops/elementwise_math.h"
#include "ops/optim_math.h"

namespace sieve::cuda {

// ---- copy (cuda/copy.cu) ----
// dst := src elementwise, converting dtype; src already has dst's shape (strides 0 where expanded).
void launch_copy(const TensorArg& src, const TensorArg& dst);
void launch_fill(const TensorArg& dst, double value);

// ---- elementwise (cuda/elementwise.cu) ----
// a and b carry out's shape with strides stretched for broadcasting.
void launch_binary(BinaryKind kind, const TensorArg& a, const TensorArg& b, const TensorArg& out);
void launch_unary(UnaryKind kind, const TensorArg& x, const TensorArg& out, const UnaryParams& params);
// x, y, g, gx contiguous, same shape.
void launch_unary_backward(UnaryKind kind, const TensorArg& x, const TensorArg& y, const TensorArg& g,
                           const TensorArg& gx, const UnaryParams& params);
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

// ---- attention (cuda/attention.cu, cuda/attention_backward.cu) ----
// q (B, H, Lq, D), k, v (B, H, Lk, D), out, g, dq, dk, dv: any strides; D ≤ kAttentionMaxHeadSize.
// probs, ds: (B, H, Lq, Lk) contiguous; padded: (B, Lk) contiguous, any dtype, nonzero = padded;
// key_bias: (B, Lk) contiguous of q's dtype, added to key j's scores;
// row0: (B, H, Lk) scratch for cls when probs is not kept; cls: (B, Lk). Null data: absent / not
// wanted. ds: scratch between the backward's two kernels, needed when dk is wanted.
constexpr int64_t kAttentionMaxHeadSize = 256;
void launch_attention(const TensorArg& q, const TensorArg& k, const TensorArg& v, const TensorArg& padded,
                      const TensorArg& key_bias, double scale, bool causal, const TensorArg& out, const TensorArg& probs, const TensorArg& row0,
                      const TensorArg& cls);
void launch_attention_backward(const TensorArg& q, const TensorArg& k, const TensorArg& v, const TensorArg& probs,
                               const TensorArg& g, double scale, bool causal, const TensorArg& dq, const TensorArg& dk,
                               const TensorArg& dv, const TensorArg& ds);

// ---- scan (cuda/scan.cu, cuda/scan_backward.cu) ----
// x, delta, z, y, g: (B, L, C); A: (C, N); Bm, Cm: (B, L, N) or grouped (B, L, G, N), channels
// g·C/G … (g+1)·C/G − 1 reading group g's; D: (C); states: (B, K − 1, N, C) with K = ⌈L / chunk⌉; all contiguous, one float dtype; D, z (and dD, dz with them) and states in
// inference have null data. chunk ≤ kScanMaxChunk (the steps a thread holds in registers) and
// N ≤ kScanMaxState. scan_plan says how the sequence is split into segments of whole chunks and
// so which scratch the entry point allocates (ScanScratch).
constexpr int64_t kScanMaxChunk = 16;
constexpr int64_t kScanMaxState = 64;
struct ScanPlan {
  int64_t chunks = 0;                   // K
  int64_t chunks_per_segment = 1;       // m
  int64_t segments = 0;                 // S = ⌈K / m⌉; S > 1 needs seg_state and seg_dsum
  int64_t threads = 32;                 // channels per block
  int64_t channel_blocks = 0;           // blocks per group (of C / G channels); > 1 needs dbc_part
};
ScanPlan scan_plan(int64_t batch, int64_t length, int64_t channels, int64_t groups, int64_t state, int64_t chunk,
                   DType dtype);
struct ScanArgs {
  TensorArg x, delta, A, Bm, Cm, D, z;
  int64_t chunk;
};
struct ScanGradArgs {
  TensorArg dx, ddelta, dA, dBm, dCm, dD, dz;
};
// seg_state (B, S − 1, N, C) and seg_dsum (B, S − 1, C) in x's dtype, when S > 1; dA_part
// (B·S, N, C) and dD_part (B·S, C, with D) in float64; dbc_part (2, channel blocks, B, L, G, N)
// in x's dtype when a group has several channel blocks.
struct ScanScratch {
  TensorArg seg_state, seg_dsum, dA_part, dD_part, dbc_part;
};
void launch_selective_scan_forward(const ScanPlan& plan, const ScanArgs& in, const TensorArg& y,
                                   const TensorArg& states, const TensorArg& seg_state, const TensorArg& seg_dsum);
void launch_selective_scan_backward(const ScanPlan& plan, const ScanArgs& in, const TensorArg& states,
                                    const TensorArg& g, const ScanGradArgs& out, const ScanScratch& scratch);

// ---- index (cuda/index.cu) ----
// first_bad (one int64) := the row-major position of the first element of index (any layout)
// outside [0, size), or −1. The other launchers take indices already checked by it.
void launch_find_bad_index(const TensorArg& index, int64_t size, const TensorArg& first_bad);
// weight (V, C) any strides, ids (N) any stride → out (N, C) contiguous.
void launch_embedding(const TensorArg& weight, const TensorArg& ids, const TensorArg& out);
// grad_weight (V, C) contiguous zeros += g (N, C, any strides) rows at ids; deterministic.
void launch_embedding_backward(const TensorArg& g, const TensorArg& ids, const TensorArg& grad_weight);
// out[p] = x[p with p[dim] := index[p]]; any strides (index may be a broadcast view).
void launch_gather(const TensorArg& x, int dim, const TensorArg& index, const TensorArg& out);
// out[p with p[dim] := index[p]] += src[p] in place; deterministic, the CPU's summation order.
void launch_scatter_add(const TensorArg& out, int dim, const TensorArg& index, const TensorArg& src);
// The first `count` of each row along dim in stable order (descending or not): their values
// (null data: not wanted, as argsort) and positions along dim (int64). Any strides.
void launch_sort_rows(const TensorArg& x, int dim, int64_t count, bool descending, const TensorArg& values,
                      const TensorArg& indices);

// ---- dropout (cuda/dropout.cu) ----
// out (contiguous) := x (any strides) · keep / (1 − p), scale = 1 / (1 − p); keep as in ops/cpu/dropout.h.
void launch_dropout(const TensorArg& x, const TensorArg& out, double p, double scale, uint64_t seed,
                    uint64_t first);

// ---- conv (cuda/conv.cu) ----
// x, g: (B, L, C) with channel stride 1; weight (C, K) and bias (C) any strides (bias null data:
// none); y, gx, gw, gb contiguous, gx/gw/gb null data when not wanted. scratch:
// conv1d_param_chunks(B·L) × (K + 1) × C doubles when gw or gb is wanted.
int64_t conv1d_param_chunks(int64_t rows);
void launch_conv1d(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, const TensorArg& y);
void launch_conv1d_backward(const TensorArg& g, const TensorArg& x, const TensorArg& weight, const TensorArg& gx,
                            const TensorArg& gw, const TensorArg& gb, const TensorArg& scratch);
// x, g, y, gx: (B, H, W, C) contiguous; weight (C, k, k) and bias (C) any strides; gw, gb contiguous.
// scratch: conv1d_param_chunks(B·H·W) × (k² + 1) × C doubles when gw or gb is wanted.
void launch_conv2d_depthwise(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, const TensorArg& y);
void launch_conv2d_depthwise_backward(const TensorArg& g, const TensorArg& x, const TensorArg& weight,
                                      const TensorArg& gx, const TensorArg& gw, const TensorArg& gb,
                                      const TensorArg& scratch);
// x (B, C, H, W) any strides → out (B, (H/p)·(W/p), C·p·p) contiguous, and back (g any strides).
void launch_unfold_patches(const TensorArg& x, int64_t p, const TensorArg& out);
void launch_fold_patches(const TensorArg& g, int64_t p, const TensorArg& gx);

// ---- optim (cuda/optim.cu) ----
// One parameter tensor's update; its scalars are computed on the host in double (cuda/optim.cpp,
// with ops/optim_math.h's adam_scalars / sgd_scalars, as the CPU does).
void launch_adamw(const TensorArg& w, const TensorArg& g, const TensorArg& m, const TensorArg& v,
                  const AdamScalars& scalars);
// buf: the momentum buffer, null data without momentum.
void launch_sgd(const TensorArg& w, const TensorArg& g, const TensorArg& buf, const SgdScalars& scalars);

}  // namespace sieve::cuda
