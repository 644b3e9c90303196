// tests/ops/test_conv.cpp — conv1d_causal_depthwise and unfold_patches: values (hand-computed,
// naive loops, PyTorch's Conv1d/F.unfold/Conv2d goldens) and the shape errors, on every device;
// gradients by finite differences on contiguous and strided inputs (CPU); and the CUDA kernels'
// outputs and gradients (gx, gw, gb; unfold/fold bit for bit) against the CPU's (parity).
//
// The parity inputs reach each CUDA path: with and without bias; K = 1, 3, 4 (Mamba's), K > L,
// and K = 9 (two groups of 8 gradient slots); channel counts that are not multiples of the
// 32-channel tile; B·L rows spanning many 64-row chunks; a channel slice (batch and time strides
// not contiguous) and a transposed weight read in place; only some inputs requiring gradients.
#include <string>

#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::contains;
using test::error_of;
using test::kFloatTypes;
using test::leaf;
using test::randn_leaf;
using test::randn_leaf_transposed;

namespace {

// y[b, t, c] = bias[c] + Σ_k w[c, k] · x[b, t − K + 1 + k, c], by plain loops in double.
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), K = w.size(1);
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const auto bv = bias.defined() ? bias.to_vector<double>() : std::vector<double>(C, 0.0);
  std::vector<double> y(static_cast<size_t>(B * L * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t c = 0; c < C; ++c) {
        double acc = bv[c];
        for (int64_t k = 0; k < K; ++k) {
          const int64_t s = t - K + 1 + k;
          if (s >= 0) acc += wv[c * K + k] * xv[(b * L + s) * C + c];
        }
        y[(b * L + t) * C + c] = acc;
      }
  return from_vector<double>(y, {B, L, C}).to(x.dtype());
}

// The weight and bias gradients sum over all B·L rows, on the GPU in double in another order than
// the CPU's running sum in T; over a few thousand float32 rows the CPU's own rounding reaches
// ~1e-5 of sums of size ~50, so long sums get looser bounds.
double long_sum_tol(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-4; }

}  // namespace

TEST_CASE("conv1d_causal_depthwise: hand-computed values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // channel 0: x = 1 2 3 4, w = (1, 2), bias 0.5; channel 1: x = 1 0 2 0, w = (3, −1), bias 0
      Tensor x = from_vector<float>({1, 1, 2, 0, 3, 2, 4, 0}, {1, 4, 2}).to(dev);
      Tensor w = from_vector<float>({1, 2, 3, -1}, {2, 2}).to(dev);
      Tensor bias = from_vector<float>({0.5, 0}, {2}).to(dev);
      CHECK_CLOSE(conv1d_causal_depthwise(x, w, bias),
                  from_vector<float>({2.5, -1, 5.5, 3, 8.5, -2, 11.5, 6}, {1, 4, 2}), 0.0, 0.0);
      CHECK_CLOSE(conv1d_causal_depthwise(x, w, Tensor()),
                  from_vector<float>({2, -1, 5, 3, 8, -2, 11, 6}, {1, 4, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("conv1d_causal_depthwise: PyTorch Conv1d(groups=C, padding=K-1) goldens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("conv", "conv1d_bias", [](test::GoldenInputs& in) {
        return conv1d_causal_depthwise(in.at("x"), in.at("weight"), in.at("bias"));
      }, 1e-5, 1e-4, dev);
      test::check_golden("conv", "conv1d_nobias", [](test::GoldenInputs& in) {
        return conv1d_causal_depthwise(in.at("x"), in.at("weight"), Tensor());
      }, 1e-5, 1e-4, dev);
      test::check_golden("conv", "conv1d_k1", [](test::GoldenInputs& in) {
        return conv1d_causal_depthwise(in.at("x"), in.at("weight"), in.at("bias"));
      }, 1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("conv1d_causal_depthwise: strided inputs, K > L, and a large input against naive loops") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      SUBCASE("a channel slice of a wider tensor is read in place; a transposed one is copied") {
        Tensor wide = randn_leaf({2, 7, 10}, 1, false, DType::f32, dev);
        Tensor x = wide.narrow(2, 3, 4);                                               // channel stride 1
        Tensor xt = randn_leaf({2, 4, 7}, 2, false, DType::f32, dev).transpose(1, 2);  // channel stride 7
        Tensor w = randn_leaf({4, 3}, 3, false, DType::f32, dev), b = randn_leaf({4}, 4, false, DType::f32, dev);
        CHECK_CLOSE(conv1d_causal_depthwise(x, w, b), naive_conv(x, w, b));
        CHECK_CLOSE(conv1d_causal_depthwise(xt, w.t().contiguous().t(), b), naive_conv(xt, w, b));
      }
      SUBCASE("more taps than steps") {
        Tensor x = randn_leaf({2, 3, 5}, 5, false, DType::f64, dev), w = randn_leaf({5, 6}, 6, false, DType::f64, dev);
        CHECK_CLOSE(conv1d_causal_depthwise(x, w, Tensor()), naive_conv(x, w, Tensor()), 1e-12, 1e-12);
      }
      SUBCASE("several channel tiles and batches, in parallel") {
        Tensor x = randn_leaf({3, 200, 70}, 7, false, DType::f32, dev);
        Tensor w = randn_leaf({70, 4}, 8, false, DType::f32, dev), b = randn_leaf({70}, 9, false, DType::f32, dev);
        CHECK_CLOSE(conv1d_causal_depthwise(x, w, b), naive_conv(x, w, b), 1e-5, 1e-5);
      }
    }
  }
}

TEST_CASE("gradcheck: conv1d_causal_depthwise on contiguous and strided inputs") {
  auto with_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], Tensor()); };
  CHECK_GRADCHECK(with_bias, {randn_leaf({2, 5, 3}, 1), randn_leaf({3, 3}, 2), randn_leaf({3}, 3)});
  CHECK_GRADCHECK(no_bias, {randn_leaf({1, 4, 2}, 4), randn_leaf({2, 6}, 5)});  // K > L
  // a channel slice (row stride 6), a transposed input (channel stride ≠ 1) and a transposed weight
  Tensor sliced = randn_leaf({2, 4, 6}, 6, false).narrow(2, 1, 3).detach().requires_grad_();
  CHECK_GRADCHECK(with_bias, {sliced, randn_leaf_transposed({3, 2}, 7), randn_leaf({3}, 8)});
  CHECK_GRADCHECK(no_bias, {randn_leaf_transposed({2, 4, 3}, 9), randn_leaf({3, 2}, 10)});
  // only some inputs require grad
  CHECK_GRADCHECK(with_bias, {randn_leaf({2, 3, 2}, 11, false), randn_leaf({2, 2}, 12),
                              randn_leaf({2}, 13, false)});
  // more channels than one tile
  CHECK_GRADCHECK(with_bias,
                  {randn_leaf({1, 3, 35}, 14), randn_leaf({35, 2}, 15), randn_leaf({35}, 16)});
  // K = 4 (Mamba's d_conv) has its own weight-gradient kernel: a full 32-channel tile and a partial one
  CHECK_GRADCHECK(with_bias,
                  {randn_leaf({2, 7, 40}, 17), randn_leaf({40, 4}, 18), randn_leaf({40}, 19)});
  CHECK_GRADCHECK(no_bias, {randn_leaf({1, 3, 33}, 20), randn_leaf({33, 4}, 21)});  // K > L
}

TEST_CASE("conv1d_causal_depthwise: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      Tensor x = z({2, 5, 3});
      std::string msg = error_of([&] { conv1d_causal_depthwise(x, z({4, 2}), Tensor()); });
      CHECK(contains(msg, "conv1d_causal_depthwise"));
      CHECK(contains(msg, "(4, 2)"));
      CHECK(contains(msg, "(2, 5, 3)"));
      CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, z({3, 2}), z({4})); }), "bias"));
      CHECK(contains(error_of([&] { conv1d_causal_depthwise(z({5, 3}), z({3, 2}), Tensor()); }), "x (B, L, C)"));
      CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, z({3, 2}, DType::f64), Tensor()); }),
                     "float64"));
      CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, z({3, 0}), Tensor()); }), "K"));
    }
  }
}

TEST_CASE("unfold_patches: patches in row-major order, each flattened as (c, i, j)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = arange(0, 16).reshape({1, 1, 4, 4}).to(dev);
      CHECK_CLOSE(unfold_patches(x, 2),
                  from_vector<float>({0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}, {1, 4, 4}), 0.0, 0.0);
      // two channels, two patches stacked vertically: channel 0 then channel 1 inside a patch
      Tensor y = arange(0, 16).reshape({1, 2, 4, 2}).to(dev);
      CHECK_CLOSE(unfold_patches(y, 2),
                  from_vector<float>({0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15}, {1, 2, 8}), 0.0, 0.0);
      CHECK_CLOSE(unfold_patches(x, 1), x.reshape({1, 1, 16}).transpose(1, 2), 0.0, 0.0);
    }
  }
}

TEST_CASE("unfold_patches: F.unfold golden, and unfold + Linear equals Conv2d(stride=p)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("conv", "unfold_p4", [](test::GoldenInputs& in) { return unfold_patches(in.at("x"), 4); },
                         1e-5, 1e-4, dev);
      test::check_golden("conv", "patch_embed_p4", [](test::GoldenInputs& in) {
        const Tensor& w = in.at("weight");  // (D, C, p, p), as Conv2d's weight
        return matmul(unfold_patches(in.at("x"), 4), w.reshape({w.size(0), -1}).t()) + in.at("bias");
      }, 1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("gradcheck: unfold_patches on contiguous and channels-last inputs") {
  auto fn = [](const std::vector<Tensor>& in) { return unfold_patches(in[0], 2); };
  CHECK_GRADCHECK(fn, {randn_leaf({2, 3, 4, 6}, 1)});
  // channels-last storage seen as (B, C, H, W)
  Tensor nhwc = randn_leaf({1, 4, 2, 3}, 2, false).permute({0, 3, 1, 2}).detach().requires_grad_();
  CHECK_GRADCHECK(fn, {nhwc});
}

TEST_CASE("unfold_patches: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape) { return zeros(shape, {.device = dev}); };
      std::string msg = error_of([&] { unfold_patches(z({1, 3, 6, 8}), 4); });
      CHECK(contains(msg, "unfold_patches"));
      CHECK(contains(msg, "(1, 3, 6, 8)"));
      CHECK(contains(error_of([&] { unfold_patches(z({1, 3, 4, 4}), 0); }), "patch 0"));
      CHECK(contains(error_of([&] { unfold_patches(z({3, 4, 4}), 2); }), "unfold_patches"));
    }
  }
}

TEST_CASE("parity: conv1d_causal_depthwise forward and backward, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  auto with_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], Tensor()); };
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_parity("conv (2, 5, 3) K 3", with_bias, {leaf({2, 5, 3}, 1, dt), leaf({3, 3}, 2, dt), leaf({3}, 3, dt)});
    check_parity("conv K 1", with_bias, {leaf({2, 6, 4}, 4, dt), leaf({4, 1}, 5, dt), leaf({4}, 6, dt)});
    check_parity("conv K > L, no bias", no_bias, {leaf({1, 3, 5}, 7, dt), leaf({5, 6}, 8, dt)});
    check_parity("conv K 4, 40 channels", with_bias,
                 {leaf({2, 7, 40}, 9, dt), leaf({40, 4}, 10, dt), leaf({40}, 11, dt)});
    check_parity("conv K 9 (two slot groups), 33 channels", with_bias,
                 {leaf({3, 20, 33}, 12, dt), leaf({33, 9}, 13, dt), leaf({33}, 14, dt)});
    // only the weight requires grad; only x requires grad
    check_parity("conv, weight grad only", with_bias,
                 {leaf({2, 9, 5}, 15, dt, false), leaf({5, 4}, 16, dt), leaf({5}, 17, dt, false)});
    check_parity("conv, x grad only", no_bias, {leaf({2, 9, 5}, 18, dt), leaf({5, 4}, 19, dt, false)});
    // a channel slice of a wider tensor (read in place, row stride 10) and a transposed weight
    check_parity("conv of a channel slice, transposed weight",
                 [](const std::vector<Tensor>& in) {
                   return conv1d_causal_depthwise(in[0].narrow(2, 3, 4), in[1].t(), in[2]);
                 },
                 {leaf({2, 7, 10}, 20, dt), leaf({3, 4}, 21, dt), leaf({4}, 22, dt)});
    // a transposed x (channel stride ≠ 1: the front end copies it) with a large batch·time
    check_parity("conv of a transposed x",
                 [](const std::vector<Tensor>& in) {
                   return conv1d_causal_depthwise(in[0].transpose(1, 2), in[1], Tensor());
                 },
                 {leaf({3, 45, 70}, 23, dt), leaf({45, 4}, 24, dt)}, true, long_sum_tol(dt), long_sum_tol(dt));
    // 3·700 rows (33 chunks), 70 channels (3 tiles, the last partial)
    check_parity("conv (3, 700, 70) K 4", with_bias,
                 {leaf({3, 700, 70}, 25, dt), leaf({70, 4}, 26, dt), leaf({70}, 27, dt)}, true, long_sum_tol(dt),
                 long_sum_tol(dt));
  }
}

TEST_CASE("parity: unfold_patches and its backward, CUDA against CPU bit for bit") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    for (int64_t p : {1, 2, 3, 4}) {
      const std::string what = "unfold p " + std::to_string(p);
      check_parity(what, [p](const std::vector<Tensor>& in) { return unfold_patches(in[0], p); },
                   {leaf({2, 3, 12, 24}, 30 + p, dt)}, true, 0, 0);
    }
    // channels-last storage seen as (B, C, H, W): strided reads
    check_parity("unfold of an NHWC view",
                 [](const std::vector<Tensor>& in) { return unfold_patches(in[0].permute({0, 3, 1, 2}), 4); },
                 {leaf({2, 8, 16, 5}, 40, dt)}, true, 0, 0);
    // larger than a block: ViT-like 32×32 images of 3 channels, p = 4
    check_parity("unfold (4, 3, 32, 32) p 4", [](const std::vector<Tensor>& in) { return unfold_patches(in[0], 4); },
                 {leaf({4, 3, 32, 32}, 41, dt)}, true, 0, 0);
  }
}
