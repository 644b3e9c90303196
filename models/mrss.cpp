// models/mrss.cpp — MrssMixer, MrssModel and the causal pooling/upsampling (see mrss.h).
#include "models/mrss.h"

#include <cmath>

#include "core/error.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace sieve::models {

int64_t MrssConfig::fast_channels() const {
  const int64_t c = mamba.channels();
  const auto fast = static_cast<int64_t>(std::llround(fast_fraction * static_cast<double>(c)));
  SIEVE_CHECK(std::isfinite(fast_fraction) && fast >= 1 && fast <= c - 1,
              "mrss: fast_fraction {} of {} channels leaves {} fast and {} slow; both branches need ≥ 1",
              fast_fraction, c, fast, c - fast);
  return fast;
}

// x: (B, L, C) → (B, W, C), W = floor(L / r)
Tensor window_mean(const Tensor& x, int64_t r) {
  const int64_t B = x.size(0), W = x.size(1) / r, C = x.size(2);
  return mean(x.narrow(1, 0, W * r).reshape({B, W, r, C}), {2});
}

// y: (B, W, C) → (B, L, C): out[t] = y[floor((t+1)/r) − 1], zeros for t < r − 1
Tensor causal_upsample(const Tensor& y, int64_t r, int64_t length) {
  const int64_t B = y.size(0), W = y.size(1), C = y.size(2);
  SIEVE_CHECK(r >= 1 && W == length / r, "causal_upsample: {} windows do not fit length {} at stride {}", W, length, r);
  const Options opts{.dtype = y.dtype(), .device = y.device()};
  if (W == 0) return zeros({B, length, C}, opts);
  const Tensor repeated = y.unsqueeze(2).expand({B, W, r, C}).reshape({B, W * r, C});  // window w at w·r … (w+1)·r − 1
  if (r == 1) return repeated;
  // Shift by r − 1: window w now starts at its last step (w+1)·r − 1; r − 1 + W·r ≥ L, cut to L.
  return cat({zeros({B, r - 1, C}, opts), repeated}, 1).narrow(1, 0, length);
}

MrssMixer::MrssMixer(const MrssConfig& c, Generator* gen)
    : Module("MrssMixer"), channels(c.mamba.channels()), fast_channels(c.fast_channels()),
      slow_channels(channels - fast_channels), stride(c.stride) {
  SIEVE_CHECK(c.stride >= 2, "mrss: stride must be ≥ 2, got {}", c.stride);
  fast = register_module("fast", std::make_shared<MambaMixer>(c.mamba, fast_channels, gen));
  slow = register_module("slow", std::make_shared<MambaMixer>(c.mamba, slow_channels, gen));
  gate_proj = register_module("gate_proj", std::make_shared<nn::Linear>(c.mamba.dim, c.mamba.dim, /*bias=*/true, gen));
}

Tensor MrssMixer::forward(const Tensor& u) {
  const nn::ModuleScope scope(this);
  const int64_t batch = u.size(0), length = u.size(1), dim = u.size(2);
  const Tensor f = fast->forward(u);  // (B, L, D): all of it at L steps

  // Slow: the whole mixer on window means, W = floor(L / r) steps; nothing of it runs at L.
  const Tensor s = length >= stride ? slow->forward(window_mean(u, stride))                      // (B, W, D)
                                    : zeros({batch, 0, dim}, {.dtype = u.dtype(), .device = u.device()});
  const Tensor s_up = causal_upsample(s, stride, length);  // (B, L, D)

  const Tensor g = sigmoid(gate_proj->forward(u));
  return s_up + g * (f - s_up);  // g ⊙ fast + (1 − g) ⊙ slow
}

MrssModel::MrssModel(const MrssConfig& c, Generator* gen) : MambaModel("MrssModel", c.mamba, gen), mrss(c) {
  SIEVE_CHECK(c.stride >= 2, "mrss: stride must be ≥ 2, got {}", c.stride);
  c.fast_channels();  // checks the split even at depth 0
  for (int64_t i = 0; i < c.mamba.depth; ++i)
    layers->push_back(std::make_shared<ResidualBlock>(c.mamba.dim, std::make_shared<MrssMixer>(c, gen)));
}

int64_t MrssModel::state_updates(int64_t batch, int64_t length) const {
  const int64_t fast = mrss.fast_channels(), slow = mrss.mamba.channels() - fast;
  return mrss.mamba.depth * batch * mrss.mamba.d_state * (length * fast + (length / mrss.stride) * slow);
}

}  // namespace sieve::models
