// tests/ops/test_reduce.cpp — sum, mean, max, min, argmax, var, cumsum, sum_to: hand-computed
// values, every kernel path against a naive double reference (row, column, general strided and
// few-outputs-split layouts), float32 accuracy on 16M elements, NaN and ties, PyTorch goldens and
// error messages, on every device; gradcheck in float64 on contiguous, transposed and sliced
// leaves (CPU), and the CUDA kernels' outputs and gradients against the CPU's (parity).
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
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

// A float64 leaf that is a strided slice (every other column) of a bigger tensor.
Tensor sliced_leaf(const Shape& shape, uint64_t seed) {
  Shape wide = shape;
  wide.back() *= 2;
  return randn_leaf(wide, seed, false).slice(-1, 0, wide.back(), 2).detach().requires_grad_();
}

// Reference reduction in double over any layout: walks every element of x by its multi-index.
// kind: 0 sum, 1 max, 2 min.
Tensor naive_reduce(const Tensor& x, const std::vector<int>& dims, int kind) {
  const int nd = x.ndim();
  std::vector<bool> flag(nd, dims.empty());
  for (int d : dims) flag[(d + nd) % nd] = true;
  Shape keep = x.shape();
  for (int d = 0; d < nd; ++d)
    if (flag[d]) keep[d] = 1;
  const std::vector<double> v = x.to_vector<double>();
  const double init = kind == 0 ? 0.0 : (kind == 1 ? -INFINITY : INFINITY);
  std::vector<double> acc(numel_of(keep), init);
  const Shape out_strides = contiguous_strides(keep);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rest = i, o = 0;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t index = rest % x.shape()[d];
      rest /= x.shape()[d];
      if (!flag[d]) o += index * out_strides[d];
    }
    acc[o] = kind == 0 ? acc[o] + v[i] : (kind == 1 ? std::max(acc[o], v[i]) : std::min(acc[o], v[i]));
  }
  return from_vector<double>(acc, keep);
}

}  // namespace

TEST_CASE("sum, mean, max, min: values over dims, keepdim, negative and multiple dims") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // x = [[1, 5, 3], [4, 2, 6]]
      Tensor x = from_vector<float>({1, 5, 3, 4, 2, 6}, {2, 3}, dev);
      CHECK(sum(x).shape() == Shape{});
      CHECK(sum(x).item() == 21);
      CHECK(sum(x, {0}).to_vector<float>() == std::vector<float>{5, 7, 9});
      CHECK(sum(x, {-1}).to_vector<float>() == std::vector<float>{9, 12});
      CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
      CHECK(sum(x, {0, 1}, true).shape() == Shape{1, 1});
      CHECK(sum(x, {1, 0}).item() == 21);
      CHECK(mean(x, {1}).to_vector<float>() == std::vector<float>{3, 4});
      CHECK(mean(x).item() == doctest::Approx(3.5));
      CHECK(max(x, {0}).to_vector<float>() == std::vector<float>{4, 5, 6});
      CHECK(max(x, {-1}, true).to_vector<float>() == std::vector<float>{5, 6});
      CHECK(max(x).item() == 6);
      CHECK(min(x, {1}).to_vector<float>() == std::vector<float>{1, 2});
      CHECK(min(x, {0}).to_vector<float>() == std::vector<float>{1, 2, 3});
      CHECK(min(x).item() == 1);
      Tensor s = scalar(2.5, {.device = dev});
      CHECK(sum(s).item() == 2.5);
      CHECK(sum(s, {0}).shape() == Shape{});
      CHECK(sum(x.t(), {0}).to_vector<float>() == std::vector<float>{9, 12});  // strided input
      Tensor empty_rows = zeros({0, 3}, {.device = dev});
      CHECK(sum(empty_rows, {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
      CHECK(std::isnan(mean(empty_rows).item()));  // 0 / 0, as PyTorch
    }
  }
}

TEST_CASE("reductions agree with a naive reference on every layout and kernel path") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      struct Case {
        Shape shape;
        std::vector<int> dims;
        bool transposed;
      };
      // Sizes above the parallel grain (32768) exercise the threaded loops as well.
      const std::vector<Case> cases = {
          {{64, 700}, {1}, false},        // row case: reduce the last dim
          {{700, 64}, {0}, false},        // column case: reduce the leading dim
          {{40, 30, 50}, {0, 1}, false},  // column case over two merged leading dims
          {{40, 30, 50}, {1}, false},     // column case inside blocks
          {{40, 30, 50}, {0, 2}, false},  // general strided case
          {{4, 5, 6, 7, 8}, {0, 2, 4}, false},  // general case, three unmergeable reduced dims
          {{6, 5, 7, 40}, {0, 2}, false},       // column case, two unmergeable reduced dims
          {{200, 300}, {}, false},        // full reduction, split across threads
          {{200, 300}, {}, true},         // full reduction of a transposed tensor
          {{300, 200}, {1}, true},        // last dim of a transposed tensor: column case
          {{300, 200}, {0}, true},        // first dim of a transposed tensor: row case
          {{3, 50000}, {1}, false},       // few long rows: each split across threads
          {{5, 4, 3}, {2, 0}, false},     // small, serial
          {{7, 1, 9}, {1}, false},        // reducing a size-1 dim
      };
      for (const Case& c : cases) {
        for (DType dtype : {DType::f32, DType::f64}) {
          Tensor x = c.transposed ? randn_leaf({c.shape[1], c.shape[0]}, 11, false, dtype, dev).t()
                                  : randn_leaf(c.shape, 11, false, dtype, dev);
          INFO("shape ", shape_str(c.shape), " dims ", c.dims.size(), " transposed ", c.transposed, " ",
               dtype_name(dtype));
          REQUIRE(x.is_contiguous() == !c.transposed);
          const double tol = dtype == DType::f32 ? 1e-4 : 1e-10;
          CHECK_CLOSE(sum(x, c.dims, true), naive_reduce(x, c.dims, 0).to(dtype), tol, tol);
          CHECK_CLOSE(max(x, c.dims, true), naive_reduce(x, c.dims, 1).to(dtype), 0, 0);
          CHECK_CLOSE(min(x, c.dims, true), naive_reduce(x, c.dims, 2).to(dtype), 0, 0);
        }
      }
    }
  }
}

TEST_CASE("float32 sums of 16M elements keep float precision") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const int64_t n = int64_t{1} << 24;
      Tensor x = full({n}, 0.1, {.dtype = DType::f32, .device = dev});
      const double expected = static_cast<double>(0.1f) * static_cast<double>(n);
      // A plain float accumulator would stall at 2^21 (~2M) here; the double one is exact to float.
      CHECK(sum(x).item() == doctest::Approx(expected).epsilon(1e-7));
      CHECK(mean(x).item() == doctest::Approx(0.1f).epsilon(1e-7));
      Tensor cols = full({n / 16, 16}, 0.1, {.dtype = DType::f32, .device = dev});
      const auto col_sums = sum(cols, {0}).to_vector<float>();
      CHECK(col_sums[7] == doctest::Approx(expected / 16).epsilon(1e-7));
      Tensor cum = cumsum(x, 0);
      CHECK(cum.to_vector<float>().back() == doctest::Approx(expected).epsilon(1e-7));
    }
  }
}

TEST_CASE("max and min propagate NaN; max/min split the gradient evenly among ties") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      Tensor x = from_vector<double>({1, nan, 3, 4, 5, 6}, {2, 3}, dev);
      const auto mx = max(x, {1}).to_vector<double>();
      CHECK(std::isnan(mx[0]));
      CHECK(mx[1] == 6);
      CHECK(std::isnan(min(x).item()));
      CHECK(std::isnan(max(x, {0}).to_vector<double>()[1]));  // column case

      Tensor t = from_vector<double>({1, 3, 3, 2, 2, 2}, {2, 3}, dev);
      t.requires_grad_();
      max(t, {1}).backward(from_vector<double>({1, 3}, {2}, dev));
      CHECK(t.grad().to_vector<double>() == std::vector<double>{0, 0.5, 0.5, 1, 1, 1});
      Tensor u = from_vector<double>({1, 3, 1, 2}, {4}, dev);
      u.requires_grad_();
      min(u).backward();
      CHECK(u.grad().to_vector<double>() == std::vector<double>{0.5, 0, 0.5, 0});
    }
  }
}

TEST_CASE("cpu kernel: argmax over contiguous rows (two vectorised passes) equals the strided scan") {
  // Rows of small integers (many ties), some with NaNs, -inf and -0.0 beside 0.0: the contiguous
  // path must name the same first maximum as the one-pass scan that strided rows take.
  for (DType dtype : {DType::f32, DType::f64}) {
    Generator gen(5);
    const int64_t rows = 64, n = 301;
    std::vector<double> v = randint(-3, 4, {rows, n}, {.dtype = DType::f64}, &gen).to_vector<double>();
    for (int64_t r = 0; r < rows; r += 5) v[static_cast<size_t>(r * n + (r * 37) % n)] = NAN;
    for (int64_t r = 1; r < rows; r += 7) std::fill_n(v.begin() + r * n, n, -INFINITY);
    for (int64_t r = 2; r < rows; r += 9) {
      std::fill_n(v.begin() + r * n, n, -1.0);
      v[static_cast<size_t>(r * n + 10)] = -0.0;
      v[static_cast<size_t>(r * n + 20)] = 0.0;
    }
    const Tensor x = from_vector<double>(v, {rows, n}).to(dtype);
    const Tensor columns = x.t().contiguous();  // the same rows as columns: stride n, the scan
    CHECK(argmax(x, 1).to_vector<int64_t>() == argmax(columns, 0).to_vector<int64_t>());
  }
}

TEST_CASE("argmax: first maximum, any dim, keepdim, int64 without gradient") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({1, 7, 7, 0, 9, 2, 9, 3}, {2, 4}, dev);
      Tensor a = argmax(x, 1);
      CHECK(a.dtype() == DType::i64);
      CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
      CHECK(argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 1});
      CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
      CHECK(argmax(x.t(), 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
      Tensor nan_row = from_vector<float>({1, NAN, 5}, {3}, dev);
      CHECK(argmax(nan_row, 0).item() == 1);  // NaN is the maximum, as in PyTorch
      Tensor grad_leaf = randn_leaf({3, 4}, 3, true, DType::f32, dev);
      CHECK_FALSE(argmax(grad_leaf, 1).requires_grad());
    }
  }
}

TEST_CASE("var: unbiased and population, over dims") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<double>({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4}, dev);
      CHECK(var(x, {1}).to_vector<double>() == std::vector<double>{5.0 / 3.0, 20.0 / 3.0});
      CHECK(var(x, {1}, 0).to_vector<double>() == std::vector<double>{1.25, 5.0});
      CHECK(var(x, {0}, 0, true).to_vector<double>() == std::vector<double>{0.25, 1, 2.25, 4});
      CHECK(var(x).item() == doctest::Approx(5.357142857142857));
      // Two-pass moments stay accurate when the mean dwarfs the spread.
      Tensor shifted = from_vector<float>({1e6f + 1, 1e6f + 2, 1e6f + 3}, {3}, dev);
      CHECK(var(shifted).item() == doctest::Approx(1.0).epsilon(1e-6));
      CHECK(std::isnan(var(from_vector<double>({3}, {1}, dev)).item()));  // n − 1 = 0, as PyTorch
    }
  }
}

TEST_CASE("cumsum: values along each dim, and its backward is the reversed cumsum") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}, dev);
      CHECK(cumsum(x, 1).to_vector<float>() == std::vector<float>{1, 3, 6, 4, 9, 15});
      CHECK(cumsum(x, 0).to_vector<float>() == std::vector<float>{1, 2, 3, 5, 7, 9});
      CHECK(cumsum(x, -1).to_vector<float>() == std::vector<float>{1, 3, 6, 4, 9, 15});
      CHECK(cumsum(x.t(), 1).to_vector<float>() == std::vector<float>{1, 5, 2, 7, 3, 9});
      Tensor v = from_vector<double>({1, 2, 3}, {3}, dev);
      v.requires_grad_();
      cumsum(v, 0).backward(from_vector<double>({1, 10, 100}, {3}, dev));
      CHECK(v.grad().to_vector<double>() == std::vector<double>{111, 110, 100});
    }
  }
}

TEST_CASE("gradcheck: sum, mean, max, min, var, cumsum, sum_to on contiguous, transposed and sliced leaves") {
  Tensor a = randn_leaf({3, 4, 5}, 1);
  Tensor t = randn_leaf_transposed({4, 6}, 2);
  Tensor s = sliced_leaf({4, 5}, 3);
  for (const Tensor& x : {a, t, s}) {
    INFO("input ", x.describe(), " contiguous ", x.is_contiguous());
    CHECK_GRADCHECK([](auto& in) { return sum(in[0]); }, {x});
    CHECK_GRADCHECK([](auto& in) { return sum(in[0], {-1}); }, {x});
    CHECK_GRADCHECK([](auto& in) { return sum(in[0], {0}, true); }, {x});
    CHECK_GRADCHECK([](auto& in) { return mean(in[0], {-1}, true); }, {x});
    CHECK_GRADCHECK([](auto& in) { return mean(in[0]); }, {x});
    CHECK_GRADCHECK([](auto& in) { return max(in[0], {-1}); }, {x});
    CHECK_GRADCHECK([](auto& in) { return min(in[0], {0}, true); }, {x});
    CHECK_GRADCHECK([](auto& in) { return max(in[0]); }, {x});
    CHECK_GRADCHECK([](auto& in) { return var(in[0], {-1}); }, {x});
    CHECK_GRADCHECK([](auto& in) { return var(in[0], {0}, 0, true); }, {x});
    CHECK_GRADCHECK([](auto& in) { return var(in[0]); }, {x});
    CHECK_GRADCHECK([](auto& in) { return cumsum(in[0], 0); }, {x});
    CHECK_GRADCHECK([](auto& in) { return cumsum(in[0], -1); }, {x});
  }
  CHECK_GRADCHECK([](auto& in) { return sum(in[0], {0, 2}); }, {a});
  CHECK_GRADCHECK([](auto& in) { return mean(in[0], {-1, 0}, true); }, {a});
  CHECK_GRADCHECK([](auto& in) { return max(in[0], {0, 2}, true); }, {a});
  CHECK_GRADCHECK([](auto& in) { return min(in[0], {1, 2}); }, {a});
  CHECK_GRADCHECK([](auto& in) { return var(in[0], {0, -1}, 1, true); }, {a});
  CHECK_GRADCHECK([](auto& in) { return cumsum(in[0], 1); }, {a});
  // Through expand (whose backward is sum_to).
  CHECK_GRADCHECK([](auto& in) { return in[0].expand({2, 3, 4}) * 1.0; }, {randn_leaf({3, 1}, 5)});
  // Reductions compose: the backward of one feeds the next.
  CHECK_GRADCHECK([](auto& in) { return sum(max(in[0], {2}), {0}) * mean(in[0], {1, 2}, false).select(0, 1); },
                  {a});
}

TEST_CASE("sum_to reduces a broadcast gradient back to its input's shape") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor g = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}, dev);
      CHECK(sum_to(g, {3}).to_vector<float>() == std::vector<float>{5, 7, 9});
      CHECK(sum_to(g, {1, 3}).shape() == Shape{1, 3});
      CHECK(sum_to(g, {2, 1}).to_vector<float>() == std::vector<float>{6, 15});
      CHECK(sum_to(g, {}).item() == 21);
      CHECK(sum_to(g, {2, 3}).same(g));
      Tensor big = randn_leaf({2, 3, 4, 5}, 4, false, DType::f32, dev);
      CHECK_CLOSE(sum_to(big, {3, 1, 5}), sum(big, {0, 2}, true).reshape({3, 1, 5}));
      CHECK_THROWS_WITH_AS(sum_to(g, {4}), doctest::Contains("sum_to"), Error);
      CHECK_THROWS_WITH_AS(sum_to(g, {1, 2, 3}), doctest::Contains("sum_to"), Error);
    }
  }
}

TEST_CASE("reduce goldens match PyTorch") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto x = [](GoldenInputs& in) -> Tensor& { return in.at("x"); };
      check_golden("reduce", "sum_all", [&](GoldenInputs& in) { return sum(x(in)); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "sum_dim1", [&](GoldenInputs& in) { return sum(x(in), {1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "sum_dims_keepdim", [&](GoldenInputs& in) { return sum(x(in), {0, 2}, true); }, 1e-5,
                   1e-4, dev);
      check_golden("reduce", "mean_last", [&](GoldenInputs& in) { return mean(x(in), {-1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "mean_dims", [&](GoldenInputs& in) { return mean(x(in), {0, 1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "amax_dim1", [&](GoldenInputs& in) { return max(x(in), {1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "amin_dims_keepdim", [&](GoldenInputs& in) { return min(x(in), {0, 2}, true); }, 1e-5,
                   1e-4, dev);
      check_golden("reduce", "amax_ties", [&](GoldenInputs& in) { return max(x(in), {1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "amin_ties_all", [&](GoldenInputs& in) { return min(x(in)); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "argmax_dim1", [&](GoldenInputs& in) { return argmax(x(in), 1); }, 0, 0, dev);
      check_golden("reduce", "argmax_dim0_keepdim", [&](GoldenInputs& in) { return argmax(x(in), 0, true); }, 0, 0,
                   dev);
      check_golden("reduce", "var_dim1", [&](GoldenInputs& in) { return var(x(in), {1}); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "var_dims_population", [&](GoldenInputs& in) { return var(x(in), {0, 2}, 0, true); },
                   1e-5, 1e-4, dev);
      check_golden("reduce", "var_all", [&](GoldenInputs& in) { return var(x(in)); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "cumsum_dim1", [&](GoldenInputs& in) { return cumsum(x(in), 1); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "cumsum_last", [&](GoldenInputs& in) { return cumsum(x(in), -1); }, 1e-5, 1e-4, dev);
      check_golden("reduce", "sum_to_size", [&](GoldenInputs& in) { return sum_to(x(in), {4, 1}); }, 1e-5, 1e-4,
                   dev);
    }
  }
}

TEST_CASE("reduce errors name the op, the dims and the tensor") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = zeros({2, 3}, {.device = dev});
      CHECK_THROWS_WITH_AS(sum(x, {2}), doctest::Contains("sum: dim 2 out of range"), Error);
      CHECK_THROWS_WITH_AS(mean(x, {-3}), doctest::Contains("mean: dim -3 out of range"), Error);
      CHECK_THROWS_WITH_AS(sum(x, {1, -1}), doctest::Contains("appears more than once"), Error);
      CHECK_THROWS_WITH_AS(max(zeros({2, 0}, {.device = dev}), {1}),
                           doctest::Contains("max: cannot reduce over an empty dim"), Error);
      CHECK_THROWS_WITH_AS(argmax(zeros({0}, {.device = dev}), 0), doctest::Contains("argmax"), Error);
      CHECK_THROWS_WITH_AS(argmax(x, 5), doctest::Contains("argmax: dim 5 out of range"), Error);
      Tensor ints = from_vector<int64_t>({1, 2}, {2}, dev);
      CHECK_THROWS_WITH_AS(sum(ints), doctest::Contains("sum: expected a floating-point tensor, got int64"), Error);
      CHECK_THROWS_WITH_AS(var(ints), doctest::Contains("var"), Error);
      CHECK_THROWS_WITH_AS(argmax(ints, 0), doctest::Contains("argmax"), Error);
      CHECK_THROWS_WITH_AS(cumsum(ints, 0), doctest::Contains("cumsum"), Error);
      CHECK_THROWS_WITH_AS(cumsum(x, 2), doctest::Contains("cumsum: dim 2 out of range"), Error);
      CHECK_THROWS_WITH_AS(var(x, {1}, -1), doctest::Contains("var: correction"), Error);
    }
  }
}

TEST_CASE("parity: sum, mean, max, min (reduce kernel), CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const Tensor x = leaf({4, 5, 6}, 40, dtype);
    check_parity("sum all", [](const std::vector<Tensor>& in) { return sum(in[0]); }, {x});
    check_parity("sum dim 1", [](const std::vector<Tensor>& in) { return sum(in[0], {1}); }, {x});
    check_parity("mean dims 0, 2 of a transpose", [](const std::vector<Tensor>& in) {
      return mean(in[0].transpose(1, 2), {0, 2}, true);
    }, {x});
    check_parity("max dim 2", [](const std::vector<Tensor>& in) { return max(in[0], {2}); }, {x}, false);
    check_parity("min all", [](const std::vector<Tensor>& in) { return min(in[0]); }, {x}, false);
  }
}

TEST_CASE("parity: var, argmax, cumsum and the max/min backward (reduce kernels), CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const Tensor x = leaf({4, 130, 7}, 41, dtype);
    check_parity("var all", [](const std::vector<Tensor>& in) { return var(in[0]); }, {x});
    check_parity("var dim 1", [](const std::vector<Tensor>& in) { return var(in[0], {1}); }, {x});
    check_parity("var dims 0, 2 of a transpose, population", [](const std::vector<Tensor>& in) {
      return var(in[0].transpose(0, 1), {0, 2}, 0, true);
    }, {x});
    for (int dim : {0, 1, 2})
      check_parity(
          fmt::format("argmax dim {}", dim), [dim](const std::vector<Tensor>& in) { return argmax(in[0], dim); }, {x},
          false);
    check_parity("argmax of a transpose", [](const std::vector<Tensor>& in) { return argmax(in[0].t(), 0); },
                 {leaf({7, 1000}, 42, dtype)}, false);
    for (int dim : {0, 1, -1})
      check_parity(fmt::format("cumsum dim {}", dim),
                   [dim](const std::vector<Tensor>& in) { return cumsum(in[0], dim); }, {x});
    check_parity("cumsum of a transpose", [](const std::vector<Tensor>& in) { return cumsum(in[0].t(), 1); },
                 {leaf({1000, 3}, 43, dtype)});
    // Ties split the gradient (equal_mask), over a dim and over everything.
    const Tensor ties = from_vector<double>({1, 3, 3, 2, 5, 5, 5, 0, -1, -1, 4, 4}, {3, 4}).to(dtype).requires_grad_();
    check_parity("max dim 1 with ties", [](const std::vector<Tensor>& in) { return max(in[0], {1}); }, {ties});
    check_parity("min all of a transpose", [](const std::vector<Tensor>& in) { return min(in[0].t()); }, {ties});
    check_parity("max dim 2", [](const std::vector<Tensor>& in) { return max(in[0], {2}); }, {x});
  }
}
