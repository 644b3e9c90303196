// autograd/gradcheck.cpp — see gradcheck.h.
#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace sieve {

namespace {

// Storage offset of the element with row-major index `linear` in t.
int64_t element_offset(const Tensor& t, int64_t linear) {
  int64_t offset = 0;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    offset += (linear % t.shape()[d]) * t.strides()[d];
    linear /= t.shape()[d];
  }
  return offset;
}

}  // namespace

GradcheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  for (const Tensor& x : inputs)
    SIEVE_CHECK(!x.defined() || (x.dtype() == DType::f64 && x.device().is_cpu() && x.is_leaf()),
                "gradcheck: inputs must be float64 CPU leaves, got {}", x.describe());

  // L(inputs) = Σ y ⊙ w, with w fixed random weights.
  Tensor probe;
  auto loss = [&]() {
    Tensor y = f(inputs);
    SIEVE_CHECK(y.dtype() == DType::f64, "gradcheck: f returned {}, expected float64", y.describe());
    if (!probe.defined()) {
      Generator gen(1234);
      probe = rand(y.shape(), {.dtype = DType::f64}, &gen) + 0.5;
    }
    return sum(y * probe);
  };

  for (const Tensor& x : inputs)
    if (x.defined()) x.impl()->grad = nullptr;
  Tensor l = loss();
  SIEVE_CHECK(l.requires_grad(), "gradcheck: the output does not depend on any input that requires grad");
  l.backward();

  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytical = x.grad().defined() ? x.grad() : zeros_like(x);
    const std::vector<double> a = analytical.to_vector<double>();
    double* base = static_cast<double*>(x.impl()->storage->data) + x.offset();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double& v = base[element_offset(x, i)];
      const double saved = v;
      v = saved + options.eps;
      const double plus = loss().item();
      v = saved - options.eps;
      const double minus = loss().item();
      v = saved;
      const double numerical = (plus - minus) / (2 * options.eps);
      if (std::abs(a[i] - numerical) > options.atol + options.rtol * std::abs(numerical)) {
        return {false, fmt::format("input {} {} element {}: analytical {:.8g} vs numerical {:.8g}", k, x.describe(),
                                   i, a[i], numerical)};
      }
    }
  }
  return {};
}

}  // namespace sieve
