// ops/conv.cpp — front ends and backwards of conv1d_causal_depthwise and unfold_patches.
//
// Legend: B batch, L sequence length, C channels, K taps, H×W image, k×k conv2d taps with padding
// p = (k − 1)/2, p also the patch side of unfold, P = (H/p)·(W/p) patches. Formulas are in ops/conv.h; backwards:
//   conv1d  gx[b, s, c] = Σ_k w[c, k] · g[b, s + K − 1 − k, c]      (the taps run forwards in time)
//           gw[c, k]    = Σ_{b,t} g[b, t, c] · x[b, t − K + 1 + k, c]
//           gbias[c]    = Σ_{b,t} g[b, t, c]
//   conv2d  gx[b, h, w, c] = Σ_{i,j} w[c, i, j] · g[b, h − i + p, w − j + p, c]   (g convolved with w turned 180°)
//           gw[c, i, j]    = Σ_{b,h,w} g[b, h, w, c] · x[b, h + i − p, w + j − p, c]
//           gbias[c]       = Σ_{b,h,w} g[b, h, w, c]
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

// What both depthwise convs check: x a float tensor of `x_dims` dims, weight of `w_dims`, on one
// device in one dtype, and a bias, when given, of (C) likewise.
void check_depthwise_inputs(Op op, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t x_dims,
                            const char* x_legend, int64_t w_dims, const char* w_legend) {
  check_defined(op, {&x, &weight});
  check_floating(op, x);
  check_ndim(op, x, x_dims, x_dims, x_legend);
  check_ndim(op, weight, w_dims, w_dims, w_legend);
  check_same_device(op, {&x, &weight});
  check_same_dtype(op, {&x, &weight});
  if (!bias.defined()) return;
  check_same_device(op, {&x, &bias});
  check_same_dtype(op, {&x, &bias});
  const int64_t C = x.shape().back();
  SIEVE_CHECK(bias.shape() == Shape{C}, "{}: bias {} does not fit x {}: expected ({},)", op_name(op),
              shape_str(bias.shape()), shape_str(x.shape()), C);
}

// Records the backward both depthwise convs share: whichever of gx, gw, gb is needed, written by
// the backward kernel `kernel` from a channels-dense g (`dense` makes it so) and the saved xd, wd.
template <typename Kernel, typename Dense>
void record_depthwise_backward(Op op, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& xd, int64_t flops_per_output, Kernel kernel, Dense dense) {
  const bool need_gx = x.requires_grad(), need_gw = weight.requires_grad(),
             need_gb = bias.defined() && bias.requires_grad();
  const Tensor wd = weight.detach();
  autograd::record(op, y, {x, weight, bias}, [=](const Tensor& g) {
    const Options opts{.dtype = g.dtype(), .device = g.device()};
    Tensor gx = need_gx ? empty(xd.shape(), opts) : Tensor();
    Tensor gw = need_gw ? empty(wd.shape(), opts) : Tensor();
    Tensor gb = need_gb ? empty({xd.shape().back()}, opts) : Tensor();
    kernel(g.device(), flops_per_output * g.numel(), dense(g), xd, wd, gx, gw, gb);
    return Grads{gx, gw, gb};
  });
}

}  // namespace

// x: (B, L, C), weight: (C, K), bias: (C) or undefined → (B, L, C)
Tensor conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  constexpr Op op = Op::conv1d_causal_depthwise;
  check_depthwise_inputs(op, x, weight, bias, 3, "x (B, L, C)", 2, "weight (C, K)");
  const int64_t C = x.size(2), K = weight.size(1);
  SIEVE_CHECK(weight.size(0) == C && K >= 1,
              "conv1d_causal_depthwise: weight {} does not fit x {}: expected ({}, K) with K ≥ 1",
              shape_str(weight.shape()), shape_str(x.shape()), C);

  const Tensor xd = channels_dense(x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(op, x.device(), /*flops=*/2 * y.numel() * K, conv1d_causal_depthwise, xd, weight, bias, y);  // K taps
  record_depthwise_backward(
      op, y, x, weight, bias, xd, /*flops per output, gx and gw=*/4 * K,
      [](Device device, int64_t flops, auto&&... args) {
        SIEVE_DISPATCH(Op::conv1d_causal_depthwise, device, flops, conv1d_causal_depthwise_backward, args...);
      },
      channels_dense);
  return y;
}

// x: (B, H, W, C), weight: (C, k, k), bias: (C) or undefined → (B, H, W, C)
Tensor conv2d_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  constexpr Op op = Op::conv2d_depthwise;
  check_depthwise_inputs(op, x, weight, bias, 4, "x (B, H, W, C)", 3, "weight (C, k, k)");
  const int64_t C = x.size(3), k = weight.size(1);
  SIEVE_CHECK(weight.size(0) == C && weight.size(2) == k && k % 2 == 1,
              "conv2d_depthwise: weight {} does not fit x {}: expected ({}, k, k) with k odd",
              shape_str(weight.shape()), shape_str(x.shape()), C);

  const Tensor xd = x.detach().contiguous();  // the kernels step through whole images
  Tensor y = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(op, x.device(), /*flops=*/2 * y.numel() * k * k, conv2d_depthwise, xd, weight, bias, y);  // k² taps
  record_depthwise_backward(
      op, y, x, weight, bias, xd, /*flops per output, gx and gw=*/4 * k * k,
      [](Device device, int64_t flops, auto&&... args) {
        SIEVE_DISPATCH(Op::conv2d_depthwise, device, flops, conv2d_depthwise_backward, args...);
      },
      [](const Tensor& g) { return g.detach().contiguous(); });
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
