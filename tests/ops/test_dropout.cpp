// tests/ops/test_dropout.cpp — dropout, on every device: the mask is exactly the documented
// Philox draw, it is reproducible from the seed, keeps about 1 − p of a large tensor, scales kept
// values, its gradient is mask · scale, it is the identity when not training, and its errors;
// gradcheck with a fixed mask (CPU); and the CUDA kernel against the CPU bit for bit (parity: the
// device Philox must give the same mask as core/random.cpp's for the same seed and counter) for
// contiguous and strided inputs, sizes that are not multiples of 4 (a partial last Philox block)
// or of the block size, seeds and counters with high bits set, and several p.
#include <cmath>
#include <string>

#include "ops/dropout.h"
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

// The documented mask: element i kept iff uniform(philox(seed, first + i/4)[i%4]) ≥ p.
std::vector<bool> expected_mask(int64_t n, double p, uint64_t seed, uint64_t first) {
  std::vector<bool> keep(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    keep[i] = uniform_from_word(philox4x32(seed, first + static_cast<uint64_t>(i) / 4)[i % 4]) >= p;
  return keep;
}

// dropout with a fresh generator (seed, offset `first`) on each call, so both devices draw the
// same counters; `transpose` reads the input through a strided view on its own device.
test::Fn dropout_fn(double p, uint64_t seed, uint64_t first, bool transpose = false) {
  return [=](const std::vector<Tensor>& in) {
    Generator gen(seed);
    gen.advance(first);
    return dropout(transpose ? in[0].t() : in[0], p, true, &gen);
  };
}

}  // namespace

TEST_CASE("dropout: the mask is the documented Philox draw, and kept values are scaled") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (DType dt : {DType::f32, DType::f64}) {
        Generator gen(1234);
        gen.advance(5);  // the draw starts wherever the generator is
        const double p = 0.3;
        Tensor x = (arange(1, 31).reshape({5, 6})).to(dt).to(dev);
        Tensor out = dropout(x, p, true, &gen);
        CHECK(gen.offset == 5 + (30 + 3) / 4);  // ceil(n / 4) counters reserved
        const auto keep = expected_mask(30, p, 1234, 5);
        std::vector<double> expected(30);
        for (int64_t i = 0; i < 30; ++i) expected[i] = keep[i] ? static_cast<double>(i + 1) / (1.0 - p) : 0.0;
        CHECK_CLOSE(out, from_vector<double>(expected, {5, 6}).to(dt), 1e-6, 1e-6);
      }
    }
  }
}

TEST_CASE("dropout: a non-contiguous input uses its row-major element order") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Generator gen_a(7), gen_b(7);
      Tensor x = randn_leaf({6, 4}, 1, false, DType::f32, dev);
      Tensor xt = x.t();  // (4, 6), strides (1, 4)
      Tensor out = dropout(xt, 0.5, true, &gen_a);
      CHECK_CLOSE(out, dropout(xt.contiguous(), 0.5, true, &gen_b), 0.0, 0.0);
    }
  }
}

TEST_CASE("dropout: the same seed gives the same mask, another seed another") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = ones({1000}, {.device = dev});
      Generator a(42), b(42), c(43);
      Tensor ya = dropout(x, 0.5, true, &a), yb = dropout(x, 0.5, true, &b), yc = dropout(x, 0.5, true, &c);
      CHECK_CLOSE(ya, yb, 0.0, 0.0);
      CHECK(!test::compare(ya, yc, 0.0, 0.0).empty());
      // consecutive draws from one generator differ (the offset advanced)
      Tensor ya2 = dropout(x, 0.5, true, &a);
      CHECK(!test::compare(ya, ya2, 0.0, 0.0).empty());
      // the default generator follows manual_seed
      manual_seed(9);
      Tensor d1 = dropout(x, 0.5);
      manual_seed(9);
      CHECK_CLOSE(dropout(x, 0.5), d1, 0.0, 0.0);
    }
  }
}

TEST_CASE("dropout: keeps about 1 - p of a large tensor") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const int64_t n = 1 << 20;
      for (double p : {0.1, 0.5, 0.9}) {
        Generator gen(5);
        const auto v = dropout(ones({n}, {.device = dev}), p, true, &gen).to_vector<float>();
        const float scale = static_cast<float>(1.0 / (1.0 - p));
        int64_t kept = 0, wrong = 0;
        for (float value : v) {
          kept += value != 0.0f;
          wrong += value != 0.0f && value != scale;
        }
        CHECK(wrong == 0);
        const double fraction = static_cast<double>(kept) / static_cast<double>(n);
        // binomial standard deviation at n = 2^20 is < 0.0005; 0.005 is ten of them
        CHECK(std::abs(fraction - (1.0 - p)) < 0.005);
      }
    }
  }
}

TEST_CASE("dropout: the gradient is mask times scale, recomputed from the seed") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const double p = 0.25;
      Generator gen(77);
      Tensor x = randn_leaf({3, 50}, 2, true, DType::f32, dev);
      Tensor out = dropout(x, p, true, &gen);
      Tensor g = randn_leaf({3, 50}, 3, false, DType::f32, dev);
      out.backward(g);
      const auto keep = expected_mask(150, p, 77, 0);
      const auto gv = g.to_vector<double>();
      std::vector<double> expected(150);
      for (int64_t i = 0; i < 150; ++i) expected[i] = keep[i] ? gv[i] / (1.0 - p) : 0.0;
      CHECK_CLOSE(x.grad(), from_vector<double>(expected, {3, 50}).to(DType::f32), 1e-6, 1e-6);
    }
  }
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  // Each call gets a fresh generator of the same seed: the mask is fixed.
  auto fn = [](const std::vector<Tensor>& in) {
    Generator fixed(5);
    return dropout(in[0], 0.4, true, &fixed);
  };
  CHECK_GRADCHECK(fn, {randn_leaf({4, 5}, 4)});
  CHECK_GRADCHECK(fn, {randn_leaf_transposed({4, 5}, 5)});
}

TEST_CASE("dropout: identity when not training or p == 0; zeros when p == 1") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = randn_leaf({4, 4}, 6, true, DType::f32, dev);
      Generator gen(1);
      CHECK(dropout(x, 0.5, false, &gen).same(x));
      CHECK(dropout(x, 0.0, true, &gen).same(x));
      CHECK(gen.offset == 0);  // nothing drawn

      Tensor zero = dropout(x, 1.0, true, &gen);
      CHECK_CLOSE(zero, zeros({4, 4}), 0.0, 0.0);
      zero.backward(ones({4, 4}, {.device = dev}));
      CHECK_CLOSE(x.grad(), zeros({4, 4}), 0.0, 0.0);
    }
  }
}

TEST_CASE("dropout: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      std::string msg = error_of([&] { dropout(ones({3}, {.device = dev}), 1.5); });
      CHECK(msg.find("dropout") != std::string::npos);
      CHECK(msg.find("1.5") != std::string::npos);
      CHECK(error_of([&] { dropout(ones({3}, {.device = dev}), -0.1); }).find("dropout") != std::string::npos);
      CHECK(error_of([&] { dropout(ones({3}, {.device = dev}), std::nan("")); }).find("dropout") != std::string::npos);
      CHECK(error_of([&] { dropout(from_vector<int64_t>({1, 2}, {2}, dev), 0.5); }).find("int64") != std::string::npos);
    }
  }
}

TEST_CASE("parity: dropout masks equal the CPU's bit for bit") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // ones: the output is the mask times the scale, nothing else
    for (int64_t n : {1, 3, 4, 5, 255, 1000, (1 << 20) + 3}) {
      for (double p : {0.1, 0.5, 0.9}) {
        const std::string what = "ones(" + std::to_string(n) + "), p " + std::to_string(p);
        check_parity(what, dropout_fn(p, 1234, 5), {ones({n}, {.dtype = dt})}, false, 0, 0);
      }
    }
    // seeds and counters past 2^32: the high key word and the high counter word take part
    check_parity("seed and counter past 2^32", dropout_fn(0.3, 0x1234567890ABCDEFull, (uint64_t{1} << 33) + 7),
                 {ones({4099}, {.dtype = dt})}, false, 0, 0);
  }
}

TEST_CASE("parity: dropout forward and backward, contiguous and strided, CUDA against CPU bit for bit") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_parity("dropout (3, 50)", dropout_fn(0.25, 77, 0), {leaf({3, 50}, 1, dt)}, true, 0, 0);
    check_parity("dropout (17, 33, 5)", dropout_fn(0.4, 5, 11), {leaf({17, 33, 5}, 2, dt)}, true, 0, 0);
    // a transposed input: element i counts the view's elements in row-major order
    check_parity("dropout of a transposed (6, 37)", dropout_fn(0.5, 7, 3, /*transpose=*/true),
                 {leaf({6, 37}, 3, dt)}, true, 0, 0);
    check_parity("dropout of a 0-d tensor", dropout_fn(0.5, 8, 0), {leaf({}, 4, dt)}, true, 0, 0);
    check_parity("dropout p = 1", dropout_fn(1.0, 9, 0), {leaf({5, 3}, 5, dt)}, true, 0, 0);
  }
}
