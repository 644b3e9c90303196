// tests/ops/test_view.cpp — views (view, permute, slice, expand) and copies (clone, contiguous,
// copy_, fill_, dtype casts): where a view's gradient lands, a cast's gradient dtype, and copy_,
// fill_ and casts through strided views, on every device; gradcheck of every view op (CPU); and
// the CUDA copy and fill kernels against the CPU's, bit for bit (parity).
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::kFloatTypes;
using test::leaf;
using test::randn_leaf;
using test::randn_leaf_transposed;

TEST_CASE("gradcheck: view ops") {
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
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = randn_leaf({3}, 6, true, DType::f64, dev);
      sum(x.to(DType::f32) * 2.0).backward();
      CHECK(x.grad().dtype() == DType::f64);
      CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
    }
  }
}

TEST_CASE("a view's gradient lands in the right elements of its base") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = zeros({3, 4}, {.dtype = DType::f64, .device = dev}).requires_grad_();
      sum(x.slice(1, 1, 4, 2) * 3.0).backward();  // columns 1 and 3
      CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3});
      Tensor y = zeros({2, 1}, {.dtype = DType::f64, .device = dev}).requires_grad_();
      sum(y.expand({2, 5})).backward();
      CHECK(y.grad().to_vector<double>() == std::vector<double>{5, 5});
    }
  }
}

TEST_CASE("copy_, fill_ and casts through strided views") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (DType dtype : kFloatTypes) {
        INFO(dtype_name(dtype));
        // fill_ through a step slice: columns 1 and 3 of a (2, 4) zeros.
        Tensor filled = zeros({2, 4}, {.dtype = dtype, .device = dev});
        fill_(filled.slice(1, 1, 4, 2), 3.5);
        CHECK(filled.to_vector<double>() == std::vector<double>{0, 3.5, 0, 3.5, 0, 3.5, 0, 3.5});
        // copy_ of a broadcast row into a transposed view: every column of the (3, 2) base is the row.
        Tensor base = zeros({3, 2}, {.dtype = dtype, .device = dev});
        copy_(base.t(), from_vector<double>({1, 2, 3}, {3}).to(dtype).to(dev));
        CHECK(base.to_vector<double>() == std::vector<double>{1, 1, 2, 2, 3, 3});
        // Casts of whole numbers (exact in every dtype) read through a transposed view.
        Tensor whole = from_vector<double>({-3, 0, 7, 12, -1, 5}, {2, 3}).to(dtype).to(dev).t();
        for (DType target : {DType::f32, DType::f64, DType::i64}) {
          const Tensor cast = whole.to(target);
          CHECK(cast.dtype() == target);
          CHECK(cast.device() == dev);
          CHECK(cast.to_vector<double>() == std::vector<double>{-3, 12, 0, -1, 7, 5});
        }
      }
    }
  }
}

TEST_CASE("parity: copy, fill and casts, CUDA against CPU bit for bit") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    Tensor host = leaf({4, 6}, 3, dtype, false);
    Tensor d = host.to(kCUDA);
    // fill_ through a strided view, copy_ of a broadcast row into a transposed view.
    Tensor hd = host.clone(), dd = d.clone();
    fill_(hd.slice(1, 1, 6, 2), 3.5);
    fill_(dd.slice(1, 1, 6, 2), 3.5);
    CHECK_CLOSE(dd.to(kCPU), hd, 0, 0);
    Tensor row = leaf({4}, 4, dtype, false);
    Tensor ht = leaf({4, 6}, 5, dtype, false), dt = ht.to(kCUDA);
    copy_(ht.t(), row);
    copy_(dt.t(), row.to(kCUDA));
    CHECK_CLOSE(dt.to(kCPU), ht, 0, 0);
    // Casts between every dtype pair, on a strided view.
    for (DType target : {DType::f32, DType::f64, DType::i64}) {
      Tensor scaled = (host * 10.0).t();
      CHECK_CLOSE(scaled.to(kCUDA).to(target).to(kCPU), scaled.to(target), 0, 0);
    }
  }
  check_parity("clone and contiguous of a transposed view (gradient through copy)",
               [](const std::vector<Tensor>& in) { return in[0].t().contiguous() * 1.0; },
               {leaf({3, 5}, 6, DType::f64)});
}
