// tests/ops/test_softmax.cpp — softmax and log_softmax: hand-computed values, every dim (row and
// column kernels) against a double reference, numerical stability (huge logits, −inf masks, NaN),
// PyTorch goldens and errors, on every device; the float32 accuracy of the CPU's vectorised exp,
// gradcheck in float64 (CPU), and the CUDA kernels against the CPU on every dim and layout (parity).
#include <cmath>
#include <limits>

#include "ops/elementwise.h"
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

// softmax / log_softmax along dim computed in double, element by element, from x's values.
Tensor reference(const Tensor& x, int dim, bool log) {
  const Shape& shape = x.shape();
  const int d = dim < 0 ? dim + x.ndim() : dim;
  int64_t inner = 1;
  for (int k = d + 1; k < x.ndim(); ++k) inner *= shape[k];
  const int64_t c = shape[d], outer = x.numel() / (c * inner);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out(v.size());
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t b = 0; b < inner; ++b) {
      auto at = [&](int64_t k) { return (a * c + k) * inner + b; };
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < c; ++k) m = std::max(m, v[at(k)]);
      for (int64_t k = 0; k < c; ++k) s += std::exp(v[at(k)] - m);
      for (int64_t k = 0; k < c; ++k) out[at(k)] = log ? v[at(k)] - m - std::log(s) : std::exp(v[at(k)] - m) / s;
    }
  return from_vector<double>(out, shape);
}

Tensor sliced_leaf(const Shape& shape, uint64_t seed) {
  Shape wide = shape;
  wide.back() *= 2;
  return randn_leaf(wide, seed, false).slice(-1, 1, wide.back(), 2).detach().requires_grad_();
}

}  // namespace

TEST_CASE("softmax and log_softmax: values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({1, 2, 3, 0, 0, 0}, {2, 3}, dev);
      const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
      Tensor expected = from_vector<double>({std::exp(1.0) / s, std::exp(2.0) / s, std::exp(3.0) / s, 1.0 / 3,
                                             1.0 / 3, 1.0 / 3},
                                            {2, 3});
      CHECK_CLOSE(softmax(x), expected.to(DType::f32), 1e-7, 1e-6);
      CHECK_CLOSE(log_softmax(x, 1), log(expected).to(DType::f32), 1e-6, 1e-6);
      // Along dim 0 each column normalises on its own.
      const auto by_col = softmax(x, 0).to_vector<float>();
      CHECK(by_col[0] + by_col[3] == doctest::Approx(1.0f));
      CHECK(by_col[0] == doctest::Approx(std::exp(1.0) / (std::exp(1.0) + 1.0)));
      CHECK(softmax(scalar(3.0, {.device = dev})).item() == 1.0);
      CHECK(log_softmax(scalar(3.0, {.device = dev})).item() == 0.0);
    }
  }
}

TEST_CASE("softmax along every dim matches a double reference (row and column kernels)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // (7, 33, 70) floats: > 32768 elements, so the threaded loops run too; B > kBlock columns too.
      for (DType dtype : {DType::f32, DType::f64}) {
        Tensor x = randn_leaf({7, 33, 70}, 3, false, dtype, dev) * 4.0;
        const double tol = dtype == DType::f32 ? 2e-6 : 1e-12;
        for (int dim : {0, 1, 2, -1}) {
          for (bool log : {false, true}) {
            INFO(dtype_name(dtype), " dim ", dim, log ? " log_softmax" : " softmax");
            Tensor got = log ? log_softmax(x, dim) : softmax(x, dim);
            CHECK(got.is_contiguous());
            CHECK_CLOSE(got, reference(x, dim, log).to(dtype), tol, tol);
          }
        }
        // Strided input: copied once, same answer.
        Tensor t = x.transpose(0, 2);
        CHECK_CLOSE(softmax(t, -1), reference(t, -1, false).to(dtype), tol, tol);
      }
      // Long rows (vocabulary-sized) with tails that are not a multiple of the vector width.
      Tensor wide = randn_leaf({5, 50021}, 4, false, DType::f32, dev) * 3.0;
      CHECK_CLOSE(softmax(wide), reference(wide, -1, false).to(DType::f32), 1e-8, 2e-6);
      CHECK_CLOSE(log_softmax(wide), reference(wide, -1, true).to(DType::f32), 2e-5, 2e-6);
    }
  }
}

TEST_CASE("softmax is numerically stable") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor big = from_vector<float>({1000, 1001}, {2}, dev);
      const auto p = softmax(big).to_vector<float>();
      CHECK(std::isfinite(p[0]));
      CHECK(p[0] == doctest::Approx(1 / (1 + std::exp(1.0))));
      CHECK(p[1] == doctest::Approx(1 / (1 + std::exp(-1.0))));
      const auto lp = log_softmax(from_vector<float>({-1e30f, 1e30f, 0}, {3}, dev)).to_vector<float>();
      CHECK(lp[1] == 0);
      CHECK(lp[0] == -2e30f);
      // A −inf logit (an attention mask) gets exactly zero probability.
      const float inf = std::numeric_limits<float>::infinity();
      const auto masked = softmax(from_vector<float>({0, -inf, 0, -inf}, {4}, dev)).to_vector<float>();
      CHECK(masked == std::vector<float>{0.5f, 0, 0.5f, 0});
      const auto tiny = softmax(from_vector<float>({0, -100}, {2}, dev)).to_vector<float>();
      CHECK(tiny[1] >= 0);  // e^-100 = 3.7e-44 is a float32 denormal: kept, as PyTorch keeps it
      CHECK(tiny[1] < 1e-43f);
      CHECK(tiny[0] == 1.0f);
      // NaN in, NaN out (as PyTorch), for that row only.
      const auto nan_rows = softmax(from_vector<float>({1, NAN, 0, 1, 2, 3}, {2, 3}, dev)).to_vector<float>();
      CHECK(std::isnan(nan_rows[0]));
      CHECK(std::isnan(nan_rows[2]));
      CHECK(std::isfinite(nan_rows[4]));
    }
  }
}

TEST_CASE("cpu kernel: the float32 exp behind softmax is within a few ulp of the library exp") {
  std::vector<float> xs;
  for (float v = -87.0f; v <= 0.0f; v += 0.0137f) xs.push_back(v);
  xs.push_back(0.0f);
  // log_softmax of [v, 0, ..] uses exp(v) only through the sum; softmax([v, 0]) = exp(v) / (1 + exp(v)).
  for (float v : xs) {
    const auto p = softmax(from_vector<float>({v, 0.0f}, {2})).to_vector<float>();
    const double e = std::exp(static_cast<double>(v));
    CHECK(p[0] == doctest::Approx(e / (1 + e)).epsilon(5e-7).scale(0));
  }
}

TEST_CASE("gradcheck: softmax and log_softmax on every dim and layout") {
  Tensor a = randn_leaf({3, 4, 5}, 1);
  Tensor t = randn_leaf_transposed({4, 6}, 2);
  Tensor s = sliced_leaf({3, 5}, 3);
  for (int dim : {0, 1, -1}) {
    INFO("dim ", dim);
    CHECK_GRADCHECK([dim](auto& in) { return softmax(in[0], dim); }, {a});
    CHECK_GRADCHECK([dim](auto& in) { return log_softmax(in[0], dim); }, {a});
  }
  for (const Tensor& x : {t, s}) {
    INFO("input ", x.describe());
    CHECK_GRADCHECK([](auto& in) { return softmax(in[0], -1); }, {x});
    CHECK_GRADCHECK([](auto& in) { return log_softmax(in[0], 0); }, {x});
  }
  // Composed with another op, so the backward gets a non-trivial, strided upstream gradient.
  CHECK_GRADCHECK([](auto& in) { return softmax(in[0], 1).transpose(0, 2) * in[0].transpose(0, 2); }, {a});
}

TEST_CASE("softmax goldens match PyTorch") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto run = [&](const char* name, bool log, int dim) {
        check_golden("softmax", name,
                     [&](GoldenInputs& in) { return log ? log_softmax(in.at("x"), dim) : softmax(in.at("x"), dim); },
                     1e-6, 1e-5, dev);
      };
      run("softmax_last", false, -1);
      run("softmax_dim1", false, 1);
      run("softmax_dim0", false, 0);
      run("log_softmax_last", true, -1);
      run("log_softmax_dim1", true, 1);
      run("softmax_wide", false, -1);
      run("log_softmax_wide", true, -1);
      run("softmax_f64", false, -1);
    }
  }
}

TEST_CASE("softmax errors name the op and the input") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = zeros({2, 3}, {.device = dev});
      CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("softmax: dim 2 out of range"), Error);
      CHECK_THROWS_WITH_AS(log_softmax(x, -3), doctest::Contains("log_softmax: dim -3 out of range"), Error);
      Tensor ints = from_vector<int64_t>({1, 2}, {2}, dev);
      CHECK_THROWS_WITH_AS(softmax(ints), doctest::Contains("softmax: expected a floating-point tensor, got int64"),
                           Error);
      CHECK_THROWS_WITH_AS(log_softmax(Tensor()), doctest::Contains("log_softmax: input 0 is an undefined tensor"),
                           Error);
    }
  }
}

TEST_CASE("parity: softmax and log_softmax on every dim and layout, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes)
    for (bool log : {false, true}) {
      auto op = [log](const Tensor& t, int dim) { return log ? log_softmax(t, dim) : softmax(t, dim); };
      const std::string name = std::string(log ? "log_softmax " : "softmax ") + dtype_name(dtype);
      for (int64_t c : {1, 7, 130, 1000})  // rows: the row kernel
        check_parity(fmt::format("{} rows of {}", name, c),
                     [op](const std::vector<Tensor>& in) { return op(in[0] * 3.0, -1); }, {leaf({5, c}, 100, dtype)});
      const Tensor x = leaf({4, 130, 7}, 101, dtype);
      for (int dim : {0, 1})  // the column kernel
        check_parity(fmt::format("{} dim {}", name, dim),
                     [op, dim](const std::vector<Tensor>& in) { return op(in[0], dim); }, {x});
      check_parity(name + " of a transpose",
                   [op](const std::vector<Tensor>& in) { return op(in[0].transpose(0, 2), -1); }, {x});
      check_parity(name + " of a step slice", [op](const std::vector<Tensor>& in) {
        return op(in[0].slice(1, 0, 130, 3), 1);
      }, {x});
    }
}
