// tests/ops/test_op_list.cpp — the closed op list and the implementations stay in step, on every
// device: every op in ops/op_list.h has a front end here that runs, and each differentiable one
// records exactly its own Op. In-place updates (the optim ops) record nothing: their entry runs the
// op under NoGradGuard and returns the parameter, which must still be a leaf with no recorded history.
#include <functional>
#include <map>
#include <set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/optim.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("every op in the closed list runs and records itself") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = test::randn_leaf({2, 4}, 1, true, DType::f64, dev);
      Tensor y = test::randn_leaf({2, 4}, 2, true, DType::f64, dev);
      Tensor sq = test::randn_leaf({4, 4}, 3, true, DType::f64, dev);
      Tensor img = test::randn_leaf({1, 2, 4, 4}, 4, true, DType::f64, dev);
      Tensor ids = from_vector<int64_t>({0, 3, 1}, {3}, dev);
      Tensor target = from_vector<int64_t>({1, 3}, {2}, dev);
      Tensor positive = (abs(x) + 1.0).detach().requires_grad_();
      Tensor c = ones({4}, {.dtype = DType::f64, .device = dev});
      Tensor w = test::randn_leaf({4, 2}, 5, true, DType::f64, dev);
      Generator gen(9);

      // An op → a call that makes a tensor whose last recorded op should be that op.
      const std::map<Op, std::function<Tensor()>> calls = {
          {Op::add, [&] { return x + y; }},
          {Op::sub, [&] { return x - y; }},
          {Op::mul, [&] { return x * y; }},
          {Op::div, [&] { return x / positive; }},
          {Op::neg, [&] { return -x; }},
          {Op::exp, [&] { return exp(x); }},
          {Op::log, [&] { return log(positive); }},
          {Op::sqrt, [&] { return sqrt(positive); }},
          {Op::rsqrt, [&] { return rsqrt(positive); }},
          {Op::pow, [&] { return pow(x, 2.0); }},
          {Op::abs, [&] { return abs(x); }},
          {Op::tanh, [&] { return tanh(x); }},
          {Op::sigmoid, [&] { return sigmoid(x); }},
          {Op::relu, [&] { return relu(x); }},
          {Op::gelu, [&] { return gelu(x); }},
          {Op::gelu_tanh, [&] { return gelu(x, GeluApprox::tanh); }},
          {Op::silu, [&] { return silu(x); }},
          {Op::softplus, [&] { return softplus(x); }},
          {Op::where, [&] { return where(c, x, y); }},
          {Op::masked_fill, [&] { return masked_fill(x, c, 0.0); }},
          {Op::sum, [&] { return sum(x); }},
          {Op::mean, [&] { return mean(x, {1}); }},
          {Op::max, [&] { return max(x, {0}); }},
          {Op::min, [&] { return min(x); }},
          {Op::argmax, [&] { return argmax(x, 1); }},
          {Op::var, [&] { return var(x, {1}); }},
          {Op::cumsum, [&] { return cumsum(x, 1); }},
          {Op::matmul, [&] { return matmul(x, w); }},
          {Op::softmax, [&] { return softmax(x); }},
          {Op::log_softmax, [&] { return log_softmax(x); }},
          {Op::cross_entropy, [&] { return cross_entropy(x, target); }},
          {Op::mse_loss, [&] { return mse_loss(x, y); }},
          {Op::layer_norm, [&] { return layer_norm(x, Tensor(), Tensor()); }},
          {Op::rms_norm, [&] { return rms_norm(x, Tensor()); }},
          {Op::selective_scan,
           [&] { return selective_scan(img.select(0, 0), img.select(0, 0), sq, img.select(0, 0), img.select(0, 0)); }},
          {Op::attention, [&] { return attention(img, img, img).out; }},
          {Op::embedding, [&] { return embedding(sq, ids); }},
          {Op::index_select, [&] { return index_select(sq, 0, ids); }},
          {Op::gather,
           [&] {
             return gather(x, 1, from_vector<int64_t>({0, 1, 3, 2}, {2, 2}, dev));
           }},
          {Op::scatter_add,
           [&] {
             return scatter_add(x, 1, from_vector<int64_t>({0, 1}, {2, 1}, dev), y.narrow(1, 0, 1));
           }},
          {Op::topk, [&] { return topk(x, 2).first; }},
          {Op::argsort, [&] { return argsort(x); }},
          {Op::cat,
           [&] {
             return cat({x, y}, 1);
           }},
          {Op::dropout, [&] { return dropout(x, 0.5, true, &gen); }},
          {Op::conv1d_causal_depthwise, [&] { return conv1d_causal_depthwise(sq.unsqueeze(0), sq, Tensor()); }},
          {Op::conv2d_depthwise,
           [&] {
             return conv2d_depthwise(img, ones({img.size(3), 3, 3}, {.dtype = img.dtype(), .device = dev}), Tensor());
           }},
          {Op::unfold_patches, [&] { return unfold_patches(img, 2); }},
          {Op::view, [&] { return x.view({8}); }},
          {Op::permute, [&] { return x.t(); }},
          {Op::slice, [&] { return x.narrow(1, 1, 2); }},
          {Op::expand,
           [&] {
             return x.unsqueeze(0).expand({3, 2, 4});
           }},
          {Op::copy, [&] { return x.clone(); }},
          {Op::cast, [&] { return x.to(DType::f32); }},
          {Op::adamw_step,
           [&] {
             Tensor p = zeros({3}, {.dtype = DType::f64, .device = dev});
             Tensor g = ones({3}, {.dtype = DType::f64, .device = dev});
             NoGradGuard no_grad;
             adamw_step({p}, {g}, {zeros_like(p)}, {zeros_like(p)}, {AdamParamHyper{}}, {});
             return p;
           }},
          {Op::sgd_step,
           [&] {
             Tensor p = zeros({3}, {.dtype = DType::f64, .device = dev});
             Tensor g = ones({3}, {.dtype = DType::f64, .device = dev});
             NoGradGuard no_grad;
             sgd_step({p}, {g}, {}, {SgdParamHyper{}}, {});
             return p;
           }},
      };
      // to_device needs a second device; it is exercised by the CUDA tests when a GPU is present.
      const std::set<Op> not_differentiable = {Op::argmax, Op::argsort};
      // Parameter updates: no autograd at all; the call above checks they ran (the value moved).
      const std::set<Op> updates_in_place = {Op::adamw_step, Op::sgd_step};

      for (size_t i = 0; i < kOpCount; ++i) {
        const Op op = static_cast<Op>(i);
        if (op == Op::to_device) continue;
        INFO("op ", op_name(op));
        auto it = calls.find(op);
        REQUIRE_MESSAGE(it != calls.end(), "no call for this op in the test table");
        Tensor out = it->second();
        if (updates_in_place.count(op)) {
          CHECK(out.is_leaf());
          CHECK(out.to_vector<double>()[0] < 0.0);  // both moved the zero parameter against a +1 gradient
          continue;
        }
        if (not_differentiable.count(op)) {
          CHECK_FALSE(out.requires_grad());
          continue;
        }
        REQUIRE(out.impl()->grad_fn != nullptr);
        CHECK(std::string(op_name(out.impl()->grad_fn->op)) == op_name(op));
      }
    }
  }
}
