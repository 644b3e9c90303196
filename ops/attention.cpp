// ops/attention.cpp — the fused attention op: checks, output layout, and its backward.
//
// Legend as ops/attention.h: q: (B, H, Lq, D), k, v: (B, H, Lk, D), probs: (B, H, Lq, Lk).
// Forward saves q, k, v (as given: strided views are kept, not copied) and the probabilities;
// backward turns the upstream gradient into dq, dk, dv in one kernel (formulas in
// ops/cpu/attention.cpp). The masks need not be saved: a masked probability is exactly 0, so
// backward sees the mask in probs.
//
// What it is not: the kernels (ops/cpu/attention.cpp) or the multi-head layer (nn/attention.h).
// Extend: a new option is checked here and passed to the kernels in cpu::AttentionMasks.
#include "ops/attention.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>

#include "autograd/node.h"
#include "ops/cpu/attention.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

constexpr Op kOp = Op::attention;

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  check_defined(kOp, {&q, &k, &v});
  check_floating(kOp, q);
  check_same_dtype(kOp, {&q, &k, &v});
  check_same_device(kOp, {&q, &k, &v});
  check_ndim(kOp, q, 4, 4, "q (B, H, Lq, D)");
  check_ndim(kOp, k, 4, 4, "k (B, H, Lk, D)");
  check_ndim(kOp, v, 4, 4, "v (B, H, Lk, D)");
  const Shape& qs = q.shape();
  const Shape& ks = k.shape();
  SIEVE_CHECK(k.shape() == v.shape(), "attention: k {} and v {} must have the same shape (B, H, Lk, D)",
              shape_str(ks), shape_str(v.shape()));
  SIEVE_CHECK(qs[0] == ks[0] && qs[1] == ks[1] && qs[3] == ks[3],
              "attention: q {} and k {} must agree in B, H and D: q (B, H, Lq, D), k (B, H, Lk, D)", shape_str(qs),
              shape_str(ks));
  SIEVE_CHECK(qs[3] >= 1, "attention: head size D must be at least 1, got q {}", shape_str(qs));
  SIEVE_CHECK(std::max({qs[2], ks[2], qs[3]}) <= INT_MAX, "attention: q {} · k {} exceeds BLAS's 32-bit sizes",
              shape_str(qs), shape_str(ks));
  if (o.key_padding_mask.defined()) {
    const Tensor& m = o.key_padding_mask;
    check_same_device(kOp, {&q, &m});
    SIEVE_CHECK(m.shape() == Shape({ks[0], ks[2]}),
                "attention: key_padding_mask {} must be (B, Lk) = ({}, {}) for k {}", shape_str(m.shape()), ks[0],
                ks[2], shape_str(ks));
  }
  if (o.key_bias.defined()) {
    const Tensor& kb = o.key_bias;
    check_same_device(kOp, {&q, &kb});
    SIEVE_CHECK(kb.dtype() == q.dtype() && kb.shape() == Shape({ks[0], ks[2]}),
                "attention: key_bias {} must be (B, Lk) = ({}, {}) of q's dtype {} for k {}", kb.describe(), ks[0],
                ks[2], dtype_name(q.dtype()), shape_str(ks));
  }
  if (o.scale) SIEVE_CHECK(std::isfinite(*o.scale), "attention: scale must be finite, got {}", *o.scale);
  SIEVE_CHECK(!o.want_cls_probs || qs[2] >= 1, "attention: want_cls_probs needs a query row 0, got q {}",
              shape_str(qs));
}

// A tensor of t's shape laid out like t when t is a permutation of a dense block (a permuted
// view of one projection), else contiguous. A gradient in its input's layout flows back through
// the input's permute and view without a copy.
Tensor empty_in_layout_of(const Tensor& t) {
  const Options opts{.dtype = t.dtype(), .device = t.device()};
  std::vector<int> order(static_cast<size_t>(t.ndim()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return t.stride(a) > t.stride(b); });
  int64_t expected = 1;  // walking from the innermost dim out, each stride must be the span so far
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (t.size(*it) == 1) continue;
    if (t.stride(*it) != expected) return empty(t.shape(), opts);
    expected *= t.size(*it);
  }
  Shape dense_shape;
  for (int d : order) dense_shape.push_back(t.size(d));
  Tensor base = empty(dense_shape, opts);
  Shape strides(order.size());
  for (size_t i = 0; i < order.size(); ++i) strides[static_cast<size_t>(order[i])] = base.stride(static_cast<int>(i));
  return make_view(base, t.shape(), strides, 0);
}

}  // namespace

AttentionOutput attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options) {
  check_inputs(q, k, v, options);
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), D = q.size(3), Lk = k.size(2);
  const Options opts{.dtype = q.dtype(), .device = q.device()};
  cpu::AttentionMasks masks{.scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(D))),
                            .causal = options.causal,
                            .key_padding = options.key_padding_mask.defined()
                                               ? options.key_padding_mask.detach().contiguous()
                                               : Tensor(),
                            .key_bias = options.key_bias.defined() ? options.key_bias.detach().contiguous() : Tensor()};

  // Stored (B, Lq, H, D), seen as (B, H, Lq, D): see "Layout" in ops/attention.h.
  Tensor stored = empty({B, Lq, H, D}, opts);
  Tensor out = make_view(stored, {B, H, Lq, D}, {Lq * H * D, D, H * D, 1}, 0);
  const bool grad = autograd::any_requires_grad({q, k, v});
  Tensor probs = grad ? empty({B, H, Lq, Lk}, opts) : Tensor();
  Tensor cls = options.want_cls_probs ? empty({B, Lk}, opts) : Tensor();
  const Tensor qd = q.detach(), kd = k.detach(), vd = v.detach();
  // FLOPs per (b, h, query, key) pair, masked pairs included (BLAS multiplies whole matrices):
  // forward q·k 2D, scale 1, softmax 4, p·v 2D; backward dv, dp, dq, dk 2D each, dS 4.
  const int64_t pairs = B * H * Lq * Lk;
  SIEVE_DISPATCH(kOp, q.device(), /*flops=*/pairs * (4 * D + 5), attention, qd, kd, vd, masks, out, probs, cls);

  masks.key_padding = masks.key_bias = Tensor();  // backward reads the padding and the bias from probs
  const bool need_q = q.requires_grad(), need_k = k.requires_grad(), need_v = v.requires_grad();
  autograd::record(kOp, out, {q, k, v}, [=](const Tensor& g) {
    Tensor dq = need_q ? empty_in_layout_of(qd) : Tensor();
    Tensor dk = need_k ? empty_in_layout_of(kd) : Tensor();
    Tensor dv = need_v ? empty_in_layout_of(vd) : Tensor();
    SIEVE_DISPATCH(kOp, g.device(), /*flops=*/pairs * (8 * D + 4), attention_backward, qd, kd, vd, probs, g, masks,
                   dq, dk, dv);
    return Grads{dq, dk, dv};
  });
  return {out, cls};
}

}  // namespace sieve
