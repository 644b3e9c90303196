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

MrssBranch::MrssBranch(int64_t c, int64_t dim, int64_t n, int64_t r, Generator* gen)
    : SelectiveSSM("MrssBranch", c, n, r, gen) {
  out_proj = register_module("out_proj", std::make_shared<nn::Linear>(c, dim, /*bias=*/false, gen));
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
  const MambaConfig& m = c.mamba;
  SIEVE_CHECK(c.stride >= 2, "mrss: stride must be ≥ 2, got {}", c.stride);
  SIEVE_CHECK(m.dim > 0 && m.expand > 0 && m.d_conv > 0, "mrss: dim, expand and d_conv must be positive, got {}, {}, {}",
              m.dim, m.expand, m.d_conv);
  in_proj = register_module("in_proj", std::make_shared<nn::Linear>(m.dim, 2 * channels, /*bias=*/false, gen));
  conv1d = register_module("conv1d", std::make_shared<CausalConv1d>(channels, m.d_conv, gen));
  fast = register_module("fast", std::make_shared<MrssBranch>(fast_channels, m.dim, m.d_state, m.rank(), gen));
  slow = register_module("slow", std::make_shared<MrssBranch>(slow_channels, m.dim, m.d_state, m.rank(), gen));
  gate_proj = register_module("gate_proj", std::make_shared<nn::Linear>(m.dim, m.dim, /*bias=*/true, gen));
}

Tensor MrssMixer::forward(const Tensor& u) {
  const nn::ModuleScope scope(this);
  const int64_t length = u.size(1);
  const Tensor xz = in_proj->forward(u);                               // (B, L, 2C)
  const Tensor x = silu(conv1d->forward(xz.narrow(2, 0, channels)));  // (B, L, C)
  const Tensor z = xz.narrow(2, channels, channels);

  // Fast: the Mamba mixer's scan on the first C_f channels, L steps.
  const Tensor y_fast = fast->scan(x.narrow(2, 0, fast_channels), z.narrow(2, 0, fast_channels));

  // Slow: W = floor(L / r) steps over window means; skip and gate at full rate.
  const Tensor x_slow = x.narrow(2, fast_channels, slow_channels);
  Tensor s;
  if (length >= stride) {
    s = slow->scan(window_mean(x_slow, stride), /*z=*/Tensor(), /*with_skip=*/false);  // (B, W, C_s)
  } else {
    s = zeros({u.size(0), 0, slow_channels}, {.dtype = u.dtype(), .device = u.device()});
  }
  const Tensor y_slow =
      (causal_upsample(s, stride, length) + x_slow * slow->D) * silu(z.narrow(2, fast_channels, slow_channels));

  const Tensor out_fast = fast->out_proj->forward(y_fast), out_slow = slow->out_proj->forward(y_slow);  // (B, L, D)
  const Tensor g = sigmoid(gate_proj->forward(u));
  return out_slow + g * (out_fast - out_slow);  // g ⊙ fast + (1 − g) ⊙ slow
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
