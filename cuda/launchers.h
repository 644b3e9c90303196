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

}  // namespace sieve::cuda
