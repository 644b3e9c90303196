// ops/cpu/optim.cpp — fused AdamW/Adam and SGD updates over all parameters at once.
//
// Work is cut into chunks of at most kChunk elements across all tensors; one
// `omp parallel for` walks the chunks, and each chunk's inner loop is a plain `omp simd` loop
// over contiguous memory, so big matrices spread over threads and small biases do not cost a
// parallel region each. The scalars (bias corrections, step sizes; once per tensor, in double,
// then cast to T, as PyTorch computes them on the host) and the per-element updates are
// ops/optim_math.h's, which CUDA runs too.
//
// Extend: another optimizer writes its loop the same way (see adamw_step) around its formula in
// ops/optim_math.h.
#include "ops/cpu/optim.h"

#include <algorithm>

#include "ops/cpu/fastmath.h"
#include "ops/dispatch.h"
#include "ops/optim_math.h"

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
    const AdamCoefficients<T> c(adam_scalars(h, o));
#pragma omp simd
    for (int64_t i = ch.begin; i < ch.end; ++i) adam_update<CpuMath>(w[i], g[i], m[i], v[i], c);
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
    const SgdCoefficients<T> c(sgd_scalars(h, o));
    if (!use_momentum) {
#pragma omp simd
      for (int64_t i = ch.begin; i < ch.end; ++i) sgd_update(w[i], g[i], c);
      return;
    }
    T* b = momentum_buf[ch.tensor].data<T>();
#pragma omp simd
    for (int64_t i = ch.begin; i < ch.end; ++i) sgd_momentum_update(w[i], g[i], b[i], c);
  });
}

}  // namespace sieve::cpu
