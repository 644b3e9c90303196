// tests/ops/test_conv2d.cpp — conv2d_depthwise (VMamba's depthwise k×k conv, channels last): values
// (hand-computed, naive loops, PyTorch's Conv2d(groups=C) goldens) and the shape errors on every
// device; gradients by finite differences (CPU, float64); the CUDA kernels' outputs and gradients
// (gx, gw, gb) against the CPU's (parity).
//
// The inputs reach each path: k = 1, 3, 5, 7 (k = 7: 50 gradient slots, seven slot groups); images
// smaller than the kernel; channel counts that are not multiples of the 32-channel tile; many
// pixels (many 64-pixel chunks); a non-contiguous x (the front end copies it); a transposed
// weight read in place; only some inputs requiring gradients.
#include "ops/conv.h"
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

namespace {

// y[b, h, w, c] = bias[c] + Σ_{i,j} w[c, i, j] · x[b, h + i − p, w + j − p, c], by plain loops in double.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), k = w.size(1), p = (k - 1) / 2;
  const auto xv = x.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  const auto bv = bias.defined() ? bias.to_vector<double>() : std::vector<double>(C, 0.0);
  std::vector<double> y(static_cast<size_t>(B * H * W * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t x_ = 0; x_ < W; ++x_)
        for (int64_t c = 0; c < C; ++c) {
          double acc = bv[c];
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t hh = h + i - p, ww = x_ + j - p;
              if (hh >= 0 && hh < H && ww >= 0 && ww < W) acc += wv[(c * k + i) * k + j] * xv[((b * H + hh) * W + ww) * C + c];
            }
          y[((b * H + h) * W + x_) * C + c] = acc;
        }
  return from_vector<double>(y, {B, H, W, C}).to(x.dtype());
}

// Weight and bias gradients sum over every pixel; on the GPU in double, in another order than the CPU.
double long_sum_tol(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-4; }

Tensor with_bias(const std::vector<Tensor>& in) { return conv2d_depthwise(in[0], in[1], in[2]); }
Tensor no_bias(const std::vector<Tensor>& in) { return conv2d_depthwise(in[0], in[1], Tensor()); }

}  // namespace

TEST_CASE("conv2d_depthwise: hand-computed values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // One 3×3 image, one channel: x = 1..9 row-major; the kernel has a 1 at the centre and a 2 at
      // the top-left tap (which reads the pixel up and to the left), bias 0.5.
      Tensor x = from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1}).to(dev);
      Tensor w = from_vector<float>({2, 0, 0, 0, 1, 0, 0, 0, 0}, {1, 3, 3}).to(dev);
      Tensor bias = from_vector<float>({0.5}, {1}).to(dev);
      // y[h, w] = 0.5 + x[h, w] + 2 · x[h − 1, w − 1] (0 outside)
      CHECK_CLOSE(conv2d_depthwise(x, w, bias),
                  from_vector<float>({1.5, 2.5, 3.5, 4.5, 7.5, 10.5, 7.5, 16.5, 19.5}, {1, 3, 3, 1}), 0.0, 0.0);
      // Two channels are independent: channel 1 with a 1×1 kernel of 3 is 3·x.
      Tensor x2 = from_vector<float>({1, 10, 2, 20, 3, 30, 4, 40}, {1, 2, 2, 2}).to(dev);
      Tensor w2 = from_vector<float>({1, 3}, {2, 1, 1}).to(dev);
      CHECK_CLOSE(conv2d_depthwise(x2, w2, Tensor()),
                  from_vector<float>({1, 30, 2, 60, 3, 90, 4, 120}, {1, 2, 2, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("conv2d_depthwise: PyTorch Conv2d(groups=C, padding=(k-1)/2) goldens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("conv", "conv2d_dw_k3", [](test::GoldenInputs& in) {
        return conv2d_depthwise(in.at("x"), in.at("weight"), in.at("bias"));
      }, 1e-5, 1e-4, dev);
      test::check_golden("conv", "conv2d_dw_k5_nobias", [](test::GoldenInputs& in) {
        return conv2d_depthwise(in.at("x"), in.at("weight"), Tensor());
      }, 1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("conv2d_depthwise: against naive loops, including images smaller than the kernel") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      struct Case { Shape x; int64_t k; bool bias; };
      for (const Case& c : {Case{{2, 5, 6, 3}, 3, true}, Case{{1, 4, 4, 70}, 3, false}, Case{{3, 2, 3, 33}, 5, true},
                            Case{{1, 1, 1, 4}, 7, true}, Case{{2, 7, 5, 9}, 1, true}, Case{{1, 9, 8, 40}, 7, false}}) {
        CAPTURE(shape_str(c.x));
        CAPTURE(c.k);
        const int64_t C = c.x.back();
        const Tensor x = test::randn_leaf(c.x, 1, false, DType::f32).to(dev);
        const Tensor w = test::randn_leaf({C, c.k, c.k}, 2, false, DType::f32).to(dev);
        const Tensor b = c.bias ? test::randn_leaf({C}, 3, false, DType::f32).to(dev) : Tensor();
        CHECK_CLOSE(conv2d_depthwise(x, w, b), naive_conv2d(x.to(kCPU), w.to(kCPU), c.bias ? b.to(kCPU) : Tensor()),
                    1e-5, 1e-5);
      }
      // x as a permuted view of an NCHW tensor (the front end copies it); a transposed weight read in place
      const Tensor nchw = test::randn_leaf({2, 6, 5, 4}, 4, false, DType::f32).to(dev);
      const Tensor x = nchw.permute({0, 2, 3, 1});
      const Tensor wt = test::randn_leaf({6, 3, 3}, 5, false, DType::f32).to(dev).transpose(1, 2);
      CHECK_CLOSE(conv2d_depthwise(x, wt, Tensor()), naive_conv2d(x.to(kCPU), wt.to(kCPU), Tensor()), 1e-5, 1e-5);
    }
  }
}

TEST_CASE("gradcheck: conv2d_depthwise") {
  CHECK_GRADCHECK(with_bias, {randn_leaf({2, 4, 5, 3}, 1), randn_leaf({3, 3, 3}, 2), randn_leaf({3}, 3)});
  CHECK_GRADCHECK(no_bias, {randn_leaf({1, 3, 3, 2}, 4), randn_leaf({2, 5, 5}, 5)});  // kernel larger than the image
  CHECK_GRADCHECK(with_bias, {randn_leaf({1, 2, 3, 35}, 6), randn_leaf({35, 1, 1}, 7), randn_leaf({35}, 8)});
  // only some inputs require grad; a non-contiguous x
  CHECK_GRADCHECK(with_bias, {randn_leaf({2, 3, 3, 2}, 9, false), randn_leaf({2, 3, 3}, 10), randn_leaf({2}, 11, false)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return conv2d_depthwise(in[0].permute({0, 2, 3, 1}), in[1], in[2]); },
                  {randn_leaf({1, 3, 4, 3}, 12), randn_leaf({3, 3, 3}, 13), randn_leaf({3}, 14)});
}

TEST_CASE("conv2d_depthwise: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      const Tensor x = z({2, 5, 5, 3});
      const std::string msg = error_of([&] { conv2d_depthwise(x, z({4, 3, 3}), Tensor()); });
      CHECK(contains(msg, "conv2d_depthwise"));
      CHECK(contains(msg, "(4, 3, 3)"));
      CHECK(contains(msg, "(2, 5, 5, 3)"));
      CHECK(contains(error_of([&] { conv2d_depthwise(x, z({3, 2, 2}), Tensor()); }), "k odd"));
      CHECK(contains(error_of([&] { conv2d_depthwise(x, z({3, 3, 5}), Tensor()); }), "k odd"));
      CHECK(contains(error_of([&] { conv2d_depthwise(x, z({3, 3, 3}), z({4})); }), "bias"));
      CHECK(contains(error_of([&] { conv2d_depthwise(z({5, 5, 3}), z({3, 3, 3}), Tensor()); }), "x (B, H, W, C)"));
      CHECK(contains(error_of([&] { conv2d_depthwise(x, z({3, 3, 3}, DType::f64), Tensor()); }), "float64"));
    }
  }
}

TEST_CASE("parity: conv2d_depthwise forward and backward, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_parity("conv2d (2, 5, 6, 3) k 3", with_bias,
                 {leaf({2, 5, 6, 3}, 1, dt), leaf({3, 3, 3}, 2, dt), leaf({3}, 3, dt)});
    check_parity("conv2d k 1", with_bias, {leaf({2, 4, 4, 5}, 4, dt), leaf({5, 1, 1}, 5, dt), leaf({5}, 6, dt)});
    check_parity("conv2d k 7 (seven slot groups), 33 channels, no bias", no_bias,
                 {leaf({2, 6, 9, 33}, 7, dt), leaf({33, 7, 7}, 8, dt)}, true, long_sum_tol(dt), long_sum_tol(dt));
    check_parity("conv2d kernel larger than the image", with_bias,
                 {leaf({3, 2, 2, 4}, 9, dt), leaf({4, 5, 5}, 10, dt), leaf({4}, 11, dt)});
    check_parity("conv2d, weight grad only", with_bias,
                 {leaf({2, 5, 5, 6}, 12, dt, false), leaf({6, 3, 3}, 13, dt), leaf({6}, 14, dt, false)});
    check_parity("conv2d, x grad only", no_bias, {leaf({2, 5, 5, 6}, 15, dt), leaf({6, 3, 3}, 16, dt, false)});
    check_parity("conv2d of an NCHW view, transposed weight",
                 [](const std::vector<Tensor>& in) {
                   return conv2d_depthwise(in[0].permute({0, 2, 3, 1}), in[1].transpose(1, 2), in[2]);
                 },
                 {leaf({2, 70, 7, 7}, 17, dt), leaf({70, 3, 3}, 18, dt), leaf({70}, 19, dt)}, true, long_sum_tol(dt),
                 long_sum_tol(dt));
    // VMamba's first stage at batch 16: 16·14·14 pixels (49 chunks), 96 channels (3 tiles)
    check_parity("conv2d (16, 14, 14, 96) k 3", with_bias,
                 {leaf({16, 14, 14, 96}, 20, dt), leaf({96, 3, 3}, 21, dt), leaf({96}, 22, dt)}, true,
                 long_sum_tol(dt), long_sum_tol(dt));
  }
}
