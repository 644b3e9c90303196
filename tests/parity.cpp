// tests/parity.cpp — see parity.h.
#include "tests/parity.h"

#include "autograd/grad_mode.h"
#include "cuda/backend.h"
#include "ops/elementwise.h"

namespace sieve::test {

// True when a GPU is usable; otherwise the first call prints why the CUDA cases are skipped.
bool gpu_or_skip() {
  if (cuda::available()) return true;
  static bool told = false;
  if (!told) MESSAGE("CUDA cases skipped: no usable GPU (" << cuda::unavailable_reason() << ")");
  told = true;
  return false;
}

double parity_rtol(DType dtype) { return dtype == DType::f64 ? 1e-12 : 1e-5; }
double parity_atol(DType dtype) { return dtype == DType::f64 ? 1e-12 : 1e-5; }

void check_parity(const std::string& what, const Fn& fn, const std::vector<Tensor>& cpu_inputs, bool backward, double atol,
                  double rtol) {
  INFO(what);
  std::vector<Tensor> cuda_inputs;
  for (Tensor x : cpu_inputs) {
    x.zero_grad();  // a leaf shared by several checks would otherwise carry the last one's gradient
    Tensor c = x.detach().to(kCUDA);
    if (x.requires_grad()) c.requires_grad_();
    cuda_inputs.push_back(c);
  }
  const Tensor out_cpu = fn(cpu_inputs);
  const Tensor out_cuda = fn(cuda_inputs);
  REQUIRE(out_cuda.device().is_cuda());
  const DType dtype = out_cpu.dtype();
  if (atol < 0) atol = parity_atol(dtype);
  if (rtol < 0) rtol = parity_rtol(dtype);
  CHECK_CLOSE(out_cuda.to(kCPU), out_cpu, atol, rtol);
  if (!backward || !out_cpu.requires_grad()) return;
  const Tensor g = test::randn_leaf(out_cpu.shape(), 991, false, dtype);
  out_cpu.backward(g);
  out_cuda.backward(g.to(kCUDA));
  for (size_t i = 0; i < cpu_inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    INFO("gradient of input " << i);
    REQUIRE(cuda_inputs[i].grad().defined());
    CHECK(cuda_inputs[i].grad().device().is_cuda());
    CHECK_CLOSE(cuda_inputs[i].grad().to(kCPU), cpu_inputs[i].grad(), atol, rtol);
  }
}

Tensor leaf(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad) {
  return test::randn_leaf(shape, seed, requires_grad, dtype);
}

// |N(0,1)| + 0.5: inputs for log, sqrt, rsqrt, pow.
Tensor positive_leaf(const Shape& shape, uint64_t seed, DType dtype) {
  Tensor x;
  {
    NoGradGuard no_grad;
    x = abs(test::randn_leaf(shape, seed, false, dtype)) + 0.5;
  }
  return x.requires_grad_();
}

}  // namespace sieve::test
