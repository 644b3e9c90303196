// models/mamba.cpp — MambaModel, its mixer (MRSS reuses it at its own widths), SelectiveSSM (see mamba.h).
#include "models/mamba.h"

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "nn/init.h"
#include "ops/conv.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "ops/shape.h"

namespace sieve::models {

// ---- CausalConv1d ----

CausalConv1d::CausalConv1d(int64_t channels, int64_t kernel, Generator* gen) : Module("CausalConv1d") {
  SIEVE_CHECK(channels > 0 && kernel > 0, "CausalConv1d: channels and kernel must be positive, got {} and {}",
              channels, kernel);
  // As torch.nn.Conv1d: weight (C, C/groups = 1, K), kaiming_uniform(a=√5) → U(±1/√K); bias U(±1/√K).
  weight = register_parameter("weight", empty({channels, 1, kernel}));
  nn::init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
  bias = register_parameter("bias", empty({channels}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(kernel));
  nn::init::uniform_(bias, -bound, bound, gen);
}

Tensor CausalConv1d::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  return conv1d_causal_depthwise(x, weight.view({weight.size(0), weight.size(2)}), bias);  // (B, L, C)
}

// ---- SelectiveSSM ----

SelectiveSSM::SelectiveSSM(int64_t c, int64_t n, int64_t r, Generator* gen) : SelectiveSSM("SelectiveSSM", c, n, r, gen) {}

SelectiveSSM::SelectiveSSM(std::string type_name, int64_t c, int64_t n, int64_t r, Generator* gen)
    : Module(std::move(type_name)), channels(c), d_state(n), dt_rank(r) {
  SIEVE_CHECK(c > 0 && n > 0 && r > 0, "SelectiveSSM: channels, d_state and dt_rank must be positive, got {}, {}, {}",
              c, n, r);
  x_proj = register_module("x_proj", std::make_shared<nn::Linear>(c, r + 2 * n, /*bias=*/false, gen));
  dt_proj = register_module("dt_proj", std::make_shared<nn::Linear>(r, c, /*bias=*/true, gen));

  // dt_proj: weight U(±R^−1/2); bias = softplus⁻¹(dt), dt = exp(U[log 1e-3, log 1e-1]) ≥ 1e-4, so
  // that softplus(bias) — Δ before any input — starts spread log-uniformly over [1e-3, 1e-1].
  const double dt_min = 1e-3, dt_max = 1e-1, dt_floor = 1e-4;
  const double w_bound = 1.0 / std::sqrt(static_cast<double>(r));
  nn::init::uniform_(dt_proj->weight, -w_bound, w_bound, gen);
  Tensor u = empty({c});
  nn::init::uniform_(u, std::log(dt_min), std::log(dt_max), gen);
  std::vector<float> bias(static_cast<size_t>(c));
  const std::vector<double> logs = u.to_vector<double>();
  for (size_t i = 0; i < bias.size(); ++i) {
    const double dt = std::max(std::exp(logs[i]), dt_floor);
    bias[i] = static_cast<float>(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt) = log(e^dt − 1)
  }
  {
    NoGradGuard no_grad;
    float* b = dt_proj->bias.data<float>();
    for (size_t i = 0; i < bias.size(); ++i) b[i] = bias[i];
  }

  // S4D-real: A[c, n] = −(n + 1), stored as its log; D = 1. Neither is decayed.
  std::vector<float> a_log(static_cast<size_t>(c * n));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ni = 0; ni < n; ++ni) a_log[static_cast<size_t>(ci * n + ni)] = static_cast<float>(std::log(ni + 1.0));
  A_log = register_parameter("A_log", from_vector(a_log, {c, n}), /*no_weight_decay=*/true);
  D = register_parameter("D", ones({c}), /*no_weight_decay=*/true);
}

SelectiveSSM::Selection SelectiveSSM::select_inputs(const Tensor& x) const {
  const Tensor dbc = x_proj->forward(x);  // (B, L, R + 2N)
  return Selection{.delta = softplus(dt_proj->forward(dbc.narrow(2, 0, dt_rank))),  // (B, L, C)
                   .Bm = dbc.narrow(2, dt_rank, d_state),
                   .Cm = dbc.narrow(2, dt_rank + d_state, d_state)};
}

Tensor SelectiveSSM::A() const { return -exp(A_log); }

Tensor SelectiveSSM::scan(const Tensor& x, const Tensor& z, bool with_skip) const {
  const nn::ModuleScope scope(this);
  const Selection s = select_inputs(x);
  return selective_scan(x, s.delta, A(), s.Bm, s.Cm, with_skip ? D : Tensor(), z);  // (B, L, C)
}

// ---- MambaMixer ----

MambaMixer::MambaMixer(const MambaConfig& c, Generator* gen) : MambaMixer(c, c.channels(), gen) {}

MambaMixer::MambaMixer(const MambaConfig& c, int64_t ch, Generator* gen)
    : SelectiveSSM("MambaMixer", ch, c.d_state, c.rank(), gen) {
  SIEVE_CHECK(c.dim > 0 && c.expand > 0 && c.d_conv > 0, "mamba: dim, expand and d_conv must be positive, got {}, {}, {}",
              c.dim, c.expand, c.d_conv);
  in_proj = register_module("in_proj", std::make_shared<nn::Linear>(c.dim, 2 * channels, /*bias=*/false, gen));
  conv1d = register_module("conv1d", std::make_shared<CausalConv1d>(channels, c.d_conv, gen));
  out_proj = register_module("out_proj", std::make_shared<nn::Linear>(channels, c.dim, /*bias=*/false, gen));
}

Tensor MambaMixer::forward(const Tensor& u) {
  const nn::ModuleScope scope(this);
  const Tensor xz = in_proj->forward(u);  // (B, L, 2C)
  const Tensor x = silu(conv1d->forward(xz.narrow(2, 0, channels)));
  const Tensor z = xz.narrow(2, channels, channels);
  return out_proj->forward(scan(x, z));  // (B, L, D)
}

Tensor MambaMixer::forward_cached(const Tensor& u, MambaCache& cache) {
  SIEVE_CHECK(!grad_enabled(), "MambaMixer::forward_cached is for inference: call it under NoGradGuard");
  const nn::ModuleScope scope(this);
  const int64_t B = u.size(0), L = u.size(1), C = channels, K = conv1d->weight.size(2);
  const Tensor xz = in_proj->forward(u);  // (B, L, 2C)
  const Tensor x_in = xz.narrow(2, 0, C), z = xz.narrow(2, C, C);
  const Tensor A_now = A();  // (C, N)
  if (!cache.ssm.defined()) {
    // The prompt: the fused path for its outputs, then the state it leaves, in closed form.
    const Tensor x = silu(conv1d->forward(x_in));
    const Tensor y = scan(x, z);
    const Tensor padded = cat({zeros({B, K - 1, C}, {.dtype = u.dtype(), .device = u.device()}), x_in}, 1);
    cache.conv = padded.narrow(1, L, K - 1).contiguous();  // the last K − 1 inputs
    const Selection s = select_inputs(x);
    const Tensor S = cumsum(s.delta, 1);                    // (B, L, C)
    const Tensor to_end = S.narrow(1, L - 1, 1) - S;        // Σ of Δ after each position, ≥ 0
    const Tensor decay = exp(to_end.unsqueeze(-1) * A_now);  // (B, L, C, N), each ≤ 1
    cache.ssm = sum(decay * (s.delta * x).unsqueeze(-1) * s.Bm.unsqueeze(2), {1});  // (B, C, N)
    return out_proj->forward(y);
  }
  // Later positions: one recurrence step each, the conv over its K-long window.
  std::vector<Tensor> outputs;
  for (int64_t t = 0; t < L; ++t) {
    const Tensor window = cat({cache.conv, x_in.narrow(1, t, 1)}, 1);  // (B, K, C)
    const Tensor x = silu(conv1d->forward(window)).narrow(1, K - 1, 1);  // (B, 1, C)
    cache.conv = window.narrow(1, 1, K - 1).contiguous();
    const Selection s = select_inputs(x);  // Δ (B, 1, C), B and C (B, 1, N)
    const Tensor delta = s.delta.squeeze(1).unsqueeze(-1);  // (B, C, 1)
    cache.ssm = exp(delta * A_now) * cache.ssm + delta * x.squeeze(1).unsqueeze(-1) * s.Bm;
    Tensor y = sum(cache.ssm * s.Cm, {-1}) + D * x.squeeze(1);  // (B, C)
    outputs.push_back((y * silu(z.narrow(1, t, 1).squeeze(1))).unsqueeze(1));
  }
  return out_proj->forward(cat(outputs, 1));
}

// ---- ResidualBlock ----

ResidualBlock::ResidualBlock(int64_t dim, std::shared_ptr<nn::Module> m) : Module("ResidualBlock") {
  mixer = register_module("mixer", std::move(m));
  norm = register_module("norm", std::make_shared<nn::RMSNorm>(dim, 1e-5));
}

Tensor ResidualBlock::forward(const Tensor& x) {
  const nn::ModuleScope scope(this);
  return x + mixer->forward(norm->forward(x));
}

Tensor ResidualBlock::forward_cached(const Tensor& x, MambaCache& cache) {
  const nn::ModuleScope scope(this);
  auto* mamba = dynamic_cast<MambaMixer*>(mixer.get());
  SIEVE_CHECK(mamba != nullptr, "decode: a {} mixer has no decoding cache (Mamba's has)", mixer->type_name());
  return x + mamba->forward_cached(norm->forward(x), cache);
}

// ---- MambaModel ----

MambaModel::MambaModel(const MambaConfig& c, Generator* gen) : MambaModel("MambaModel", c, gen) {
  for (int64_t i = 0; i < c.depth; ++i)
    layers->push_back(std::make_shared<ResidualBlock>(c.dim, std::make_shared<MambaMixer>(c, gen)));
}

MambaModel::MambaModel(std::string type_name, const MambaConfig& c, Generator* gen)
    : Module(std::move(type_name)), config(c) {
  SIEVE_CHECK(c.depth >= 0, "{}: depth must be ≥ 0, got {}", this->type_name(), c.depth);
  SIEVE_CHECK(c.dim > 0 && c.d_state > 0 && c.expand > 0 && c.d_conv > 0 && c.dt_rank >= 0,
              "{}: dim, d_state, expand, d_conv must be positive and dt_rank ≥ 0, got {}, {}, {}, {}, {}",
              this->type_name(), c.dim, c.d_state, c.expand, c.d_conv, c.dt_rank);
  embed = register_module("embed", std::make_shared<SequenceStem>(c.io, c.dim, gen));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  head = register_module("head", std::make_shared<SequenceHead>(c.io, c.dim, /*rms_norm=*/true, 1e-5, gen));
}

Tensor MambaModel::forward(const Tensor& inputs) {
  const nn::ModuleScope scope(this);
  return forward_embeddings(embed->forward(inputs));  // (B, L, D) → logits
}

Tensor MambaModel::forward_embeddings(const Tensor& embedded) {
  const nn::ModuleScope scope(this);
  Tensor x = embedded;
  for (size_t i = 0; i < layers->size(); ++i) x = layers->at<ResidualBlock>(i)->forward(x);
  return head->forward(x);
}

Tensor MambaModel::decode(const Tensor& embedded, std::vector<MambaCache>& caches) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(config.io.per_token, "mamba: decode needs per-token logits (per_token = true)");
  if (caches.empty()) caches.resize(layers->size());
  SIEVE_CHECK(caches.size() == layers->size(), "mamba: {} caches for {} layers", caches.size(), layers->size());
  Tensor x = embedded;
  for (size_t i = 0; i < layers->size(); ++i) x = layers->at<ResidualBlock>(i)->forward_cached(x, caches[i]);
  return head->forward(x);
}

int64_t MambaModel::state_updates(int64_t batch, int64_t length) const {
  return config.depth * batch * length * config.channels() * config.d_state;
}

}  // namespace sieve::models
