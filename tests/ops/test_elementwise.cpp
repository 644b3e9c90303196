// tests/ops/test_elementwise.cpp — binary (broadcasting), unary, where, masked_fill: values,
// gradcheck in float64 on contiguous, transposed and broadcast inputs, goldens and errors.
#include <cmath>

#include "ops/cpu/fastmath.h"
#include "ops/elementwise.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using test::randn_leaf;
using test::randn_leaf_transposed;

namespace {
using Fn = Tensor (*)(const Tensor&);
Tensor gelu_erf(const Tensor& x) { return gelu(x); }
Tensor gelu_tanh_form(const Tensor& x) { return gelu(x, GeluApprox::tanh); }
Tensor softplus_default(const Tensor& x) { return softplus(x); }
Tensor pow_cube(const Tensor& x) { return pow(x, 3.0); }
}  // namespace

TEST_CASE("binary ops broadcast both ways") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor col = from_vector<float>({1, 2, 3}, {3, 1}, dev);
      Tensor row = from_vector<float>({10, 20}, {1, 2}, dev);
      CHECK((col + row).to_vector<float>() == std::vector<float>{11, 21, 12, 22, 13, 23});
      CHECK((col - row).shape() == Shape{3, 2});
      CHECK((row * col).to_vector<float>() == std::vector<float>{10, 20, 20, 40, 30, 60});
      CHECK((row / col).to_vector<float>()[5] == doctest::Approx(20.0f / 3.0f));
      CHECK((col * 2.0).to_vector<float>() == std::vector<float>{2, 4, 6});
      CHECK((1.0 - col).to_vector<float>() == std::vector<float>{0, -1, -2});
      CHECK((6.0 / col).to_vector<float>() == std::vector<float>{6, 3, 2});
      CHECK((-col).to_vector<float>() == std::vector<float>{-1, -2, -3});
      Tensor ints = from_vector<int64_t>({1, 2}, {2}, dev);
      CHECK((ints * ints + ints).to_vector<int64_t>() == std::vector<int64_t>{2, 6});
    }
  }
}

TEST_CASE("binary gradients reduce to each input's shape") {
  Tensor a = randn_leaf({3, 4}, 1);
  Tensor b_row = randn_leaf({4}, 2);
  Tensor b_col = randn_leaf({3, 1}, 3);
  Tensor at = randn_leaf_transposed({3, 4}, 4);
  Tensor pos = abs(randn_leaf({3, 4}, 5, false)) + 0.5;
  pos = pos.detach().requires_grad_();
  CHECK_GRADCHECK([](auto& in) { return in[0] + in[1]; }, {a, b_row});
  CHECK_GRADCHECK([](auto& in) { return in[1] - in[0]; }, {a, b_col});
  CHECK_GRADCHECK([](auto& in) { return in[0] * in[1]; }, {at, b_col});
  CHECK_GRADCHECK([](auto& in) { return in[0] / in[1]; }, {b_row, pos});
  CHECK_GRADCHECK([](auto& in) { return in[0] * in[0] - in[0] / 2.0; }, {at});
}

TEST_CASE("unary ops match the standard library in float64 and float32") {
  const std::vector<double> xs = {-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 25.0};
  Tensor x64 = from_vector<double>(xs, {8});
  Tensor x32 = x64.to(DType::f32);
  auto check = [&](Fn op, double (*ref)(double), double tol32) {
    tol32 = std::max(tol32, 1e-7);  // float32 rounding of the result itself
    const auto r64 = op(x64).to_vector<double>();
    const auto r32 = op(x32).to_vector<float>();
    for (size_t i = 0; i < xs.size(); ++i) {
      const double expected = ref(xs[i]);
      CHECK(r64[i] == doctest::Approx(expected).epsilon(1e-12));
      CHECK(r32[i] == doctest::Approx(expected).epsilon(tol32).scale(1e-30));
    }
  };
  check(exp, [](double v) { return std::exp(v); }, 3e-7);
  check(tanh, [](double v) { return std::tanh(v); }, 3e-7);
  check(sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, 3e-7);
  check(relu, [](double v) { return v > 0 ? v : 0.0; }, 0);
  check(abs, [](double v) { return std::fabs(v); }, 0);
  check(silu, [](double v) { return v / (1 + std::exp(-v)); }, 3e-7);
  check(gelu_tanh_form, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }, 1e-6);
  check(softplus_default, [](double v) { return v > 20 ? v : std::log1p(std::exp(v)); }, 3e-7);
  check(pow_cube, [](double v) { return v * v * v; }, 3e-7);
  // gelu's float32 kernel is accurate in absolute terms, within 1e-7·(1 + |x|) (ops/cpu/fastmath.h),
  // so its negative tail (−8e-4 at −3.5) is checked against that, not against a relative bound.
  const auto gelu64 = gelu_erf(x64).to_vector<double>();
  const auto gelu32 = gelu_erf(x32).to_vector<float>();
  const auto gelu_of = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(gelu64[i] == doctest::Approx(gelu_of(xs[i])).epsilon(1e-12));
    const double v32 = static_cast<float>(xs[i]);  // the float32 input itself (0.3 is not exact)
    CHECK(std::abs(gelu32[i] - gelu_of(v32)) <= 1e-7 * (1 + std::abs(v32)));
  }
  Tensor positive = from_vector<double>({0.5, 1.0, 4.0}, {3});
  CHECK(log(positive).to_vector<double>()[2] == doctest::Approx(std::log(4.0)));
  CHECK(sqrt(positive).to_vector<double>()[2] == 2.0);
  CHECK(rsqrt(positive).to_vector<double>()[2] == 0.5);
}

TEST_CASE("fast float32 softplus and log1p stay within their documented error") {
  double worst_softplus = 0, worst_log1p = 0;
  for (double v = -87.0; v <= 30.0; v += 1e-4) {
    const float x = static_cast<float>(v);
    const double ref = std::log1p(std::exp(static_cast<double>(x)));
    worst_softplus = std::max(worst_softplus, std::abs(static_cast<double>(cpu::softplus_fast(x)) - ref) / ref);
  }
  for (double v = 1e-12; v <= 1.0; v *= 1.0001) {
    const float t = static_cast<float>(v);
    const double ref = std::log1p(static_cast<double>(t));
    worst_log1p = std::max(worst_log1p, std::abs(static_cast<double>(cpu::log1p_unit(t)) - ref) / ref);
  }
  CHECK(worst_softplus < 2.5e-7);  // measured 2.1e-7
  CHECK(worst_log1p < 2e-7);       // measured 1.8e-7 over every float in [0, 1]
  CHECK(cpu::log1p_unit(0.0f) == 0.0f);
  CHECK(cpu::softplus_fast(INFINITY) == INFINITY);
  CHECK(cpu::softplus_fast(-INFINITY) == 0.0f);
  CHECK(std::isnan(cpu::softplus_fast(NAN)));
  CHECK(std::abs(cpu::softplus_fast(-100.0f) - std::exp(-100.0)) < 3e-45);  // a denormal, 2 ulp
}

TEST_CASE("fast float32 exp, normal CDF and GELU stay within their documented error") {
  double worst_exp = 0;
  for (double v = -87.0; v < 88.0; v += 0.0137) {
    const float x = static_cast<float>(v);
    const double e = std::exp(static_cast<double>(x));
    worst_exp = std::max(worst_exp, std::abs(static_cast<double>(cpu::exp_fast(x)) - e) / e);
  }
  CHECK(worst_exp < 2.5e-7);  // 2 ulp of float32 is 2.4e-7 relative
  CHECK(cpu::exp_fast(-1000.0f) == 0.0f);
  CHECK(cpu::exp_fast(-100.0f) == doctest::Approx(std::exp(-100.0)).epsilon(1e-3));  // a denormal
  CHECK(cpu::exp_fast(88.7f) == doctest::Approx(std::exp(double(88.7f))).epsilon(1e-6));      // just under FLT_MAX
  CHECK(std::isinf(cpu::exp_fast(1000.0f)));

  // The bounds documented in fastmath.h; a check of every float in [−10, 10] measured 3.4e-7,
  // 8.7e-8·(1 + |x|) and 2.8e-5. The grid runs into the tails, where the kernel selects 0.
  double worst_cdf = 0, worst_gelu = 0, worst_tail = 0;
  for (double v = -10.0; v <= 10.0; v += 1e-4) {
    const float x = static_cast<float>(v);
    const double xd = x;
    const double cdf = 0.5 * std::erfc(-xd / std::sqrt(2.0));
    const double cdf_error = std::abs(static_cast<double>(cpu::normal_cdf_fast(x)) - cdf);
    worst_cdf = std::max(worst_cdf, cdf_error);
    const double gelu_error = std::abs(static_cast<double>(cpu::gelu_fast(x)) - xd * cdf);
    worst_gelu = std::max(worst_gelu, gelu_error / (1 + std::abs(xd)));
    if (xd < 0 && xd > -cpu::kNormalTailCut) worst_tail = std::max(worst_tail, cdf_error / cdf);
  }
  CHECK(worst_cdf < 4e-7);    // absolute
  CHECK(worst_gelu < 1e-7);   // absolute, per (1 + |x|)
  CHECK(worst_tail < 4e-5);   // relative, Φ(x) for −5.5 < x < 0 (and so gelu there)
  CHECK(cpu::gelu_fast(INFINITY) == INFINITY);
  CHECK(cpu::gelu_fast(-INFINITY) == 0.0f);
  CHECK(std::isnan(cpu::gelu_fast(NAN)));
  CHECK(std::isnan(cpu::normal_cdf_fast(NAN)));
  CHECK(cpu::gelu_fast(-6.0f) == 0.0f);  // beyond the cut: the true value is −5.9e-9
  CHECK(cpu::gelu_fast(3e38f) == 3e38f);
}

TEST_CASE("every unary op passes gradcheck, also on transposed inputs") {
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"neg", neg},   {"exp", exp},         {"tanh", tanh},         {"sigmoid", sigmoid}, {"relu", relu},
      {"abs", abs},   {"gelu", gelu_erf},   {"gelu_tanh", gelu_tanh_form}, {"silu", silu},
      {"softplus", softplus_default}, {"pow3", pow_cube}};
  for (const auto& [name, op] : ops) {
    INFO(name);
    Fn f = op;
    CHECK_GRADCHECK([f](auto& in) { return f(in[0]); }, {randn_leaf({2, 5}, 11)});
    CHECK_GRADCHECK([f](auto& in) { return f(in[0]); }, {randn_leaf_transposed({3, 4}, 12)});
  }
  Tensor positive = (abs(randn_leaf({4, 3}, 13, false)) + 0.3).detach().requires_grad_();
  CHECK_GRADCHECK([](auto& in) { return log(in[0]); }, {positive});
  CHECK_GRADCHECK([](auto& in) { return sqrt(in[0]); }, {positive});
  CHECK_GRADCHECK([](auto& in) { return rsqrt(in[0]); }, {positive});
  CHECK_GRADCHECK([](auto& in) { return pow(in[0], -1.5); }, {positive});
  CHECK_GRADCHECK([](auto& in) { return softplus(in[0], 2.0, 1.0); }, {randn_leaf({6}, 14)});
}

TEST_CASE("contiguous, strided and broadcast paths agree on large tensors") {
  Tensor base = randn_leaf({300, 200}, 21, false, DType::f32);
  Tensor t = base.t();  // strided
  CHECK_CLOSE(gelu(t), gelu(t.contiguous()), 0, 0);
  CHECK_CLOSE(exp(t) * t, (exp(t.contiguous()) * t.contiguous()), 0, 0);
  Tensor bias = randn_leaf({300}, 22, false, DType::f32);
  Tensor expanded = bias.reshape({1, 300}).expand({200, 300}).contiguous();
  CHECK_CLOSE(t + bias, t.contiguous() + expanded, 0, 0);
  Tensor big = randn_leaf({1 << 20}, 23, false, DType::f32);  // one long row, split across threads
  CHECK_CLOSE(big * 3.0, big * full({1 << 20}, 3.0), 0, 0);
}

TEST_CASE("where and masked_fill select values and route gradients") {
  Tensor cond = from_vector<int64_t>({1, 0, 0, 1}, {2, 2});
  Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<float>({-1}, {1});
  CHECK(where(cond, a, b).to_vector<float>() == std::vector<float>{1, -1, -1, 4});
  CHECK(masked_fill(a, from_vector<float>({0, 1}, {2}), -9).to_vector<float>() == std::vector<float>{1, -9, 3, -9});
  Tensor c64 = from_vector<double>({1, 0, 1}, {3});
  CHECK_GRADCHECK([c64](auto& in) { return where(c64, in[0], in[1]); }, {randn_leaf({2, 3}, 31), randn_leaf({3}, 32)});
  CHECK_GRADCHECK([c64](auto& in) { return masked_fill(in[0], c64, 5.0); }, {randn_leaf_transposed({3, 3}, 33)});
  CHECK_THROWS_WITH_AS(masked_fill(a, ones({3}), 0), doctest::Contains("masked_fill: shapes (2, 2) and (3,) do not broadcast"), Error);
  CHECK_THROWS_WITH_AS(masked_fill(a, ones({3, 2, 2}), 0), doctest::Contains("does not broadcast to input"), Error);
}

TEST_CASE("elementwise errors name the op, the shapes and the dtypes") {
  CHECK_THROWS_WITH_AS(ones({2, 3}) + ones({4}), doctest::Contains("add: shapes (2, 3) and (4,) do not broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(ones({2}) * ones({2}, {.dtype = DType::f64}),
                       doctest::Contains("mul: dtype mismatch: float32 (2,) on cpu and float64 (2,) on cpu"), Error);
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = DType::i64}) / ones({2}, {.dtype = DType::i64}),
                       doctest::Contains("div: expected a floating-point tensor"), Error);
  CHECK_THROWS_WITH_AS(exp(ones({2}, {.dtype = DType::i64})), doctest::Contains("exp"), Error);
  CHECK_THROWS_WITH_AS(add(Tensor(), ones({1})), doctest::Contains("undefined"), Error);
}

TEST_CASE("elementwise ops match PyTorch goldens") {
  for (const char* name : {"add", "sub", "mul", "div"})
    test::check_golden("elementwise", std::string(name) + "_broadcast", [name](auto& in) {
      const std::string n = name;
      return n == "add" ? in.at("a") + in.at("b") : n == "sub" ? in.at("a") - in.at("b")
           : n == "mul" ? in.at("a") * in.at("b") : in.at("a") / in.at("b");
    });
  const std::vector<std::pair<const char*, Fn>> unary = {
      {"neg", neg}, {"exp", exp}, {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu}, {"abs", abs},
      {"gelu", gelu_erf}, {"gelu_tanh", gelu_tanh_form}, {"silu", silu}, {"softplus", softplus_default},
      {"pow3", pow_cube}, {"log", log}, {"sqrt", sqrt}, {"rsqrt", rsqrt}};
  for (const auto& [name, op] : unary) {
    Fn f = op;
    test::check_golden("elementwise", name, [f](auto& in) { return f(in.at("x")); }, 1e-5, 1e-5);
  }
  test::check_golden("elementwise", "where", [](auto& in) { return where(in.at("cond"), in.at("a"), in.at("b")); });
  test::check_golden("elementwise", "masked_fill",
                     [](auto& in) { return masked_fill(in.at("x"), in.at("mask"), -2.5); });
}
