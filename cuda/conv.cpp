// cuda/conv.cpp — the conv family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/conv.cpp with the CPU kernels' signatures; the kernels are in
// cuda/conv.cu. Here: the layout checks the kernels rely on, and the double scratch of the
// weight/bias gradient partials.
//
// Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {

constexpr const char* kConv = "conv1d_causal_depthwise";

// The kernels step through channels one element at a time (ops/conv.cpp copies other layouts).
void check_channels_dense(const Tensor& t, const char* what) {
  SIEVE_CHECK(t.ndim() == 3 && (t.shape()[2] <= 1 || t.strides()[2] == 1),
              "{}: {} must be (B, L, C) with channel stride 1, got {}", kConv, what, t.describe());
}

void check_contiguous_if_defined(const Tensor& t, const char* what) {
  SIEVE_CHECK(!t.defined() || t.is_contiguous(), "{}: {} must be contiguous, got {}", kConv, what, t.describe());
}

}  // namespace

// x: (B, L, C), weight: (C, K), bias: (C) or undefined → y: (B, L, C) contiguous
void conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  check_floating(Op::conv1d_causal_depthwise, x);
  check_channels_dense(x, "x");
  check_contiguous_if_defined(y, "y");
  launch_conv1d(tensor_arg(x, kConv), tensor_arg(weight, kConv), optional_tensor_arg(bias, kConv),
                tensor_arg(y, kConv));
}

void conv1d_causal_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                                      const Tensor& gw, const Tensor& gb) {
  check_floating(Op::conv1d_causal_depthwise, g);
  check_channels_dense(g, "g");
  check_channels_dense(x, "x");
  check_contiguous_if_defined(gx, "gx");
  check_contiguous_if_defined(gw, "gw");
  check_contiguous_if_defined(gb, "gb");
  const int64_t rows = x.shape()[0] * x.shape()[1], C = x.shape()[2], K = weight.shape()[1];
  const bool params = gw.defined() || gb.defined();
  const Tensor scratch = params ? empty({conv1d_param_chunks(rows), K + 1, C}, {.dtype = DType::f64, .device = x.device()})
                                : Tensor();
  launch_conv1d_backward(tensor_arg(g, kConv), tensor_arg(x, kConv), tensor_arg(weight, kConv),
                         optional_tensor_arg(gx, kConv), optional_tensor_arg(gw, kConv), optional_tensor_arg(gb, kConv),
                         optional_tensor_arg(scratch, kConv));
}

// x: (B, H, W, C), weight: (C, k, k), bias: (C) or undefined → y: (B, H, W, C); x, y contiguous
void conv2d_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  check_floating(Op::conv2d_depthwise, x);
  SIEVE_CHECK(x.is_contiguous() && y.is_contiguous(), "conv2d_depthwise: x and y must be contiguous, got {} and {}",
              x.describe(), y.describe());
  launch_conv2d_depthwise(tensor_arg(x, "conv2d_depthwise"), tensor_arg(weight, "conv2d_depthwise"),
                          optional_tensor_arg(bias, "conv2d_depthwise"), tensor_arg(y, "conv2d_depthwise"));
}

void conv2d_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                               const Tensor& gw, const Tensor& gb) {
  constexpr const char* kConv2d = "conv2d_depthwise";
  check_floating(Op::conv2d_depthwise, g);
  SIEVE_CHECK(g.is_contiguous() && x.is_contiguous(), "{}: g and x must be contiguous, got {} and {}", kConv2d,
              g.describe(), x.describe());
  for (const Tensor* t : {&gx, &gw, &gb})
    SIEVE_CHECK(!t->defined() || t->is_contiguous(), "{}: gradients must be contiguous, got {}", kConv2d, t->describe());
  const int64_t pixels = x.shape()[0] * x.shape()[1] * x.shape()[2], C = x.shape()[3];
  const int64_t taps = weight.shape()[1] * weight.shape()[2];
  const Tensor scratch = gw.defined() || gb.defined()
                             ? empty({conv1d_param_chunks(pixels), taps + 1, C}, {.dtype = DType::f64, .device = x.device()})
                             : Tensor();
  launch_conv2d_depthwise_backward(tensor_arg(g, kConv2d), tensor_arg(x, kConv2d), tensor_arg(weight, kConv2d),
                                   optional_tensor_arg(gx, kConv2d), optional_tensor_arg(gw, kConv2d),
                                   optional_tensor_arg(gb, kConv2d), optional_tensor_arg(scratch, kConv2d));
}

// x: (B, C, H, W) any strides → out: (B, (H/p)·(W/p), C·p·p) contiguous
void unfold_patches(const Tensor& x, int64_t p, const Tensor& out) {
  check_floating(Op::unfold_patches, x);
  SIEVE_CHECK(out.is_contiguous(), "unfold_patches: expected a contiguous output, got {}", out.describe());
  launch_unfold_patches(tensor_arg(x, "unfold_patches"), p, tensor_arg(out, "unfold_patches"));
}

// g: (B, (H/p)·(W/p), C·p·p) any strides → gx: (B, C, H, W) contiguous
void fold_patches(const Tensor& g, int64_t p, const Tensor& gx) {
  check_floating(Op::unfold_patches, g);
  SIEVE_CHECK(gx.is_contiguous(), "unfold_patches: backward expects a contiguous gradient, got {}", gx.describe());
  launch_fold_patches(tensor_arg(g, "unfold_patches"), p, tensor_arg(gx, "unfold_patches"));
}

}  // namespace sieve::cuda
