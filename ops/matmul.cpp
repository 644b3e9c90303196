// ops/matmul.cpp — matmul's front end (checks, output, autograd) and its backward.
//
// Shapes (legend: M rows of a, K the contracted dim, N columns of b, ... broadcast batch dims):
//   a: (..., M, K) · b: (..., K, N) [+ bias: (N)] → out: (broadcast(...), M, N)
// Backward, with g: (broadcast(...), M, N):
//   da = g · bᵀ   (..., M, N)·(..., N, K)      then summed over the batch dims a was broadcast along
//   db = aᵀ · g   (..., K, M)·(..., M, N)      likewise for b
//   dbias = Σ g over every dim but the last     (N)
// bᵀ and aᵀ are transposed views, so both products reach BLAS as transpose flags, never copies.
// When b is shared by the whole batch (a Linear on (B, T, C)), db folds the batch into one GEMM:
//   db = a.reshape(B·T, K)ᵀ · g.reshape(B·T, N), instead of B products and a sum.
//
// What it is not: 1-D (vector) products or int64 products; both are rejected with an error.
// Extend: a new variant is an option of this op with its own backward term, as the bias is (the
// kernel adds it while each block of the output is in cache: no second pass, no second node).
#include "ops/matmul.h"

#include <algorithm>

#include "autograd/node.h"
#include "ops/cpu/matmul.h"
#include "ops/dispatch.h"
#include "ops/reduce.h"

namespace sieve {

namespace {

int64_t batch_numel(const Tensor& t) { return numel_of(Shape(t.shape().begin(), t.shape().end() - 2)); }

// A gradient computed at the broadcast batch shape, summed back to the input's shape.
Tensor reduce_to(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : sum_to(g, shape); }

Grads matmul_backward(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& g) {
  Tensor ga, gb, gbias;
  if (a.requires_grad()) ga = reduce_to(matmul(g, b.t()), a.shape());
  if (b.requires_grad()) {
    const int64_t K = b.shape()[b.ndim() - 2], N = b.shape()[b.ndim() - 1];
    const bool b_shared = batch_numel(b) == 1 && batch_numel(a) * a.size(-2) * N == g.numel();
    if (b_shared && g.ndim() > 2 && K > 0) {
      // One (K, B·M)·(B·M, N) GEMM; a.reshape is a view unless a's batch does not collapse.
      gb = matmul(a.reshape({-1, K}).t(), g.reshape({-1, N})).reshape(b.shape());
    } else {
      gb = reduce_to(matmul(a.t(), g), b.shape());
    }
  }
  if (bias.defined() && bias.requires_grad()) gbias = sum_to(g, bias.shape());  // Σ over (broadcast(...), M)
  return {ga, gb, gbias};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, const Tensor& bias) {
  check_defined(Op::matmul, {&a, &b});
  check_same_device(Op::matmul, {&a, &b});
  check_same_dtype(Op::matmul, {&a, &b});
  if (bias.defined()) {
    check_same_device(Op::matmul, {&a, &bias});
    check_same_dtype(Op::matmul, {&a, &bias});
  }
  check_floating(Op::matmul, a);
  check_ndim(Op::matmul, a, 2, kMaxDims, "a");
  check_ndim(Op::matmul, b, 2, kMaxDims, "b");
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  SIEVE_CHECK(b.size(-2) == K, "matmul: shapes {} and {} cannot be multiplied ({} columns of a vs {} rows of b)",
              shape_str(a.shape()), shape_str(b.shape()), K, b.size(-2));
  SIEVE_CHECK(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == N),
              "matmul: bias {} does not match {} · {}: expected {}, one value per output column",
              shape_str(bias.defined() ? bias.shape() : Shape{}), shape_str(a.shape()), shape_str(b.shape()),
              shape_str(Shape{N}));

  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  for (size_t i = 1; i <= std::min(batch_a.size(), batch_b.size()); ++i) {
    const int64_t sa = batch_a[batch_a.size() - i], sb = batch_b[batch_b.size() - i];
    SIEVE_CHECK(sa == sb || sa == 1 || sb == 1, "matmul: batch dims of {} and {} do not broadcast",
                shape_str(a.shape()), shape_str(b.shape()));
  }
  Shape out_shape = broadcast_shapes(batch_a, batch_b, "matmul");
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, {.dtype = a.dtype(), .device = a.device()});
  // A multiply-add per (m, n, k), and one add per output element for the bias.
  SIEVE_DISPATCH(Op::matmul, a.device(), /*flops=*/2 * out.numel() * K + (bias.defined() ? out.numel() : 0), matmul,
                 a, b, bias, out);

  if (autograd::any_requires_grad({a, b, bias}))
    autograd::record(Op::matmul, out, {a, b, bias},
                     [a, b, bias](const Tensor& g) { return matmul_backward(a, b, bias, g); });
  return out;
}

}  // namespace sieve
