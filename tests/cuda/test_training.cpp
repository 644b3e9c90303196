// tests/cuda/test_training.cpp — training across devices, beyond single ops: a Linear + ReLU step
// whose outputs and gradients equal the CPU's, a 2-layer MLP trained for five AdamW steps on both
// devices with the same losses, and Module::to moving parameters in place (tied and viewed
// storages stay shared).
//
// Without a GPU every case returns at once and one line says why ("CUDA cases skipped").
#include <cmath>

#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "tests/helpers.h"
#include "tests/parity.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

TEST_CASE("cuda: Linear + ReLU forward and backward equal the CPU's") {
  if (!gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    Generator gen(70);
    nn::Linear linear(6, 4, true, &gen);
    const Tensor w = linear.weight.detach().to(dtype).requires_grad_();
    const Tensor b = linear.bias.detach().to(dtype).requires_grad_();
    check_parity(std::string("Linear + ReLU ") + dtype_name(dtype), [&linear](const std::vector<Tensor>& in) {
      linear.weight = in[1];
      linear.bias = in[2];
      return mean(relu(linear.forward(in[0])) * 2.0);
    }, {leaf({2, 3, 6}, 71, dtype), w, b});
  }
}

TEST_CASE("cuda: a 2-layer MLP trained 5 AdamW steps gives the CPU's losses") {
  if (!gpu_or_skip()) return;
  // Same init on both devices: two generators from one seed; the CUDA copy's parameters move over.
  Generator gen_cpu(150), gen_cuda(150);
  nn::Linear a1(10, 32, true, &gen_cpu), a2(32, 5, true, &gen_cpu);
  nn::Linear b1(10, 32, true, &gen_cuda), b2(32, 5, true, &gen_cuda);
  for (nn::Linear* l : {&b1, &b2}) {
    l->weight = l->weight.detach().to(kCUDA).requires_grad_();
    l->bias = l->bias.detach().to(kCUDA).requires_grad_();
  }
  const Tensor x = leaf({64, 10}, 151, DType::f32, false);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 64; ++i) labels.push_back((i * 7) % 5);
  const Tensor y = from_vector<int64_t>(labels, {64});
  auto train = [&](nn::Linear& l1, nn::Linear& l2, Device dev) {
    nn::AdamW opt(std::vector<Tensor>{l1.weight, l1.bias, l2.weight, l2.bias}, {.lr = 1e-2, .weight_decay = 0.01});
    const Tensor xd = x.to(dev), yd = y.to(dev);
    std::vector<double> losses;
    for (int step = 0; step < 5; ++step) {
      Tensor loss = cross_entropy(l2.forward(relu(l1.forward(xd))), yd);
      losses.push_back(loss.item());
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    return losses;
  };
  const std::vector<double> on_cpu = train(a1, a2, kCPU), on_cuda = train(b1, b2, kCUDA);
  for (size_t i = 0; i < on_cpu.size(); ++i) {
    INFO("step ", i, ": CPU ", on_cpu[i], ", CUDA ", on_cuda[i]);
    CHECK(std::abs(on_cuda[i] - on_cpu[i]) <= 1e-5);
  }
  CHECK(on_cpu.back() < on_cpu.front());
}

TEST_CASE("cuda: Module::to moves parameters in place; tied and viewed storages stay shared") {
  if (!gpu_or_skip()) return;
  Generator gen(152);
  nn::Linear layer(6, 4, true, &gen);
  const Tensor weight_handle = layer.weight;  // a second handle, as an optimizer's list holds
  const Tensor row_view = layer.weight.detach().narrow(0, 1, 2);  // shares the weight's storage
  const Tensor cpu_weight = layer.weight.detach().clone();
  layer.weight.set_grad(ones({4, 6}));
  layer.to(kCUDA);
  CHECK(layer.device() == kCUDA);
  CHECK(weight_handle.device() == kCUDA);
  CHECK(!layer.weight.grad().defined());  // gradients are dropped, not carried over
  CHECK_CLOSE(weight_handle.to(kCPU), cpu_weight, 0, 0);
  move_storage_({layer.weight, row_view}, kCUDA);  // the weight already moved; the view follows alone
  CHECK(row_view.device() == kCUDA);
  CHECK_CLOSE(row_view.to(kCPU), cpu_weight.narrow(0, 1, 2), 0, 0);
  // Both moved in one call: still one storage, so writes through one show in the other.
  Tensor a = zeros({3, 2}), b = a.narrow(0, 1, 1);
  move_storage_({a, b}, kCUDA);
  fill_(a, 5.0);
  CHECK(b.to_vector<float>() == std::vector<float>{5, 5});
  const Tensor x = leaf({3, 6}, 153, DType::f32, false);
  layer.to(kCPU);
  CHECK_CLOSE(layer.forward(x), matmul(x, cpu_weight.t()) + layer.bias, 1e-6, 1e-6);
}

}  // namespace sieve
