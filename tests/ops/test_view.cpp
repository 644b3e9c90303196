// tests/ops/test_view.cpp — gradients through views (view, permute, slice, expand) and copies.
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;
using test::randn_leaf;
using test::randn_leaf_transposed;

TEST_CASE("view ops pass gradcheck") {
  Tensor x = randn_leaf({2, 3, 4}, 1);
  CHECK_GRADCHECK([](auto& in) { return in[0].view({6, 4}) * 2.0; }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].reshape({4, 6}); }, {randn_leaf_transposed({4, 6}, 2)});
  CHECK_GRADCHECK([](auto& in) { return in[0].permute({2, 0, 1}) * in[0].permute({2, 0, 1}); }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].transpose(0, 2).contiguous(); }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].narrow(1, 1, 2); }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].slice(2, 0, 4, 3) + in[0].slice(2, 1, 3, 1).slice(2, 0, 1); }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].select(0, 1); }, {x});
  CHECK_GRADCHECK([](auto& in) { return in[0].unsqueeze(1).expand({3, 5, 4}); }, {randn_leaf({3, 4}, 3)});
  CHECK_GRADCHECK([](auto& in) { return in[0].expand({2, 3, 4}) * in[1]; }, {randn_leaf({3, 1}, 4), x});
  CHECK_GRADCHECK([](auto& in) { return in[0].squeeze(1).flatten(); }, {randn_leaf({2, 1, 3}, 5)});
  CHECK_GRADCHECK([](auto& in) { return in[0].clone(); }, {randn_leaf_transposed({2, 3}, 7)});
}

TEST_CASE("a cast passes its gradient back in the input's dtype") {
  Tensor x = randn_leaf({3}, 6);
  sum(x.to(DType::f32) * 2.0).backward();
  CHECK(x.grad().dtype() == DType::f64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
}

TEST_CASE("a view's gradient lands in the right elements of its base") {
  Tensor x = zeros({3, 4}, {.dtype = DType::f64}).requires_grad_();
  sum(x.slice(1, 1, 4, 2) * 3.0).backward();  // columns 1 and 3
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3});
  Tensor y = zeros({2, 1}, {.dtype = DType::f64}).requires_grad_();
  sum(y.expand({2, 5})).backward();
  CHECK(y.grad().to_vector<double>() == std::vector<double>{5, 5});
}
