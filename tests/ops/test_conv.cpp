// tests/ops/test_conv.cpp — conv1d_causal_depthwise and unfold_patches: values (hand-computed,
// naive loops, PyTorch's Conv1d/F.unfold/Conv2d goldens), gradients by finite differences on
// contiguous and strided inputs, and the shape errors.
#include <string>

#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using test::contains;
using test::error_of;

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
  test::check_golden("conv", "conv1d_bias", [](test::GoldenInputs& in) {
    return conv1d_causal_depthwise(in.at("x"), in.at("weight"), in.at("bias"));
  });
  test::check_golden("conv", "conv1d_nobias", [](test::GoldenInputs& in) {
    return conv1d_causal_depthwise(in.at("x"), in.at("weight"), Tensor());
  });
  test::check_golden("conv", "conv1d_k1", [](test::GoldenInputs& in) {
    return conv1d_causal_depthwise(in.at("x"), in.at("weight"), in.at("bias"));
  });
}

TEST_CASE("conv1d_causal_depthwise: strided inputs, K > L, and a large input against naive loops") {
  SUBCASE("a channel slice of a wider tensor is read in place; a transposed one is copied") {
    Tensor wide = test::randn_leaf({2, 7, 10}, 1, false, DType::f32);
    Tensor x = wide.narrow(2, 3, 4);                                               // channel stride 1
    Tensor xt = test::randn_leaf({2, 4, 7}, 2, false, DType::f32).transpose(1, 2);  // channel stride 7
    Tensor w = test::randn_leaf({4, 3}, 3, false, DType::f32), b = test::randn_leaf({4}, 4, false, DType::f32);
    CHECK_CLOSE(conv1d_causal_depthwise(x, w, b), naive_conv(x, w, b));
    CHECK_CLOSE(conv1d_causal_depthwise(xt, w.t().contiguous().t(), b), naive_conv(xt, w, b));
  }
  SUBCASE("more taps than steps") {
    Tensor x = test::randn_leaf({2, 3, 5}, 5, false), w = test::randn_leaf({5, 6}, 6, false);
    CHECK_CLOSE(conv1d_causal_depthwise(x, w, Tensor()), naive_conv(x, w, Tensor()), 1e-12, 1e-12);
  }
  SUBCASE("several channel tiles and batches, in parallel") {
    Tensor x = test::randn_leaf({3, 200, 70}, 7, false, DType::f32);
    Tensor w = test::randn_leaf({70, 4}, 8, false, DType::f32), b = test::randn_leaf({70}, 9, false, DType::f32);
    CHECK_CLOSE(conv1d_causal_depthwise(x, w, b), naive_conv(x, w, b), 1e-5, 1e-5);
  }
}

TEST_CASE("conv1d_causal_depthwise: gradients by finite differences") {
  auto with_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], Tensor()); };
  CHECK_GRADCHECK(with_bias, {test::randn_leaf({2, 5, 3}, 1), test::randn_leaf({3, 3}, 2), test::randn_leaf({3}, 3)});
  CHECK_GRADCHECK(no_bias, {test::randn_leaf({1, 4, 2}, 4), test::randn_leaf({2, 6}, 5)});  // K > L
  // a channel slice (row stride 6), a transposed input (channel stride ≠ 1) and a transposed weight
  Tensor sliced = test::randn_leaf({2, 4, 6}, 6, false).narrow(2, 1, 3).detach().requires_grad_();
  CHECK_GRADCHECK(with_bias, {sliced, test::randn_leaf_transposed({3, 2}, 7), test::randn_leaf({3}, 8)});
  CHECK_GRADCHECK(no_bias, {test::randn_leaf_transposed({2, 4, 3}, 9), test::randn_leaf({3, 2}, 10)});
  // only some inputs require grad
  CHECK_GRADCHECK(with_bias, {test::randn_leaf({2, 3, 2}, 11, false), test::randn_leaf({2, 2}, 12),
                              test::randn_leaf({2}, 13, false)});
  // more channels than one tile
  CHECK_GRADCHECK(with_bias,
                  {test::randn_leaf({1, 3, 35}, 14), test::randn_leaf({35, 2}, 15), test::randn_leaf({35}, 16)});
  // K = 4 (Mamba's d_conv) has its own weight-gradient kernel: a full 32-channel tile and a partial one
  CHECK_GRADCHECK(with_bias,
                  {test::randn_leaf({2, 7, 40}, 17), test::randn_leaf({40, 4}, 18), test::randn_leaf({40}, 19)});
  CHECK_GRADCHECK(no_bias, {test::randn_leaf({1, 3, 33}, 20), test::randn_leaf({33, 4}, 21)});  // K > L
}

TEST_CASE("conv1d_causal_depthwise: errors") {
  Tensor x = zeros({2, 5, 3});
  std::string msg = error_of([&] { conv1d_causal_depthwise(x, zeros({4, 2}), Tensor()); });
  CHECK(contains(msg, "conv1d_causal_depthwise"));
  CHECK(contains(msg, "(4, 2)"));
  CHECK(contains(msg, "(2, 5, 3)"));
  CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, zeros({3, 2}), zeros({4})); }), "bias"));
  CHECK(contains(error_of([&] { conv1d_causal_depthwise(zeros({5, 3}), zeros({3, 2}), Tensor()); }), "x (B, L, C)"));
  CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, zeros({3, 2}, {.dtype = DType::f64}), Tensor()); }),
                 "float64"));
  CHECK(contains(error_of([&] { conv1d_causal_depthwise(x, zeros({3, 0}), Tensor()); }), "K"));
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
  test::check_golden("conv", "unfold_p4", [](test::GoldenInputs& in) { return unfold_patches(in.at("x"), 4); });
  test::check_golden("conv", "patch_embed_p4", [](test::GoldenInputs& in) {
    const Tensor& w = in.at("weight");  // (D, C, p, p), as Conv2d's weight
    return matmul(unfold_patches(in.at("x"), 4), w.reshape({w.size(0), -1}).t()) + in.at("bias");
  });
}

TEST_CASE("unfold_patches: gradients by finite differences, and errors") {
  auto fn = [](const std::vector<Tensor>& in) { return unfold_patches(in[0], 2); };
  CHECK_GRADCHECK(fn, {test::randn_leaf({2, 3, 4, 6}, 1)});
  // channels-last storage seen as (B, C, H, W)
  Tensor nhwc = test::randn_leaf({1, 4, 2, 3}, 2, false).permute({0, 3, 1, 2}).detach().requires_grad_();
  CHECK_GRADCHECK(fn, {nhwc});

  std::string msg = error_of([] { unfold_patches(zeros({1, 3, 6, 8}), 4); });
  CHECK(contains(msg, "unfold_patches"));
  CHECK(contains(msg, "(1, 3, 6, 8)"));
  CHECK(contains(error_of([] { unfold_patches(zeros({1, 3, 4, 4}), 0); }), "patch 0"));
  CHECK(contains(error_of([] { unfold_patches(zeros({3, 4, 4}), 2); }), "unfold_patches"));
}
