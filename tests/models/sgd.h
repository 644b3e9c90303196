// tests/models/sgd.h — short training loops for the models' "it learns" checks.
//
// sgd_losses is not an optimizer (that is nn/optim.h): no state, no decay, no clipping, so a
// failing check points at the model and its gradients. adamw_losses runs the trainer's
// optimizer set-up (no decay on biases, norms and flagged parameters), for models whose flags
// matter. Extend: another loss is another lambda, not a new loop.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"
#include "ops/loss.h"

namespace sieve::test {

// `steps` steps of w −= lr·∇loss on every parameter; returns the first and the last loss.
inline std::pair<double, double> sgd_losses(nn::Module& model, const std::function<Tensor()>& loss_of, int steps,
                                            float lr) {
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    Tensor loss = loss_of();
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    for (Tensor p : model.parameters()) {
      const std::vector<float> g = p.grad().to_vector<float>();
      float* w = p.data<float>();
      for (size_t i = 0; i < g.size(); ++i) w[i] -= lr * g[i];
    }
    model.zero_grad();
  }
  return {first, last};
}

// The common case: cross-entropy of forward(x) against fixed labels y.
inline std::pair<double, double> sgd_losses(nn::Module& model, const Tensor& x, const Tensor& y, int steps, float lr) {
  return sgd_losses(model, [&] { return cross_entropy(model.forward(x), y); }, steps, lr);
}

// `steps` AdamW steps (lr, weight decay 0.01 on the trainer's groups) on cross-entropy of
// forward(x) against y; returns the first and the last loss.
inline std::pair<double, double> adamw_losses(nn::Module& model, const Tensor& x, const Tensor& y, int steps,
                                              double lr) {
  model.no_weight_decay_for_biases_and_norms();
  nn::AdamW opt(nn::weight_decay_groups(model, 0.01), {.lr = lr, .weight_decay = 0.01});
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    Tensor loss = cross_entropy(model.forward(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  return {first, last};
}

}  // namespace sieve::test
