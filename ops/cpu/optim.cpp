// ops/cpu/optim.cpp — fused AdamW/Adam and SGD updates over all parameters at once.
//
// Work is cut into chunks of at most kChunk elements across all tensors; one
// `omp parallel for` walks the chunks, and each chunk's inner loop is a plain `omp simd` loop
// over contiguous memory, so big matrices spread over threads and small biases do not cost a
// parallel region each. Scalars (bias corrections, step sizes) are computed once per tensor in
// double and cast to T, as PyTorch computes them on the host.
//
// Extend: another optimizer writes its per-element update the same way (see adamw_step).
#include "ops/cpu/optim.h"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

constexpr int64_t kChunk = 1 << 15;

struct Chunk {
  size_t tensor;
  int64_t begin, end;
};

std::vector<Chunk> make_chunks(const std::vector<Tensor>& params) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < params.size(); ++i)
    for (int64_t b = 0; b < params[i].numel(); b += kChunk)
      chunks.push_back({i, b, std::min(params[i].numel(), b + kChunk)});
  return chunks;
}

// Runs body.operator()<T>(chunk) for every chunk of every parameter, chunks in parallel, with T
// the parameters' C++ type: the one loop both optimizers' updates are written inside.
template <typename Body>
void for_each_chunk(const std::vector<Tensor>& params, Op op, Body&& body) {
  const std::vector<Chunk> chunks = make_chunks(params);
  const int64_t n_chunks = static_cast<int64_t>(chunks.size());
  dispatch_float(params[0].dtype(), op, [&]<typename T>() {
#pragma omp parallel for schedule(dynamic, 1) if (n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; ++c) body.template operator()<T>(chunks[c]);
  });
}

}  // namespace

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                const std::vector<AdamParamHyper>& hyper, const AdamOptions& o) {
  if (params.empty()) return;
  for_each_chunk(params, Op::adamw_step, [&]<typename T>(const Chunk& ch) {
    const AdamParamHyper& h = hyper[ch.tensor];
    T* w = params[ch.tensor].data<T>();
    const T* g = grads[ch.tensor].data<T>();
    T* m = exp_avg[ch.tensor].data<T>();
    T* v = exp_avg_sq[ch.tensor].data<T>();
    const double t = static_cast<double>(h.step);
    const T decay = static_cast<T>(o.decoupled_weight_decay ? 1.0 - h.lr * h.weight_decay : 1.0);
    const T l2 = static_cast<T>(o.decoupled_weight_decay ? 0.0 : h.weight_decay);
    const T b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2);
    const T step_size = static_cast<T>(h.lr / (1.0 - std::pow(o.beta1, t)));
    const T inv_bc2_sqrt = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(o.beta2, t)));
    const T eps = static_cast<T>(o.eps);
#pragma omp simd
    for (int64_t i = ch.begin; i < ch.end; ++i) {
      const T gi = g[i] + l2 * w[i];
      const T mi = b1 * m[i] + (T(1) - b1) * gi;
      const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] * decay - step_size * mi / (std::sqrt(vi) * inv_bc2_sqrt + eps);
    }
  });
}

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buf, const std::vector<SgdParamHyper>& hyper,
              const SgdOptions& o) {
  if (params.empty()) return;
  const bool use_momentum = o.momentum != 0.0;
  for_each_chunk(params, Op::sgd_step, [&]<typename T>(const Chunk& ch) {
    const SgdParamHyper& h = hyper[ch.tensor];
    T* w = params[ch.tensor].data<T>();
    const T* g = grads[ch.tensor].data<T>();
    const T lr = static_cast<T>(h.lr), wd = static_cast<T>(h.weight_decay);
    if (!use_momentum) {
#pragma omp simd
      for (int64_t i = ch.begin; i < ch.end; ++i) w[i] -= lr * (g[i] + wd * w[i]);
      return;
    }
    T* b = momentum_buf[ch.tensor].data<T>();
    const T mu = static_cast<T>(o.momentum);
    // On the first step the buffer becomes the gradient itself (PyTorch's clone of d_p).
    // (A select, not 0·b, so an uninitialised buffer cannot leak a NaN.)
    const bool init = h.init_buffer, nesterov = o.nesterov;
    const T take = static_cast<T>(1.0 - o.dampening);
#pragma omp simd
    for (int64_t i = ch.begin; i < ch.end; ++i) {
      const T d = g[i] + wd * w[i];
      const T bi = init ? d : mu * b[i] + take * d;
      b[i] = bi;
      w[i] -= lr * (nesterov ? d + mu * bi : bi);
    }
  });
}

}  // namespace sieve::cpu
