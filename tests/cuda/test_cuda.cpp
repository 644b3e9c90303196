// tests/cuda/test_cuda.cpp — the CUDA backend against the CPU reference: device copies, the
// caching allocator, and every CUDA kernel family so far (copy/fill, elementwise, matmul, reduce,
// softmax, loss, norm, optim), forward and backward, in float32 and float64; and a small MLP
// trained for a few AdamW steps on both devices.
//
// check_parity (tests/parity.h) runs one function on CPU leaves and on CUDA copies of them,
// then compares the outputs and every input's gradient.
// Without a GPU the GPU cases pass at once and one line says why they were skipped; the error
// case (a CUDA request gives one clear sieve::Error) runs only then.
//
// Extend: a family that gains CUDA kernels adds tests/cuda/test_cuda_<family>.cpp calling
// check_parity on its ops, with inputs that reach each of its layouts (contiguous, transposed,
// sliced, broadcast).
#include <cstdlib>
#include <functional>

#include "autograd/grad_mode.h"
#include "cuda/backend.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/optim.h"
#include "ops/profile.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/parity.h"
#include "tests/helpers.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;
using test::parity_atol;
using test::parity_rtol;
using test::positive_leaf;

TEST_CASE("cuda: a CUDA request without a GPU is one clear sieve::Error") {
  if (cuda::available()) {
    MESSAGE("skipped: a GPU is present, so CUDA requests succeed");
    return;
  }
  const std::string message = test::error_of([] { zeros({2, 3}, {.device = kCUDA}); });
  CHECK(!message.empty());
  CHECK(message.find('\n') == std::string::npos);
  CHECK((test::contains(message, "CUDA") || test::contains(message, "cuda")));
  CHECK(test::error_of([] { from_vector<float>({1, 2}, {2}).to(kCUDA); }) != "");
  CHECK(memory_stats(kCUDA).live_bytes == 0);
}

TEST_CASE("cuda: to() round trips, factories and item") {
  if (!gpu_or_skip()) return;
  for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
    Tensor x = dtype == DType::i64 ? arange(0, 24, 1, {.dtype = dtype}).reshape({2, 3, 4})
                                   : leaf({2, 3, 4}, 1, dtype, false);
    Tensor d = x.to(kCUDA);
    CHECK(d.device() == kCUDA);
    CHECK(d.dtype() == dtype);
    CHECK_CLOSE(d.to(kCPU), x, 0, 0);
    // Strided sources (a transpose, a step slice) are made contiguous before the copy.
    Tensor strided = x.transpose(0, 2).slice(1, 0, 3, 2);
    CHECK_CLOSE(strided.to(kCUDA).to(kCPU), strided, 0, 0);
    // A strided CUDA view: contiguous() runs the CUDA copy kernel.
    Tensor dview = d.transpose(0, 2).slice(1, 0, 3, 2);
    CHECK(!dview.is_contiguous());
    CHECK_CLOSE(dview.contiguous().to(kCPU), strided, 0, 0);
    CHECK_CLOSE(dview.to(kCPU), strided, 0, 0);
  }
  Tensor v = from_vector<double>({1.5, -2.0, 3.25}, {3}, kCUDA);
  CHECK(v.device().is_cuda());
  CHECK(v.to_vector<double>() == std::vector<double>{1.5, -2.0, 3.25});
  CHECK(v.select(0, 2).item() == 3.25);
  CHECK(zeros({4, 5}, {.device = kCUDA}).to_vector<float>() == std::vector<float>(20, 0.0f));
  CHECK(full({3}, 7.0, {.dtype = DType::i64, .device = kCUDA}).to_vector<int64_t>() == std::vector<int64_t>(3, 7));
  CHECK(ones({2}, {.dtype = DType::f64, .device = kCUDA}).to_vector<double>() == std::vector<double>{1.0, 1.0});
  CHECK(empty({0, 3}, {.device = kCUDA}).to_vector<float>().empty());
  // The gradient of to(kCUDA) comes back to the CPU leaf.
  Tensor a = leaf({3, 2}, 2, DType::f64);
  sum(a.to(kCUDA) * 2.0).backward();
  REQUIRE(a.grad().defined());
  CHECK(a.grad().device().is_cpu());
  CHECK_CLOSE(a.grad(), full({3, 2}, 2.0, {.dtype = DType::f64}), 0, 0);
}

TEST_CASE("cuda: caching allocator counters and reuse") {
  if (!gpu_or_skip()) return;
  cuda::synchronize();
  const int64_t before = memory_stats(kCUDA).live_bytes;
  void* first = nullptr;
  {
    Tensor t = empty({1 << 18}, {.device = kCUDA});  // 1 MiB
    first = t.raw_data();
    CHECK(memory_stats(kCUDA).live_bytes == before + (int64_t{1} << 20));
    CHECK(memory_stats(kCUDA).peak_bytes >= before + (int64_t{1} << 20));
  }
  CHECK(memory_stats(kCUDA).live_bytes == before);
  CHECK(memory_stats(kCUDA).cached_bytes >= (int64_t{1} << 20));
  {
    Tensor again = empty({1 << 18}, {.device = kCUDA});  // same size: the freed block comes back
    CHECK(again.raw_data() == first);
  }
  empty_cache(kCUDA);
  CHECK(memory_stats(kCUDA).cached_bytes == 0);
}

TEST_CASE("cuda: TF32 is off unless asked for") {
  if (!gpu_or_skip()) return;
  CHECK(cuda::tf32_enabled() == (std::getenv("SIEVE_TF32") != nullptr && std::string(std::getenv("SIEVE_TF32")) == "1"));
  const bool was = cuda::tf32_enabled();
  cuda::set_tf32(true);
  const Tensor a = leaf({64, 64}, 60, DType::f32, false), b = leaf({64, 64}, 61, DType::f32, false);
  CHECK_CLOSE(matmul(a.to(kCUDA), b.to(kCUDA)).to(kCPU), matmul(a, b), 5e-2, 1e-2);  // TF32: 10-bit mantissas
  cuda::set_tf32(was);
}

TEST_CASE("cuda: the profiler charges CUDA kernels their GPU time") {
  if (!gpu_or_skip()) return;
  const Tensor a = leaf({64, 64}, 80, DType::f32, false).to(kCUDA);
  profile::Profiler profiler;
  const Tensor c = matmul(a, a);
  bool found = false;
  for (const profile::Entry& e : profiler.entries()) {
    if (e.op != Op::matmul) continue;
    found = true;
    CHECK(e.calls == 1);
    CHECK(e.flops == 2 * 64 * 64 * 64);
    CHECK(e.seconds > 0);
  }
  CHECK(found);
}

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
