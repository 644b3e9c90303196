// ops/optim_math.h — the optimizer updates' hyper-parameters and per-element formulas, written once
// for the CPU (ops/cpu/optim.cpp) and CUDA (cuda/optim.cu) alike.
//
// A step of one tensor: its scalars are computed once on the host in double (adam_scalars,
// sgd_scalars: bias corrections, step size, decay), cast to T once (AdamCoefficients,
// SgdCoefficients), and then every element runs the same update:
//   AdamW  g' = g + l2·w;  m = β1·m + (1 − β1)·g';  v = β2·v + (1 − β2)·g'²
//          w = w·decay − step_size·m / (√v·inv_bc2_sqrt + eps)
//   SGD    d = g + wd·w;  b = init ? d : μ·b + (1 − dampening)·d;  w −= lr·(nesterov ? d + μ·b : b)
// (the formulas of PyTorch 1.13's single-tensor torch.optim; ops/optim.h says them in full).
//
// What it is not: the loops (each backend's), the list checks (ops/optim.cpp) or the optimizers'
// bookkeeping (nn/optim.h). Plain C++ that nvcc reads: no fmt, no Tensor.
// Extend: another optimizer is its hyper-parameter structs, a *_scalars function and an *_update
// formula here, then a kernel per backend.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace sieve {

// Per-parameter hyper-parameters (groups may differ in lr and weight decay; steps may differ when
// a parameter had no gradient on some step).
struct AdamParamHyper {
  double lr = 1e-3;
  double weight_decay = 0.0;
  int64_t step = 1;  // this update's step number, counting from 1 (bias correction)
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool decoupled_weight_decay = true;  // true: AdamW; false: Adam's L2 penalty in the gradient
};

struct SgdParamHyper {
  double lr = 1e-2;
  double weight_decay = 0.0;
  bool init_buffer = false;  // first step with momentum: the buffer is set to g, not decayed into
};

struct SgdOptions {
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
};

// ---------------------------------------------------------------- AdamW

// One tensor's step, in double.
struct AdamScalars {
  double decay, l2, beta1, beta2, step_size, inv_bc2_sqrt, eps;
};

inline AdamScalars adam_scalars(const AdamParamHyper& h, const AdamOptions& o) {
  const double t = static_cast<double>(h.step);
  return {.decay = o.decoupled_weight_decay ? 1.0 - h.lr * h.weight_decay : 1.0,
          .l2 = o.decoupled_weight_decay ? 0.0 : h.weight_decay,
          .beta1 = o.beta1,
          .beta2 = o.beta2,
          .step_size = h.lr / (1.0 - std::pow(o.beta1, t)),
          .inv_bc2_sqrt = 1.0 / std::sqrt(1.0 - std::pow(o.beta2, t)),
          .eps = o.eps};
}

// The same numbers in the tensor's type, cast once.
template <typename T>
struct AdamCoefficients {
  T decay, l2, beta1, beta2, step_size, inv_bc2_sqrt, eps;
  SIEVE_HOST_DEVICE explicit AdamCoefficients(const AdamScalars& s)
      : decay(static_cast<T>(s.decay)), l2(static_cast<T>(s.l2)), beta1(static_cast<T>(s.beta1)),
        beta2(static_cast<T>(s.beta2)), step_size(static_cast<T>(s.step_size)),
        inv_bc2_sqrt(static_cast<T>(s.inv_bc2_sqrt)), eps(static_cast<T>(s.eps)) {}
};

// One element: w, m, v updated in place from g. Math: the backend's sqrt (ops/elementwise_math.h).
template <typename Math, typename T>
SIEVE_HOST_DEVICE inline void adam_update(T& w, T g, T& m, T& v, const AdamCoefficients<T>& c) {
  const T gi = g + c.l2 * w;
  const T mi = c.beta1 * m + (T(1) - c.beta1) * gi;
  const T vi = c.beta2 * v + (T(1) - c.beta2) * gi * gi;
  m = mi;
  v = vi;
  w = w * c.decay - c.step_size * mi / (Math::sqrt(vi) * c.inv_bc2_sqrt + c.eps);
}

// ---------------------------------------------------------------- SGD

struct SgdScalars {
  double lr, weight_decay, momentum, dampening;
  bool init_buffer, nesterov;
};

inline SgdScalars sgd_scalars(const SgdParamHyper& h, const SgdOptions& o) {
  return {.lr = h.lr, .weight_decay = h.weight_decay, .momentum = o.momentum, .dampening = o.dampening,
          .init_buffer = h.init_buffer, .nesterov = o.nesterov};
}

template <typename T>
struct SgdCoefficients {
  T lr, weight_decay, momentum, take;  // take = 1 − dampening
  bool init_buffer, nesterov;
  SIEVE_HOST_DEVICE explicit SgdCoefficients(const SgdScalars& s)
      : lr(static_cast<T>(s.lr)), weight_decay(static_cast<T>(s.weight_decay)), momentum(static_cast<T>(s.momentum)),
        take(static_cast<T>(1.0 - s.dampening)), init_buffer(s.init_buffer), nesterov(s.nesterov) {}
};

// One element without momentum.
template <typename T>
SIEVE_HOST_DEVICE inline void sgd_update(T& w, T g, const SgdCoefficients<T>& c) {
  w -= c.lr * (g + c.weight_decay * w);
}

// One element with momentum buffer b. On the first step the buffer becomes the gradient itself
// (PyTorch's clone of d_p): a select, not 0·b, so an uninitialised buffer cannot leak a NaN.
template <typename T>
SIEVE_HOST_DEVICE inline void sgd_momentum_update(T& w, T g, T& b, const SgdCoefficients<T>& c) {
  const T d = g + c.weight_decay * w;
  const T bi = c.init_buffer ? d : c.momentum * b + c.take * d;
  b = bi;
  w -= c.lr * (c.nesterov ? d + c.momentum * bi : bi);
}

}  // namespace sieve
