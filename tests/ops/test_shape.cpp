// tests/ops/test_shape.cpp — cat, stack, split, chunk (their kernels are the copy kernels): values
// (hand-computed and PyTorch goldens), cat's gradient slices, views without copies, and the errors
// of mismatched inputs, on every device; gradients by finite differences (CPU); and the CUDA
// outputs and gradients against the CPU's on strided inputs (parity).
#include <string>

#include "core/allocator.h"
#include "ops/shape.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::contains;
using test::error_of;
using test::kFloatTypes;
using test::leaf;

TEST_CASE("cat: joins along a dim, any input layout") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor a = arange(0, 4).reshape({2, 2}).to(dev);   // [[0, 1], [2, 3]]
      Tensor b = arange(4, 6).reshape({1, 2}).to(dev);   // [[4, 5]]
      Tensor c = arange(6, 10).reshape({2, 2}).to(dev);  // [[6, 7], [8, 9]]
      CHECK_CLOSE(cat({a, b}, 0), from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2}), 0.0, 0.0);
      CHECK_CLOSE(cat({a, c.t()}, 1), from_vector<float>({0, 1, 6, 8, 2, 3, 7, 9}, {2, 4}), 0.0, 0.0);
      CHECK_CLOSE(cat({a, c}, -1), from_vector<float>({0, 1, 6, 7, 2, 3, 8, 9}, {2, 4}), 0.0, 0.0);
      CHECK_CLOSE(cat({a, zeros({0, 2}).to(dev), b}, 0), from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2}), 0.0, 0.0);
      Tensor one = cat({a}, 0);
      CHECK_CLOSE(one, a, 0.0, 0.0);
      CHECK(one.raw_data() != a.raw_data());  // a new tensor, as torch.cat
      Tensor ints = cat({from_vector<int64_t>({1, 2}, {2}).to(dev), from_vector<int64_t>({3}, {1}).to(dev)});
      CHECK(ints.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
    }
  }
}

TEST_CASE("cat and stack: PyTorch goldens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("shape", "cat_dim0",
                         [](test::GoldenInputs& in) { return cat({in.at("a"), in.at("b"), in.at("c")}, 0); }, 1e-5,
                         1e-4, dev);
      test::check_golden("shape", "cat_dim1", [](test::GoldenInputs& in) { return cat({in.at("a"), in.at("b")}, 1); },
                         1e-5, 1e-4, dev);
      test::check_golden("shape", "stack_dim1",
                         [](test::GoldenInputs& in) { return stack({in.at("a"), in.at("b"), in.at("c")}, 1); }, 1e-5,
                         1e-4, dev);
    }
  }
}

TEST_CASE("gradcheck: cat, on contiguous, transposed and sliced inputs") {
  auto cat1 = [](const std::vector<Tensor>& in) { return cat(in, 1); };
  CHECK_GRADCHECK(cat1, {test::randn_leaf({2, 3}, 1), test::randn_leaf({2, 1}, 2), test::randn_leaf({2, 4}, 3)});
  Tensor sliced = test::randn_leaf({4, 6}, 4, false).slice(1, 0, 6, 3).detach().requires_grad_();  // (4, 2)
  CHECK_GRADCHECK(cat1, {test::randn_leaf_transposed({4, 3}, 5), sliced});
  // an input that does not require grad gets none, the others still do
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, 0); },
                  {test::randn_leaf({1, 3}, 6, false), test::randn_leaf({2, 3}, 7)});
}

TEST_CASE("cat: each input's gradient is its slice of g") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor a = zeros({2, 2}, {.device = dev, .requires_grad = true});
      Tensor b = zeros({2, 1}, {.device = dev, .requires_grad = true});
      Tensor g = arange(0, 6).reshape({2, 3}).to(dev);
      cat({a, b}, 1).backward(g);
      CHECK_CLOSE(a.grad(), from_vector<float>({0, 1, 3, 4}, {2, 2}), 0.0, 0.0);
      CHECK_CLOSE(b.grad(), from_vector<float>({2, 5}, {2, 1}), 0.0, 0.0);
    }
  }
}

TEST_CASE("cat: errors name the mismatch") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      CHECK(contains(error_of([&] { cat({}, 0); }), "at least one"));
      std::string msg = error_of([&] { cat({z({2, 3}), z({2, 4})}, 0); });
      CHECK(contains(msg, "cat"));
      CHECK(contains(msg, "(2, 3)"));
      CHECK(contains(msg, "(2, 4)"));
      CHECK(contains(msg, "dim 1"));
      CHECK(contains(error_of([&] { cat({z({2, 3}), z({2, 3}, DType::f64)}, 0); }), "float64"));
      CHECK(contains(error_of([&] { cat({z({2, 3}), z({6})}, 0); }), "dims"));
      CHECK(contains(error_of([&] { cat({z({2, 3})}, 2); }), "dim 2"));
      CHECK(contains(error_of([&] { cat({z({2}), Tensor()}, 0); }), "undefined"));
    }
  }
}

TEST_CASE("stack: a new dim of size n") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor a = arange(0, 3).to(dev), b = arange(3, 6).to(dev);
      CHECK_CLOSE(stack({a, b}), from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}), 0.0, 0.0);
      CHECK_CLOSE(stack({a, b}, 1), from_vector<float>({0, 3, 1, 4, 2, 5}, {3, 2}), 0.0, 0.0);
      CHECK_CLOSE(stack({a, b}, -1), from_vector<float>({0, 3, 1, 4, 2, 5}, {3, 2}), 0.0, 0.0);
      std::string msg = error_of([&] { stack({zeros({2, 3}, {.device = dev}), zeros({3, 2}, {.device = dev})}); });
      CHECK(contains(msg, "stack"));
      CHECK(contains(msg, "(3, 2)"));
      CHECK(contains(error_of([] { stack({}); }), "at least one"));
    }
  }
}

TEST_CASE("gradcheck: stack, split and chunk") {
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, 1); },
                  {test::randn_leaf({2, 3}, 1), test::randn_leaf_transposed({2, 3}, 2)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return split(in[0], 2, 1)[1]; }, {test::randn_leaf({3, 5}, 1)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return chunk(in[0], 2, 0)[1]; },
                  {test::randn_leaf_transposed({5, 3}, 2)});
  // split then cat is the identity, gradients included
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return cat(split(in[0], 2, 0), 0); },
                  {test::randn_leaf({5, 2}, 3)});
}

TEST_CASE("split and chunk: views along a dim, the last piece may be smaller") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = arange(0, 10).reshape({2, 5}).to(dev);
      const int64_t before = memory_stats(dev).allocations;
      std::vector<Tensor> pieces = split(x, 2, 1);
      CHECK(memory_stats(dev).allocations == before);  // views: no data copied
      REQUIRE(pieces.size() == 3);
      CHECK(pieces[0].shape() == Shape{2, 2});
      CHECK(pieces[2].shape() == Shape{2, 1});
      CHECK_CLOSE(pieces[1], from_vector<float>({2, 3, 7, 8}, {2, 2}), 0.0, 0.0);
      CHECK(pieces[2].raw_data() == static_cast<float*>(x.raw_data()) + 4);

      std::vector<Tensor> chunks = chunk(x, 3, 1);  // ceil(5 / 3) = 2 → sizes 2, 2, 1
      REQUIRE(chunks.size() == 3);
      CHECK(chunks[2].shape() == Shape{2, 1});
      CHECK(chunk(arange(0, 6).to(dev), 4).size() == 3);  // ceil(6 / 4) = 2 → 3 pieces, as torch.chunk
      CHECK(chunk(arange(0, 6).to(dev), 6).size() == 6);
      CHECK(split(x, 5, 1).size() == 1);
      CHECK(split(x, 7, 0).size() == 1);

      CHECK(contains(error_of([&] { split(x, 0, 1); }), "split_size"));
      CHECK(contains(error_of([&] { chunk(x, 0, 1); }), "chunks"));
      CHECK(contains(error_of([&] { split(x, 1, 2); }), "dim 2"));
    }
  }
}

TEST_CASE("parity: cat, stack, split and chunk on strided inputs, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const std::string type = dtype_name(dtype);
    // a transposed and a step-sliced input next to a contiguous one, along each dim
    for (int dim : {0, 1})
      check_parity(type + " cat dim " + std::to_string(dim),
                   [dim](const std::vector<Tensor>& in) {
                     return cat({in[0], in[1].t(), in[2].slice(1, 0, 10, 2)}, dim);
                   },
                   {leaf({5, 5}, 1, dtype), leaf({5, 5}, 2, dtype), leaf({5, 10}, 3, dtype)});
    check_parity(type + " cat, one input without gradient",
                 [](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, 0); },
                 {leaf({3, 130}, 4, dtype, false), leaf({700, 130}, 5, dtype)});
    check_parity(type + " stack dim 1 of a transposed input",
                 [](const std::vector<Tensor>& in) { return stack({in[0], in[1].t()}, 1); },
                 {leaf({6, 4}, 6, dtype), leaf({4, 6}, 7, dtype)});
    // split then cat in another order: every piece's gradient lands in its own rows
    check_parity(type + " split and chunk", [](const std::vector<Tensor>& in) {
      const std::vector<Tensor> pieces = split(in[0], 3, 0), halves = chunk(in[0].t(), 2, 0);
      return cat({cat({pieces[2], pieces[0]}, 0), halves[1].t().narrow(0, 0, 5)}, 1);  // (5, 5) and (5, 2)
    }, {leaf({8, 5}, 8, dtype)});
  }
}
