// tests/ops/test_elementwise.cpp — binary (broadcasting), unary, where, masked_fill: values
// (hand-computed, the standard library in float64, strided against contiguous), PyTorch goldens
// and errors, on every device; the accuracy of the CPU's fast float32 functions (ops/cpu/
// fastmath.h), gradcheck in float64 on contiguous, transposed and broadcast inputs (CPU), and the
// CUDA kernels' outputs and gradients against the CPU's (parity).
#include <cmath>
#include <functional>

#include "ops/cpu/fastmath.h"
#include "ops/elementwise.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::kFloatTypes;
using test::leaf;
using test::positive_leaf;
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

TEST_CASE("gradcheck: binary ops reduce their gradients to each input's shape") {
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

namespace {

// The unary ops, checked element by element against the standard library at kUnaryXs. tol32 is
// the float32 bound (relative); the float64 results must agree to 1e-12 on every device.
struct UnaryRef {
  const char* name;
  Fn op;
  double (*ref)(double);
  double tol32;
};

const std::vector<UnaryRef>& unary_refs() {
  static const std::vector<UnaryRef> refs = {
      {"exp", exp, [](double v) { return std::exp(v); }, 3e-7},
      {"tanh", tanh, [](double v) { return std::tanh(v); }, 3e-7},
      {"sigmoid", sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, 3e-7},
      {"relu", relu, [](double v) { return v > 0 ? v : 0.0; }, 0},
      {"abs", abs, [](double v) { return std::fabs(v); }, 0},
      {"silu", silu, [](double v) { return v / (1 + std::exp(-v)); }, 3e-7},
      {"gelu_tanh", gelu_tanh_form,
       [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }, 1e-6},
      {"softplus", softplus_default, [](double v) { return v > 20 ? v : std::log1p(std::exp(v)); }, 3e-7},
      {"pow3", pow_cube, [](double v) { return v * v * v; }, 3e-7},
  };
  return refs;
}

const std::vector<double> kUnaryXs = {-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 25.0};

double gelu_of(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }

}  // namespace

TEST_CASE("unary ops match the standard library in float64") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x64 = from_vector<double>(kUnaryXs, {8}, dev);
      for (const UnaryRef& u : unary_refs()) {
        INFO(u.name);
        const auto r64 = u.op(x64).to_vector<double>();
        for (size_t i = 0; i < kUnaryXs.size(); ++i)
          CHECK(r64[i] == doctest::Approx(u.ref(kUnaryXs[i])).epsilon(1e-12));
      }
      const auto gelu64 = gelu_erf(x64).to_vector<double>();
      for (size_t i = 0; i < kUnaryXs.size(); ++i)
        CHECK(gelu64[i] == doctest::Approx(gelu_of(kUnaryXs[i])).epsilon(1e-12));
      Tensor positive = from_vector<double>({0.5, 1.0, 4.0}, {3}, dev);
      CHECK(log(positive).to_vector<double>()[2] == doctest::Approx(std::log(4.0)));
      CHECK(sqrt(positive).to_vector<double>()[2] == 2.0);
      CHECK(rsqrt(positive).to_vector<double>()[2] == 0.5);
    }
  }
}

// The CPU's float32 kernels are fast approximations with documented bounds (ops/cpu/fastmath.h);
// CUDA's float32 functions are checked against the CPU's by the parity case below.
TEST_CASE("cpu kernel: float32 unary ops stay within the fast approximations' bounds of the standard library") {
  Tensor x32 = from_vector<double>(kUnaryXs, {8}).to(DType::f32);
  for (const UnaryRef& u : unary_refs()) {
    INFO(u.name);
    const double tol32 = std::max(u.tol32, 1e-7);  // float32 rounding of the result itself
    const auto r32 = u.op(x32).to_vector<float>();
    for (size_t i = 0; i < kUnaryXs.size(); ++i)
      CHECK(r32[i] == doctest::Approx(u.ref(kUnaryXs[i])).epsilon(tol32).scale(1e-30));
  }
  // gelu's float32 kernel is accurate in absolute terms, within 1e-7·(1 + |x|) (ops/cpu/fastmath.h),
  // so its negative tail (−8e-4 at −3.5) is checked against that, not against a relative bound.
  const auto gelu32 = gelu_erf(x32).to_vector<float>();
  for (size_t i = 0; i < kUnaryXs.size(); ++i) {
    const double v32 = static_cast<float>(kUnaryXs[i]);  // the float32 input itself (0.3 is not exact)
    CHECK(std::abs(gelu32[i] - gelu_of(v32)) <= 1e-7 * (1 + std::abs(v32)));
  }
}

TEST_CASE("cpu kernel: fast float32 softplus and log1p stay within their documented error") {
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

TEST_CASE("cpu kernel: fast float32 exp, normal CDF and GELU stay within their documented error") {
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
  double worst_nonpositive = 0;  // the softmax's exp, for x ≤ 0
  for (double v = -87.3; v <= 0.0; v += 0.0013) {
    const float x = static_cast<float>(v);
    const double e = std::exp(static_cast<double>(x));
    worst_nonpositive = std::max(worst_nonpositive, std::abs(static_cast<double>(cpu::exp_nonpositive(x)) - e) / e);
  }
  CHECK(worst_nonpositive < 2.5e-7);
  CHECK(cpu::exp_nonpositive(0.0f) == 1.0f);
  CHECK(cpu::exp_nonpositive(-88.5f) < 1e-38f);
  CHECK(cpu::exp_nonpositive(-1000.0f) == 0.0f);
  CHECK(cpu::exp_nonpositive(-INFINITY) == 0.0f);
  CHECK(std::isnan(cpu::exp_nonpositive(NAN)));

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

TEST_CASE("gradcheck: every unary op, also on transposed inputs") {
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
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor base = randn_leaf({300, 200}, 21, false, DType::f32, dev);
      Tensor t = base.t();  // strided
      CHECK_CLOSE(gelu(t), gelu(t.contiguous()), 0, 0);
      CHECK_CLOSE(exp(t) * t, (exp(t.contiguous()) * t.contiguous()), 0, 0);
      Tensor bias = randn_leaf({300}, 22, false, DType::f32, dev);
      Tensor expanded = bias.reshape({1, 300}).expand({200, 300}).contiguous();
      CHECK_CLOSE(t + bias, t.contiguous() + expanded, 0, 0);
      Tensor big = randn_leaf({1 << 20}, 23, false, DType::f32, dev);  // one long row, split across threads
      CHECK_CLOSE(big * 3.0, big * full({1 << 20}, 3.0, {.device = dev}), 0, 0);
    }
  }
}

TEST_CASE("where and masked_fill select values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor cond = from_vector<int64_t>({1, 0, 0, 1}, {2, 2}, dev);
      Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2}, dev);
      Tensor b = from_vector<float>({-1}, {1}, dev);
      CHECK(where(cond, a, b).to_vector<float>() == std::vector<float>{1, -1, -1, 4});
      CHECK(masked_fill(a, from_vector<float>({0, 1}, {2}, dev), -9).to_vector<float>() ==
            std::vector<float>{1, -9, 3, -9});
      CHECK_THROWS_WITH_AS(masked_fill(a, ones({3}, {.device = dev}), 0),
                           doctest::Contains("masked_fill: shapes (2, 2) and (3,) do not broadcast"), Error);
      CHECK_THROWS_WITH_AS(masked_fill(a, ones({3, 2, 2}, {.device = dev}), 0),
                           doctest::Contains("does not broadcast to input"), Error);
    }
  }
}

TEST_CASE("gradcheck: where and masked_fill route gradients") {
  Tensor c64 = from_vector<double>({1, 0, 1}, {3});
  CHECK_GRADCHECK([c64](auto& in) { return where(c64, in[0], in[1]); }, {randn_leaf({2, 3}, 31), randn_leaf({3}, 32)});
  CHECK_GRADCHECK([c64](auto& in) { return masked_fill(in[0], c64, 5.0); }, {randn_leaf_transposed({3, 3}, 33)});
}

TEST_CASE("elementwise errors name the op, the shapes and the dtypes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto ones_on = [dev](const Shape& shape, DType dt = DType::f32) {
        return ones(shape, {.dtype = dt, .device = dev});
      };
      CHECK_THROWS_WITH_AS(ones_on({2, 3}) + ones_on({4}),
                           doctest::Contains("add: shapes (2, 3) and (4,) do not broadcast"), Error);
      const std::string mismatch =
          fmt::format("mul: dtype mismatch: float32 (2,) on {0} and float64 (2,) on {0}", dev.str());
      CHECK_THROWS_WITH_AS(ones_on({2}) * ones_on({2}, DType::f64), doctest::Contains(mismatch.c_str()), Error);
      CHECK_THROWS_WITH_AS(ones_on({2}, DType::i64) / ones_on({2}, DType::i64),
                           doctest::Contains("div: expected a floating-point tensor"), Error);
      CHECK_THROWS_WITH_AS(exp(ones_on({2}, DType::i64)), doctest::Contains("exp"), Error);
      CHECK_THROWS_WITH_AS(add(Tensor(), ones_on({1})), doctest::Contains("undefined"), Error);
    }
  }
}

TEST_CASE("elementwise ops match PyTorch goldens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (const char* name : {"add", "sub", "mul", "div"})
        test::check_golden("elementwise", std::string(name) + "_broadcast", [name](auto& in) {
          const std::string n = name;
          return n == "add" ? in.at("a") + in.at("b") : n == "sub" ? in.at("a") - in.at("b")
               : n == "mul" ? in.at("a") * in.at("b") : in.at("a") / in.at("b");
        }, 1e-5, 1e-4, dev);
      const std::vector<std::pair<const char*, Fn>> unary = {
          {"neg", neg}, {"exp", exp}, {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu}, {"abs", abs},
          {"gelu", gelu_erf}, {"gelu_tanh", gelu_tanh_form}, {"silu", silu}, {"softplus", softplus_default},
          {"pow3", pow_cube}, {"log", log}, {"sqrt", sqrt}, {"rsqrt", rsqrt}};
      for (const auto& [name, op] : unary) {
        Fn f = op;
        test::check_golden("elementwise", name, [f](auto& in) { return f(in.at("x")); }, 1e-5, 1e-5, dev);
      }
      test::check_golden("elementwise", "where", [](auto& in) { return where(in.at("cond"), in.at("a"), in.at("b")); },
                         1e-5, 1e-4, dev);
      test::check_golden("elementwise", "masked_fill",
                         [](auto& in) { return masked_fill(in.at("x"), in.at("mask"), -2.5); }, 1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("parity: binary ops with broadcasting, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4, 5}, {3, 4, 5}}, {{3, 4, 5}, {4, 1}}, {{3, 4, 5}, {5}}, {{3, 1, 5}, {1, 4, 1}}, {{2, 3}, {}}};
  for (DType dtype : kFloatTypes)
    for (const auto& [sa, sb] : shapes) {
      const Tensor a = leaf(sa, 10, dtype), b = leaf(sb, 11, dtype), bp = positive_leaf(sb, 12, dtype);
      const std::string where = fmt::format("{} {} ∘ {}", dtype_name(dtype), shape_str(sa), shape_str(sb));
      check_parity("add " + where, [](const std::vector<Tensor>& in) { return in[0] + in[1]; }, {a, b});
      check_parity("sub " + where, [](const std::vector<Tensor>& in) { return in[0] - in[1]; }, {a, b});
      check_parity("mul " + where, [](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {a, b});
      check_parity("div " + where, [](const std::vector<Tensor>& in) { return in[0] / in[1]; }, {a, bp});
    }
  // A transposed operand and a reused one (b = a + a; c = b * b).
  check_parity("transposed + reused", [](const std::vector<Tensor>& in) {
    Tensor b = in[0].t() + in[0].t();
    return b * b - in[1];
  }, {leaf({5, 4}, 13, DType::f64), leaf({4, 5}, 14, DType::f64)});
  // int64 forward.
  Tensor i = arange(-6, 6, 1, {.dtype = DType::i64}).reshape({3, 4});
  Tensor j = arange(1, 5, 1, {.dtype = DType::i64});
  CHECK_CLOSE((i.to(kCUDA) * j.to(kCUDA) + i.to(kCUDA)).to(kCPU), i * j + i, 0, 0);
}

TEST_CASE("parity: unary ops, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  using F = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, F>> any_input = {
      {"neg", [](const Tensor& x) { return neg(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::tanh); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softplus beta 2 threshold 1", [](const Tensor& x) { return softplus(x, 2.0, 1.0); }},
  };
  const std::vector<std::pair<std::string, F>> positive_input = {
      {"log", [](const Tensor& x) { return log(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"pow 2.5", [](const Tensor& x) { return pow(x, 2.5); }},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }},
  };
  for (DType dtype : kFloatTypes) {
    const Tensor x = leaf({4, 3, 5}, 20, dtype), xp = positive_leaf({4, 3, 5}, 21, dtype);
    for (const auto& [name, f] : any_input) {
      check_parity(name + " " + dtype_name(dtype), [f](const std::vector<Tensor>& in) { return f(in[0] * 3.0); }, {x});
      check_parity(name + " strided " + dtype_name(dtype),
                   [f](const std::vector<Tensor>& in) { return f(in[0].transpose(0, 2).slice(1, 0, 3, 2)); }, {x});
    }
    for (const auto& [name, f] : positive_input) {
      check_parity(name + " " + dtype_name(dtype), [f](const std::vector<Tensor>& in) { return f(in[0]); }, {xp});
      check_parity(name + " strided " + dtype_name(dtype),
                   [f](const std::vector<Tensor>& in) { return f(in[0].transpose(0, 2)); }, {xp});
    }
  }
  Tensor i = arange(-3, 3, 1, {.dtype = DType::i64});
  CHECK_CLOSE(abs(-i.to(kCUDA)).to(kCPU), abs(-i), 0, 0);
}

TEST_CASE("parity: where and masked_fill, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const Tensor cond = from_vector<int64_t>({1, 0, 0, 1}, {4, 1});
    const Tensor mask = from_vector<double>({0, 1, 1, 0, 1}, {5}).to(dtype);
    check_parity(std::string("where ") + dtype_name(dtype), [cond](const std::vector<Tensor>& in) {
      return where(cond.to(in[0].device()), in[0], in[1]);
    }, {leaf({4, 5}, 30, dtype), leaf({5}, 31, dtype)});
    check_parity(std::string("masked_fill ") + dtype_name(dtype), [mask](const std::vector<Tensor>& in) {
      return masked_fill(in[0].t(), mask.to(in[0].device()), -2.0);
    }, {leaf({5, 3}, 32, dtype)});
  }
}

// NaN is never hidden and infinities go where PyTorch sends them: each unary op on
// [NaN, +inf, −inf, 0, −0] against the values torch 1.13 gives (torch.nn.functional's relu,
// gelu, silu, softplus; torch.sigmoid, tanh, abs, exp, log, sqrt, rsqrt, neg), float32 and
// float64, on every device. A ReLU that maps NaN to 0 turned NaN weights into "accuracy 9.80%".
TEST_CASE("unary ops keep NaN and treat ±inf and ±0 as PyTorch does, on every device") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> in = {nan, inf, -inf, 0.0, -0.0};
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    std::vector<double> want;  // torch's outputs for `in`
    // x·Φ(x) and x·σ(x) at −inf: torch's NaN is its −inf·0; the limit, 0, is as good an answer.
    bool zero_at_minus_inf = false;
  };
  const std::vector<Case> cases = {
      {"relu", [](const Tensor& x) { return relu(x); }, {nan, inf, 0, 0, 0}},
      {"gelu", [](const Tensor& x) { return gelu(x); }, {nan, inf, nan, 0, 0}, true},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::tanh); }, {nan, inf, nan, 0, 0}, true},
      {"silu", [](const Tensor& x) { return silu(x); }, {nan, inf, nan, 0, 0}, true},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, {nan, 1, 0, 0.5, 0.5}},
      {"tanh", [](const Tensor& x) { return tanh(x); }, {nan, 1, -1, 0, 0}},
      {"softplus", [](const Tensor& x) { return softplus(x); }, {nan, inf, 0, std::log(2.0), std::log(2.0)}},
      {"abs", [](const Tensor& x) { return abs(x); }, {nan, inf, inf, 0, 0}},
      {"exp", [](const Tensor& x) { return exp(x); }, {nan, inf, 0, 1, 1}},
      {"log", [](const Tensor& x) { return log(x); }, {nan, inf, nan, -inf, -inf}},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, {nan, inf, nan, 0, 0}},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, {nan, 0, nan, inf, -inf}},
      {"neg", [](const Tensor& x) { return neg(x); }, {nan, -inf, inf, 0, 0}},
  };
  for (Device dev : test::test_devices()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (const Case& c : cases) {
        INFO(c.name, " ", dtype_name(dtype), " on ", dev.str());
        const std::vector<double> got = c.f(from_vector<double>(in, {5}).to(dtype).to(dev)).to(DType::f64).to_vector<double>();
        for (size_t i = 0; i < in.size(); ++i) {
          INFO("input ", in[i], ": got ", got[i], ", torch gives ", c.want[i]);
          const bool limit = c.zero_at_minus_inf && in[i] == -inf && got[i] == 0.0;
          const bool same = std::isnan(c.want[i]) ? (std::isnan(got[i]) || limit)
                                                  : (got[i] == c.want[i] || std::abs(got[i] - c.want[i]) < 1e-6);
          CHECK(same);
        }
      }
    }
  }
}
