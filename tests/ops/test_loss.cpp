// tests/ops/test_loss.cpp — cross_entropy (fused with log_softmax) and mse_loss: values against
// formulas computed here in double, ignore_index and label smoothing rules, reductions, huge
// logits, the backward's formula, PyTorch goldens and error messages, on every device; gradcheck
// in float64 (CPU), and the CUDA kernels against the CPU for every reduction and layout (parity).
#include <cmath>

#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
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

// PyTorch's rule written out per row in double: (1 − ε)(lse − x_t) + (ε/C) Σ_c (lse − x_c).
std::vector<double> row_losses(const Tensor& logits, const std::vector<int64_t>& target, int64_t ignore,
                               double eps) {
  const int64_t c = logits.shape().back();
  const std::vector<double> x = logits.to_vector<double>();
  std::vector<double> out;
  for (size_t r = 0; r < target.size(); ++r) {
    if (target[r] == ignore) {
      out.push_back(0);
      continue;
    }
    double m = -INFINITY, s = 0, smooth = 0;
    for (int64_t k = 0; k < c; ++k) m = std::max(m, x[r * c + k]);
    for (int64_t k = 0; k < c; ++k) s += std::exp(x[r * c + k] - m);
    const double lse = m + std::log(s);
    for (int64_t k = 0; k < c; ++k) smooth += lse - x[r * c + k];
    out.push_back((1 - eps) * (lse - x[r * c + target[r]]) + eps / c * smooth);
  }
  return out;
}

}  // namespace

TEST_CASE("cross_entropy: values, reductions, ignore_index and label smoothing") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor one = from_vector<float>({1, 2, 3}, {1, 3}, dev);
      const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
      CHECK(cross_entropy(one, from_vector<int64_t>({2}, {1}, dev)).item() == doctest::Approx(lse - 3));
      CHECK(cross_entropy(one, from_vector<int64_t>({0}, {1}, dev)).item() == doctest::Approx(lse - 1));

      Tensor logits = randn_leaf({6, 5}, 7, false, DType::f64).to(dev) * 2.0;
      const std::vector<int64_t> t = {4, 0, -100, 2, 2, -100};
      Tensor target = from_vector<int64_t>(t, {6}, dev);
      for (double eps : {0.0, 0.1, 0.35}) {
        INFO("label_smoothing ", eps);
        const std::vector<double> rows = row_losses(logits, t, -100, eps);
        double total = 0;
        for (double v : rows) total += v;
        CHECK(cross_entropy(logits, target, -100, eps, Reduction::sum).item() == doctest::Approx(total));
        // mean divides by the 4 targets that are not ignored, not by 6
        CHECK(cross_entropy(logits, target, -100, eps).item() == doctest::Approx(total / 4));
        Tensor none = cross_entropy(logits, target, -100, eps, Reduction::none);
        CHECK(none.shape() == Shape{6});
        CHECK_CLOSE(none, from_vector<double>(rows, {6}), 1e-12, 1e-12);
      }
      // A different ignore_index: -100 is then an ordinary (invalid) class, 2 is skipped.
      Tensor t2 = from_vector<int64_t>({4, 0, 1, 2, 2, 3}, {6}, dev);
      const std::vector<double> rows2 = row_losses(logits, {4, 0, 1, 2, 2, 3}, 2, 0.0);
      CHECK(cross_entropy(logits, t2, 2).item() ==
            doctest::Approx((rows2[0] + rows2[1] + rows2[2] + rows2[5]) / 4));
      // (B, T, C) logits with (B, T) targets: the class dim is last.
      Tensor seq = logits.reshape({2, 3, 5});
      Tensor seq_t = from_vector<int64_t>({4, 0, 1, 2, 2, 3}, {2, 3}, dev);
      CHECK(cross_entropy(seq, seq_t, -100, 0.0, Reduction::none).shape() == Shape{2, 3});
      CHECK(cross_entropy(seq, seq_t).item() == doctest::Approx(cross_entropy(logits, seq_t.reshape({6})).item()));
    }
  }
}

TEST_CASE("cross_entropy: every target ignored gives NaN for mean (as PyTorch) and zero gradient") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor logits = randn_leaf({3, 4}, 2, true, DType::f64, dev);
      Tensor target = from_vector<int64_t>({-100, -100, -100}, {3}, dev);
      Tensor loss = cross_entropy(logits, target);
      CHECK(std::isnan(loss.item()));
      CHECK(cross_entropy(logits, target, -100, 0.0, Reduction::sum).item() == 0);
      loss.backward();
      CHECK(logits.grad().to_vector<double>() == std::vector<double>(12, 0.0));
    }
  }
}

TEST_CASE("cross_entropy is finite for huge logits, in float32") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor logits = from_vector<float>({1e4f, -1e4f, 0, 3e38f, -3e38f, 1}, {2, 3}, dev);
      logits = logits.detach().requires_grad_();
      Tensor none = cross_entropy(logits, from_vector<int64_t>({0, 2}, {2}, dev), -100, 0.0, Reduction::none);
      const auto v = none.to_vector<float>();
      CHECK(v[0] == 0);
      CHECK(v[1] == doctest::Approx(3e38));
      Tensor loss = cross_entropy(logits, from_vector<int64_t>({1, 0}, {2}, dev), -100, 0.1);
      CHECK(std::isfinite(loss.item()));
      CHECK(cross_entropy(logits.detach(), from_vector<int64_t>({1, 0}, {2}, dev)).item() == doctest::Approx(1e4));
      loss.backward();
      for (float g : logits.grad().to_vector<float>()) CHECK(std::isfinite(g));
    }
  }
}

TEST_CASE("cross_entropy backward is softmax minus the smoothed one-hot, over the count") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor logits = randn_leaf({4, 3}, 9, true, DType::f64, dev);
      Tensor target = from_vector<int64_t>({2, -100, 0, 1}, {4}, dev);
      const double eps = 0.3;
      cross_entropy(logits, target, -100, eps).backward();
      Tensor p = softmax(logits.detach(), -1);
      const auto pv = p.to_vector<double>();
      const auto gv = logits.grad().to_vector<double>();
      const std::vector<int64_t> t = {2, -100, 0, 1};
      for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 3; ++k) {
          const double expected = t[r] < 0 ? 0.0 : (pv[r * 3 + k] - eps / 3 - (k == t[r] ? 1 - eps : 0.0)) / 3.0;
          CHECK(gv[r * 3 + k] == doctest::Approx(expected).epsilon(1e-12));
        }
    }
  }
}

TEST_CASE("gradcheck: cross_entropy for every reduction, with ignore_index and smoothing") {
  Tensor logits = randn_leaf({5, 4}, 3);
  Tensor transposed = randn_leaf_transposed({5, 4}, 4);
  Tensor seq = randn_leaf({2, 3, 4}, 5);
  Tensor sliced = randn_leaf({5, 8}, 6, false).slice(1, 0, 8, 2).detach().requires_grad_();  // (5, 4), stride 2
  Tensor target = from_vector<int64_t>({3, -100, 0, 1, 3}, {5});
  Tensor seq_target = from_vector<int64_t>({1, 2, 0, -100, 3, 3}, {2, 3});
  for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none}) {
    for (double eps : {0.0, 0.2}) {
      INFO("reduction ", static_cast<int>(red), " smoothing ", eps);
      CHECK_GRADCHECK([&](auto& in) { return cross_entropy(in[0], target, -100, eps, red); }, {logits});
      CHECK_GRADCHECK([&](auto& in) { return cross_entropy(in[0], target, -100, eps, red); }, {transposed});
      CHECK_GRADCHECK([&](auto& in) { return cross_entropy(in[0], target, -100, eps, red); }, {sliced});
      CHECK_GRADCHECK([&](auto& in) { return cross_entropy(in[0], seq_target, -100, eps, red); }, {seq});
    }
  }
  // Through a composition: the upstream gradient of the fused op is not 1.
  CHECK_GRADCHECK([&](auto& in) { return cross_entropy(in[0] * in[0], target) * 3.0; }, {logits});
}

TEST_CASE("mse_loss: values and reductions") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2}, dev);
      Tensor b = from_vector<float>({1, 0, 6, 3}, {2, 2}, dev);
      CHECK(mse_loss(a, b).item() == doctest::Approx(14.0 / 4));
      CHECK(mse_loss(a, b, Reduction::sum).item() == 14);
      CHECK(mse_loss(a, b, Reduction::none).to_vector<float>() == std::vector<float>{0, 4, 9, 1});
      CHECK(mse_loss(a.t(), b.t(), Reduction::none).to_vector<float>() == std::vector<float>{0, 9, 4, 1});
    }
  }
}

TEST_CASE("gradcheck: mse_loss for every reduction, on contiguous and transposed inputs") {
  Tensor x = randn_leaf({3, 4}, 1), y = randn_leaf({3, 4}, 2);
  Tensor xt = randn_leaf_transposed({3, 4}, 3);
  for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none}) {
    CHECK_GRADCHECK([red](auto& in) { return mse_loss(in[0], in[1], red); }, {x, y});
    CHECK_GRADCHECK([red](auto& in) { return mse_loss(in[0], in[1], red); }, {xt, y});
  }
  Tensor fixed = randn_leaf({3, 4}, 4, false);
  CHECK_GRADCHECK([&](auto& in) { return mse_loss(in[0], fixed); }, {x});
}

TEST_CASE("loss goldens match PyTorch") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto ce = [&](const char* name, int64_t ignore, double eps, Reduction red) {
        check_golden("loss", name,
                     [&](GoldenInputs& in) { return cross_entropy(in.at("x"), in.at("t"), ignore, eps, red); }, 1e-5,
                     1e-4, dev);
      };
      ce("ce_mean", -100, 0.0, Reduction::mean);
      ce("ce_sum", -100, 0.0, Reduction::sum);
      ce("ce_none", -100, 0.0, Reduction::none);
      ce("ce_ignore_mean", -100, 0.0, Reduction::mean);
      ce("ce_smooth_mean", -100, 0.1, Reduction::mean);
      ce("ce_smooth_ignore_mean", -100, 0.2, Reduction::mean);
      ce("ce_smooth_ignore_sum", -100, 0.2, Reduction::sum);
      ce("ce_smooth_ignore_none", -100, 0.3, Reduction::none);
      ce("ce_ignore_index_3", 3, 0.1, Reduction::mean);
      ce("ce_3d", -100, 0.05, Reduction::mean);
      ce("ce_f64", -100, 0.0, Reduction::mean);
      auto mse = [&](const char* name, Reduction red) {
        check_golden("loss", name, [&](GoldenInputs& in) { return mse_loss(in.at("a"), in.at("b"), red); }, 1e-5,
                     1e-4, dev);
      };
      mse("mse_mean", Reduction::mean);
      mse("mse_sum", Reduction::sum);
      mse("mse_none", Reduction::none);
    }
  }
}

TEST_CASE("loss errors name the op, the bad value and the shapes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto ids = [dev](const std::vector<int64_t>& v) {
        return from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}, dev);
      };
      auto zeros_on = [dev](const Shape& shape, DType dt = DType::f32) {
        return zeros(shape, {.dtype = dt, .device = dev});
      };
      Tensor logits = zeros_on({3, 4});
      CHECK_THROWS_WITH_AS(
          cross_entropy(logits, ids({0, 4, 1})),
          doctest::Contains("cross_entropy: target 4 (at flat position 1) is out of range for 4 classes"), Error);
      CHECK_THROWS_WITH_AS(cross_entropy(logits, ids({0, -1, 1})), doctest::Contains("target -1"), Error);
      // -100 is only skipped when it is the ignore_index.
      CHECK_THROWS_WITH_AS(cross_entropy(logits, ids({0, -100, 1}), 2), doctest::Contains("target -100"), Error);
      CHECK_THROWS_WITH_AS(cross_entropy(logits, from_vector<float>({0, 1, 1}, {3}, dev)),
                           doctest::Contains("cross_entropy: target must be int64, got float32"), Error);
      CHECK_THROWS_WITH_AS(cross_entropy(logits, ids({0, 1})), doctest::Contains("cross_entropy: target int64 (2,)"),
                           Error);
      CHECK_THROWS_WITH_AS(cross_entropy(from_vector<int64_t>({0, 1}, {1, 2}, dev), ids({0})),
                           doctest::Contains("cross_entropy: expected a floating-point tensor"), Error);
      CHECK_THROWS_WITH_AS(cross_entropy(logits, ids({0, 1, 1}), -100, 1.5), doctest::Contains("label_smoothing"),
                           Error);
      CHECK_THROWS_WITH_AS(mse_loss(zeros_on({2, 3}), zeros_on({3, 2})),
                           doctest::Contains("mse_loss: input float32 (2, 3)"), Error);
      CHECK_THROWS_WITH_AS(mse_loss(zeros_on({2}), zeros_on({2}, DType::f64)),
                           doctest::Contains("mse_loss: dtype mismatch"), Error);
      CHECK_THROWS_WITH_AS(mse_loss(ids({1}), ids({1})),
                           doctest::Contains("mse_loss: expected a floating-point tensor"), Error);
    }
  }
}

TEST_CASE("parity: cross_entropy and mse_loss, every reduction, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    for (int64_t c : {1, 7, 130, 1000}) {
      std::vector<int64_t> t;
      for (int64_t r = 0; r < 9; ++r) t.push_back(r % 4 == 2 ? -100 : (r * 37) % c);
      const Tensor target = from_vector<int64_t>(t, {9});
      const Tensor logits = leaf({9, c}, 110, dtype);
      for (double eps : {0.0, 0.1})
        for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none})
          check_parity(fmt::format("cross_entropy {} C={} ε={} reduction {}", dtype_name(dtype), c, eps,
                                   static_cast<int>(red)),
                       [&](const std::vector<Tensor>& in) {
                         return cross_entropy(in[0] * 2.0, target.to(in[0].device()), -100, eps, red);
                       },
                       {logits});
      check_parity(fmt::format("cross_entropy of transposed logits C={}", c), [&](const std::vector<Tensor>& in) {
        return cross_entropy(in[0].t(), target.to(in[0].device()), -100, 0.2);
      }, {leaf({c, 9}, 111, dtype)});
    }
    const Tensor seq_target = from_vector<int64_t>({1, 2, 0, 3, 6, 3}, {2, 3});
    check_parity("cross_entropy (B, T, C) with ignore_index 3", [&](const std::vector<Tensor>& in) {
      return cross_entropy(in[0], seq_target.to(in[0].device()), 3, 0.05);
    }, {leaf({2, 3, 7}, 112, dtype)});
    const Tensor a = leaf({5, 130}, 113, dtype);
    for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none})
      check_parity(fmt::format("mse_loss {} reduction {}", dtype_name(dtype), static_cast<int>(red)),
                   [red](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1].t(), red); },
                   {a, leaf({130, 5}, 115, dtype)});
    check_parity("mse_loss of one element", [](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); },
                 {leaf({1}, 116, dtype), leaf({1}, 117, dtype)});
    check_parity("mse_loss, target without gradient", [](const std::vector<Tensor>& in) {
      return mse_loss(in[0], in[1], Reduction::sum);
    }, {a, leaf({5, 130}, 118, dtype, false)});
  }
}
