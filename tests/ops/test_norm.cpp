// tests/ops/test_norm.cpp — layer_norm and rms_norm: hand-computed values, the fused kernels
// against the same formula composed from sieve ops (forward and all three gradients, on a shape
// big enough for the threaded loops and their per-thread partial sums), PyTorch goldens (rms_norm
// written by hand in torch) and errors, on every device; gradcheck in float64 with and without
// weight/bias (CPU), and the CUDA kernels' outputs and gradients against the CPU's (parity).
#include <cmath>

#include "ops/elementwise.h"
#include "ops/norm.h"
#include "ops/reduce.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::kFloatTypes;
using test::leaf;
using test::randn_leaf;
using test::randn_leaf_transposed;

namespace {

// The definitions, from primitive ops (their gradients come from the primitives' backward).
Tensor layer_norm_composed(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor y = (x - mean(x, {-1}, true)) * rsqrt(var(x, {-1}, 0, true) + eps);
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

Tensor rms_norm_composed(const Tensor& x, const Tensor& w, double eps) {
  Tensor y = x * rsqrt(mean(x * x, {-1}, true) + eps);
  return w.defined() ? y * w : y;
}

}  // namespace

TEST_CASE("layer_norm and rms_norm: values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // Row [1, 2, 3, 6]: mean 3, population variance 3.5.
      Tensor x = from_vector<float>({1, 2, 3, 6, 5, 5, 5, 5}, {2, 4}, dev);
      const double r = 1 / std::sqrt(3.5 + 1e-5);
      Tensor plain = layer_norm(x, Tensor(), Tensor());
      CHECK_CLOSE(plain, from_vector<double>({-2 * r, -1 * r, 0, 3 * r, 0, 0, 0, 0}, {2, 4}).to(DType::f32), 1e-6,
                  1e-6);
      Tensor w = from_vector<float>({1, 2, 3, 4}, {4}, dev), b = from_vector<float>({0, 1, 0, -1}, {4}, dev);
      CHECK_CLOSE(layer_norm(x, w, b),
                  from_vector<double>({-2 * r, -2 * r + 1, 0, 12 * r - 1, 0, 1, 0, -1}, {2, 4}).to(DType::f32), 1e-6,
                  1e-6);
      // RMS of [1, 2, 3, 6] is sqrt(12.5).
      const double q = 1 / std::sqrt(12.5 + 1e-6), q2 = 1 / std::sqrt(25 + 1e-6);
      CHECK_CLOSE(rms_norm(x, w),
                  from_vector<double>({q, 4 * q, 9 * q, 24 * q, 5 * q2, 10 * q2, 15 * q2, 20 * q2}, {2, 4})
                      .to(DType::f32),
                  1e-6, 1e-6);
      CHECK(rms_norm(x, Tensor()).to_vector<float>()[7] == doctest::Approx(5 * q2));
      // A constant row normalises to 0 (plus bias) rather than NaN, thanks to eps.
      CHECK(layer_norm(x, w, b).to_vector<float>()[5] == 1);
      CHECK(layer_norm(x.reshape({2, 1, 4}), w, b).shape() == Shape{2, 1, 4});
    }
  }
}

TEST_CASE("layer_norm keeps its statistics accurate when the mean dwarfs the spread") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({10000.5f, 10001.5f, 10002.5f, 10003.5f}, {1, 4}, dev);
      const double r = 1 / std::sqrt(1.25 + 1e-5);
      CHECK_CLOSE(layer_norm(x, Tensor(), Tensor()),
                  from_vector<double>({-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r}, {1, 4}).to(DType::f32), 1e-5, 1e-5);
    }
  }
}

TEST_CASE("fused norms match the composed formulas, forward and backward, on large inputs") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // (300, 257): > 32768 elements so rows run on every thread; 257 leaves a vector tail.
      const Shape shape{300, 257};
      auto leaf_on = [dev](const Shape& s, uint64_t seed, bool grad = true, DType dt = DType::f64) {
        return randn_leaf(s, seed, grad, dt, dev);
      };
      for (bool rms : {false, true}) {
        for (bool affine : {true, false}) {
          const std::string label = std::string(rms ? "rms_norm" : "layer_norm") + (affine ? " affine" : " plain");
          INFO(label);
          Tensor x1 = leaf_on(shape, 1), x2 = leaf_on(shape, 1);
          Tensor w1 = affine ? leaf_on({257}, 2) : Tensor(), w2 = affine ? leaf_on({257}, 2) : Tensor();
          Tensor b1 = affine && !rms ? leaf_on({257}, 3) : Tensor(), b2 = affine && !rms ? leaf_on({257}, 3) : Tensor();
          Tensor g = leaf_on(shape, 4, false);
          Tensor fused = rms ? rms_norm(x1, w1, 1e-6) : layer_norm(x1, w1, b1, 1e-5);
          Tensor composed = rms ? rms_norm_composed(x2, w2, 1e-6) : layer_norm_composed(x2, w2, b2, 1e-5);
          CHECK_CLOSE(fused, composed, 1e-10, 1e-10);
          fused.backward(g);
          composed.backward(g);
          CHECK_CLOSE(x1.grad(), x2.grad(), 1e-10, 1e-9);
          if (w1.defined()) CHECK_CLOSE(w1.grad(), w2.grad(), 1e-9, 1e-10);
          if (b1.defined()) CHECK_CLOSE(b1.grad(), b2.grad(), 1e-9, 1e-10);
        }
      }
      // float32 against float64: the per-thread partial sums of dweight/dbias lose nothing visible.
      Tensor x32 = leaf_on({4096, 64}, 5, true, DType::f32);
      Tensor w32 = leaf_on({64}, 6, true, DType::f32), b32 = leaf_on({64}, 7, true, DType::f32);
      Tensor g32 = leaf_on({4096, 64}, 8, false, DType::f32);
      layer_norm(x32, w32, b32).backward(g32);
      Tensor x64 = x32.detach().to(DType::f64).requires_grad_();
      Tensor w64 = w32.detach().to(DType::f64).requires_grad_(), b64 = b32.detach().to(DType::f64).requires_grad_();
      layer_norm(x64, w64, b64).backward(g32.to(DType::f64));
      CHECK_CLOSE(w32.grad(), w64.grad().to(DType::f32), 1e-4, 1e-5);
      CHECK_CLOSE(b32.grad(), b64.grad().to(DType::f32), 1e-4, 1e-5);
      CHECK_CLOSE(x32.grad(), x64.grad().to(DType::f32), 1e-5, 1e-4);
    }
  }
}

TEST_CASE("gradcheck: layer_norm and rms_norm with and without weight and bias") {
  Tensor x = randn_leaf({3, 4, 6}, 1);
  Tensor xt = randn_leaf_transposed({5, 6}, 2);
  Tensor xs = randn_leaf({4, 12}, 7, false).slice(1, 1, 12, 2).detach().requires_grad_();  // (4, 6), stride 2
  Tensor w = randn_leaf({6}, 3), b = randn_leaf({6}, 4);
  for (const Tensor& in : {x, xt, xs}) {
    INFO("x ", in.describe(), " contiguous ", in.is_contiguous());
    CHECK_GRADCHECK([](auto& v) { return layer_norm(v[0], v[1], v[2]); }, {in, w, b});
    CHECK_GRADCHECK([](auto& v) { return layer_norm(v[0], Tensor(), Tensor(), 1e-3); }, {in});
    CHECK_GRADCHECK([](auto& v) { return layer_norm(v[0], v[1], Tensor()); }, {in, w});
    CHECK_GRADCHECK([](auto& v) { return layer_norm(v[0], Tensor(), v[1]); }, {in, b});
    CHECK_GRADCHECK([](auto& v) { return rms_norm(v[0], v[1]); }, {in, w});
    CHECK_GRADCHECK([](auto& v) { return rms_norm(v[0], Tensor(), 1e-4); }, {in});
  }
  // Only weight and bias require grad: dx is still right where it flows on (x is an op output).
  Tensor frozen_x = randn_leaf({4, 6}, 5, false);
  CHECK_GRADCHECK([&](auto& v) { return layer_norm(frozen_x * 2.0, v[0], v[1]); }, {w, b});
  CHECK_GRADCHECK([](auto& v) { return layer_norm(v[0] * v[0], Tensor(), Tensor()); }, {randn_leaf({4, 6}, 6)});
}

TEST_CASE("norm goldens match PyTorch") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto opt = [](GoldenInputs& in, const char* key) { return in.count(key) ? in.at(key) : Tensor(); };
      auto ln = [&](const char* name, double eps) {
        check_golden("norm", name,
                     [&](GoldenInputs& in) { return layer_norm(in.at("x"), opt(in, "w"), opt(in, "b"), eps); }, 1e-5,
                     1e-4, dev);
      };
      ln("layer_norm_affine", 1e-5);
      ln("layer_norm_plain", 1e-5);
      ln("layer_norm_weight_only", 1e-3);
      ln("layer_norm_wide", 1e-5);
      ln("layer_norm_f64", 1e-5);
      check_golden("norm", "rms_norm_weight", [&](GoldenInputs& in) { return rms_norm(in.at("x"), in.at("w"), 1e-6); },
                   1e-5, 1e-4, dev);
      check_golden("norm", "rms_norm_plain", [&](GoldenInputs& in) { return rms_norm(in.at("x"), Tensor(), 1e-5); },
                   1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("norm errors name the op, the shapes and the dtypes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto zeros_on = [dev](const Shape& shape, DType dt = DType::f32) {
        return zeros(shape, {.dtype = dt, .device = dev});
      };
      Tensor x = zeros_on({2, 4});
      CHECK_THROWS_WITH_AS(layer_norm(x, zeros_on({3}), Tensor()),
                           doctest::Contains("layer_norm: weight must have shape (4,) to match the last dim of x"),
                           Error);
      CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), zeros_on({4, 1})),
                           doctest::Contains("layer_norm: bias must have shape"), Error);
      CHECK_THROWS_WITH_AS(rms_norm(x, zeros_on({4}, DType::f64)), doctest::Contains("rms_norm: dtype mismatch"),
                           Error);
      CHECK_THROWS_WITH_AS(layer_norm(from_vector<int64_t>({1, 2}, {1, 2}, dev), Tensor(), Tensor()),
                           doctest::Contains("layer_norm: expected a floating-point tensor, got int64"), Error);
      CHECK_THROWS_WITH_AS(rms_norm(scalar(1.0, {.device = dev}), Tensor()),
                           doctest::Contains("rms_norm: x must have at least 1 dim"), Error);
      CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), Tensor(), -1.0), doctest::Contains("layer_norm: eps"), Error);
    }
  }
}

TEST_CASE("parity: layer_norm and rms_norm with and without weight and bias, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const std::vector<Shape> shapes = {{5, 1}, {5, 7}, {3, 4, 130}, {2, 1000}, {700, 5}};  // 700 rows: many chunks
    for (const Shape& shape : shapes) {
      const int64_t c = shape.back();
      const Tensor x = leaf(shape, 120, dtype), w = leaf({c}, 121, dtype), b = leaf({c}, 122, dtype);
      const std::string where = fmt::format("{} {}", dtype_name(dtype), shape_str(shape));
      check_parity("layer_norm affine " + where,
                   [](const std::vector<Tensor>& in) { return layer_norm(in[0] * 2.0 + 1.0, in[1], in[2]); },
                   {x, w, b});
      check_parity("layer_norm plain " + where,
                   [](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor()); }, {x});
      check_parity("layer_norm weight only " + where,
                   [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], Tensor(), 1e-3); }, {x, w});
      check_parity("layer_norm, frozen weight " + where,
                   [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); },
                   {x, leaf({c}, 123, dtype, false), b});
      check_parity("rms_norm " + where, [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1]); }, {x, w});
      check_parity("rms_norm plain " + where, [](const std::vector<Tensor>& in) { return rms_norm(in[0], Tensor()); },
                   {x});
    }
    check_parity("layer_norm of a transpose", [](const std::vector<Tensor>& in) {
      return layer_norm(in[0].t(), in[1], in[2]);
    }, {leaf({130, 6}, 124, dtype), leaf({130}, 125, dtype), leaf({130}, 126, dtype)});
  }
}
