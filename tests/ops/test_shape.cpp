// tests/ops/test_shape.cpp — cat, stack, split, chunk: values (hand-computed and PyTorch goldens),
// gradients by finite differences, views without copies, and the errors of mismatched inputs.
#include <string>

#include "core/allocator.h"
#include "ops/shape.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using test::contains;
using test::error_of;


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
  test::check_golden("shape", "cat_dim0",
                     [](test::GoldenInputs& in) { return cat({in.at("a"), in.at("b"), in.at("c")}, 0); });
  test::check_golden("shape", "cat_dim1", [](test::GoldenInputs& in) { return cat({in.at("a"), in.at("b")}, 1); });
  test::check_golden("shape", "stack_dim1",
                     [](test::GoldenInputs& in) { return stack({in.at("a"), in.at("b"), in.at("c")}, 1); });
}

TEST_CASE("cat: gradients are views of g, checked by finite differences") {
  auto cat1 = [](const std::vector<Tensor>& in) { return cat(in, 1); };
  CHECK_GRADCHECK(cat1, {test::randn_leaf({2, 3}, 1), test::randn_leaf({2, 1}, 2), test::randn_leaf({2, 4}, 3)});
  Tensor sliced = test::randn_leaf({4, 6}, 4, false).slice(1, 0, 6, 3).detach().requires_grad_();  // (4, 2)
  CHECK_GRADCHECK(cat1, {test::randn_leaf_transposed({4, 3}, 5), sliced});
  // an input that does not require grad gets none, the others still do
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, 0); },
                  {test::randn_leaf({1, 3}, 6, false), test::randn_leaf({2, 3}, 7)});

  Tensor a = zeros({2, 2}, {.requires_grad = true}), b = zeros({2, 1}, {.requires_grad = true});
  Tensor g = arange(0, 6).reshape({2, 3});
  cat({a, b}, 1).backward(g);
  CHECK_CLOSE(a.grad(), from_vector<float>({0, 1, 3, 4}, {2, 2}), 0.0, 0.0);
  CHECK_CLOSE(b.grad(), from_vector<float>({2, 5}, {2, 1}), 0.0, 0.0);
}

TEST_CASE("cat: errors name the mismatch") {
  CHECK(contains(error_of([] { cat({}, 0); }), "at least one"));
  std::string msg = error_of([] { cat({zeros({2, 3}), zeros({2, 4})}, 0); });
  CHECK(contains(msg, "cat"));
  CHECK(contains(msg, "(2, 3)"));
  CHECK(contains(msg, "(2, 4)"));
  CHECK(contains(msg, "dim 1"));
  CHECK(contains(error_of([] { cat({zeros({2, 3}), zeros({2, 3}, {.dtype = DType::f64})}, 0); }), "float64"));
  CHECK(contains(error_of([] { cat({zeros({2, 3}), zeros({6})}, 0); }), "dims"));
  CHECK(contains(error_of([] { cat({zeros({2, 3})}, 2); }), "dim 2"));
  CHECK(contains(error_of([] { cat({zeros({2}), Tensor()}, 0); }), "undefined"));
}

TEST_CASE("stack: a new dim of size n") {
  Tensor a = arange(0, 3), b = arange(3, 6);
  CHECK_CLOSE(stack({a, b}), from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}), 0.0, 0.0);
  CHECK_CLOSE(stack({a, b}, 1), from_vector<float>({0, 3, 1, 4, 2, 5}, {3, 2}), 0.0, 0.0);
  CHECK_CLOSE(stack({a, b}, -1), from_vector<float>({0, 3, 1, 4, 2, 5}, {3, 2}), 0.0, 0.0);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, 1); },
                  {test::randn_leaf({2, 3}, 1), test::randn_leaf_transposed({2, 3}, 2)});
  std::string msg = error_of([] { stack({zeros({2, 3}), zeros({3, 2})}); });
  CHECK(contains(msg, "stack"));
  CHECK(contains(msg, "(3, 2)"));
  CHECK(contains(error_of([] { stack({}); }), "at least one"));
}

TEST_CASE("split and chunk: views along a dim, the last piece may be smaller") {
  Tensor x = arange(0, 10).reshape({2, 5});
  const int64_t before = memory_stats(kCPU).allocations;
  std::vector<Tensor> pieces = split(x, 2, 1);
  CHECK(memory_stats(kCPU).allocations == before);  // views: no data copied
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].shape() == Shape{2, 2});
  CHECK(pieces[2].shape() == Shape{2, 1});
  CHECK_CLOSE(pieces[1], from_vector<float>({2, 3, 7, 8}, {2, 2}), 0.0, 0.0);
  CHECK(pieces[2].raw_data() == static_cast<float*>(x.raw_data()) + 4);

  std::vector<Tensor> chunks = chunk(x, 3, 1);  // ceil(5 / 3) = 2 → sizes 2, 2, 1
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[2].shape() == Shape{2, 1});
  CHECK(chunk(arange(0, 6), 4).size() == 3);  // ceil(6 / 4) = 2 → 3 pieces, as torch.chunk
  CHECK(chunk(arange(0, 6), 6).size() == 6);
  CHECK(split(x, 5, 1).size() == 1);
  CHECK(split(x, 7, 0).size() == 1);

  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return split(in[0], 2, 1)[1]; }, {test::randn_leaf({3, 5}, 1)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return chunk(in[0], 2, 0)[1]; },
                  {test::randn_leaf_transposed({5, 3}, 2)});
  // split then cat is the identity, gradients included
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return cat(split(in[0], 2, 0), 0); },
                  {test::randn_leaf({5, 2}, 3)});

  CHECK(contains(error_of([&] { split(x, 0, 1); }), "split_size"));
  CHECK(contains(error_of([&] { chunk(x, 0, 1); }), "chunks"));
  CHECK(contains(error_of([&] { split(x, 1, 2); }), "dim 2"));
}
