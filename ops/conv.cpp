// ops/conv.cpp — front ends and backwards of conv1d_causal_depthwise and unfold_patches.
//
// Legend: B batch, L sequence length, C channels, K taps, H×W image, p patch side,
// P = (H/p)·(W/p) patches. Formulas are in ops/conv.h; backwards:
//   conv1d  gx[b, s, c] = Σ_k w[c, k] · g[b, s + K − 1 − k, c]      (the taps run forwards in time)
//           gw[c, k]    = Σ_{b,t} g[b, t, c] · x[b, t − K + 1 + k, c]
//           gbias[c]    = Σ_{b,t} g[b, t, c]
//   unfold  gx = fold(g): every element of g goes back to the pixel it came from (no overlaps).
// The kernels read x and g with their own batch and time strides (a channel slice of a wider
// projection is not copied); only a channel stride other than 1 forces a contiguous copy.
//
// What it is not: a general Conv1d/Conv2d. Extend: a new convolution-like op adds its kernel pair
// to ops/cpu/conv.cpp and an Op to ops/op_list.h.
#include "ops/conv.h"

#include "autograd/node.h"
#include "ops/cpu/conv.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

// t itself when its channels (last dim) are adjacent in memory, else a contiguous copy.
Tensor channels_dense(const Tensor& t) {
  return t.shape().back() <= 1 || t.strides().back() == 1 ? t.detach() : t.detach().contiguous();
}

}  // namespace

// x: (B, L, C), weight: (C, K), bias: (C) or undefined → (B, L, C)
Tensor conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  constexpr Op op = Op::conv1d_causal_depthwise;
  check_defined(op, {&x, &weight});
  check_floating(op, x);
  check_ndim(op, x, 3, 3, "x (B, L, C)");
  check_ndim(op, weight, 2, 2, "weight (C, K)");
  check_same_device(op, {&x, &weight});
  check_same_dtype(op, {&x, &weight});
  const int64_t C = x.size(2);
  SIEVE_CHECK(weight.size(0) == C && weight.size(1) >= 1,
              "conv1d_causal_depthwise: weight {} does not fit x {}: expected ({}, K) with K ≥ 1",
              shape_str(weight.shape()), shape_str(x.shape()), C);
  if (bias.defined()) {
    check_same_device(op, {&x, &bias});
    check_same_dtype(op, {&x, &bias});
    SIEVE_CHECK(bias.shape() == Shape{C}, "conv1d_causal_depthwise: bias {} does not fit x {}: expected ({},)",
                shape_str(bias.shape()), shape_str(x.shape()), C);
  }

  const Tensor xd = channels_dense(x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(op, x.device(), /*flops=*/2 * y.numel() * weight.size(1), conv1d_causal_depthwise, xd, weight, bias, y);  // K taps

  const bool need_gx = x.requires_grad(), need_gw = weight.requires_grad(),
             need_gb = bias.defined() && bias.requires_grad();
  const Tensor wd = weight.detach();
  autograd::record(op, y, {x, weight, bias}, [xd, wd, need_gx, need_gw, need_gb](const Tensor& g) {
    const Options opts{.dtype = g.dtype(), .device = g.device()};
    Tensor gx = need_gx ? empty(xd.shape(), opts) : Tensor();
    Tensor gw = need_gw ? empty(wd.shape(), opts) : Tensor();
    Tensor gb = need_gb ? empty({xd.size(2)}, opts) : Tensor();
    SIEVE_DISPATCH(Op::conv1d_causal_depthwise, g.device(), /*flops=*/4 * g.numel() * wd.size(1),  // gx and gw
                   conv1d_causal_depthwise_backward, channels_dense(g), xd, wd, gx, gw, gb);
    return Grads{gx, gw, gb};
  });
  return y;
}

// x: (B, C, H, W) → (B, (H/p)·(W/p), C·p·p)
Tensor unfold_patches(const Tensor& x, int64_t patch) {
  constexpr Op op = Op::unfold_patches;
  check_defined(op, {&x});
  check_floating(op, x);
  check_ndim(op, x, 4, 4, "x (B, C, H, W)");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  SIEVE_CHECK(patch > 0 && H % patch == 0 && W % patch == 0,
              "unfold_patches: patch {} must be positive and divide H and W of {}", patch, x.describe());

  Tensor out = empty({B, (H / patch) * (W / patch), C * patch * patch}, {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(op, x.device(), /*flops=*/0, unfold_patches, x, patch, out);  // data movement only

  const Shape x_shape = x.shape();
  autograd::record(op, out, {x}, [x_shape, patch](const Tensor& g) {
    Tensor gx = empty(x_shape, {.dtype = g.dtype(), .device = g.device()});
    SIEVE_DISPATCH(Op::unfold_patches, g.device(), /*flops=*/0, fold_patches, g, patch, gx);
    return Grads{gx};
  });
  return out;
}

}  // namespace sieve
