// autograd/gradcheck.h — central-difference check of analytical gradients, in float64.
//
// gradcheck(f, inputs) runs y = f(inputs), backpropagates a fixed random projection of y
// (so every output element matters, not just their sum) and compares each input's gradient with
//   (L(x + ε e_i) − L(x − ε e_i)) / 2ε
// element by element. Inputs must be float64 CPU leaves; any that require grad are checked. They
// may be non-contiguous (a transposed or sliced leaf) — perturbations go to their strided elements.
//
// Extend: nothing to extend; every differentiable op's test calls it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sieve {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // on failure: which input and element, analytical vs numerical
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace sieve
