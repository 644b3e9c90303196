// tests/autograd/test_autograd.cpp — the engine: reuse, diamonds, accumulation, freed graphs,
// grad mode, retain_grad, detach, deep chains, and the error paths.
#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("a reused node accumulates: b = a + a; c = b * b") {
  Tensor a = from_vector<double>({1.0, -2.0, 3.0}, {3}).requires_grad_();
  Tensor b = a + a;
  Tensor c = sum(b * b);  // c = Σ 4a², dc/da = 8a
  c.backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{8.0, -16.0, 24.0});
}

TEST_CASE("a diamond sums both paths") {
  Tensor x = from_vector<double>({2.0}, {1}).requires_grad_();
  Tensor left = x * 3.0;
  Tensor right = exp(x);
  Tensor z = sum(left * right);  // z = 3x·eˣ, dz/dx = 3eˣ(1 + x)
  z.backward();
  CHECK(x.grad().item() == doctest::Approx(3 * std::exp(2.0) * 3.0));
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor w = from_vector<double>({1.0, 2.0}, {2}).requires_grad_();
  sum(w * w).backward();
  sum(w * w).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{4.0, 8.0});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("a second backward through a freed graph is a clear error; retain_graph allows it") {
  Tensor x = from_vector<double>({1.0, 2.0}, {2}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("backward through the graph a second time"), Error);

  Tensor z = sum(exp(x));
  x.zero_grad();
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  CHECK(x.grad().to_vector<double>()[0] == doctest::Approx(2 * std::exp(1.0)));
}

TEST_CASE("backward errors: no grad required, non-scalar without gradient, wrong gradient shape") {
  Tensor plain = ones({2});
  CHECK_THROWS_WITH_AS(sum(plain * 2.0).backward(), doctest::Contains("does not require grad"), Error);
  Tensor x = ones({2}, {.dtype = DType::f64}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("not a scalar"), Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({3}, {.dtype = DType::f64})), doctest::Contains("does not match"), Error);
  y.backward(from_vector<double>({1.0, 10.0}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 20.0});
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = DType::i64}).requires_grad_(), doctest::Contains("floating-point"), Error);
  CHECK_THROWS_WITH_AS(y.requires_grad_(), doctest::Contains("not a leaf"), Error);
}

TEST_CASE("no-grad guard records nothing and restores the mode") {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("retain_grad keeps a non-leaf gradient; detach cuts the graph") {
  Tensor x = from_vector<double>({1.0, 2.0}, {2}).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.raw_data() == x.raw_data());
  sum(h * h + d).backward();  // d contributes no gradient
  CHECK(h.grad().to_vector<double>() == std::vector<double>{6.0, 12.0});
  CHECK(x.grad().to_vector<double>() == std::vector<double>{18.0, 36.0});
  Tensor unretained = x * 1.0;
  sum(unretained).backward();
  CHECK_FALSE(unretained.grad().defined());
}

TEST_CASE("a 100,000-op chain runs backward and frees without recursion") {
  Tensor x = scalar(1.0, {.dtype = DType::f64}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item() == 1.0);
  y = Tensor();  // destroying the chain must not overflow the stack
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // A deliberately wrong op built from detach: f(x) = x·detach(x) has true gradient 2x, but the
  // recorded graph only sees one factor, so the analytical gradient is x — gradcheck must fail.
  Tensor x = test::randn_leaf({3}, 1);
  auto wrong = gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); }, {x});
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.message.find("analytical") != std::string::npos);
  auto right = gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0]; }, {x});
  CHECK_MESSAGE(right.ok, right.message);
}
