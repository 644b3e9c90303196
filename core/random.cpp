// core/random.cpp — Philox4x32-10 and the random tensors drawn from it.
//
// Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) is ten rounds of
// two 32×32→64-bit multiplies with the key bumped by Weyl constants between rounds. It passes
// BigCrush and is what cuRAND and PyTorch's CUDA generator use.
//
// Extend: a new distribution reads words for element i from counter (first + i / k) and
// advances the generator by the number of counters it used.
#include "core/random.h"

#include <cmath>
#include <numbers>

#include "ops/dispatch.h"

namespace sieve {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return {c0, c1, c2, c3};
}

// 24 random bits scaled to [0, 1): exact in float32 and float64, so both dtypes draw equal values.
double uniform_from_word(uint32_t word) { return static_cast<double>(word >> 8) * (1.0 / 16777216.0); }

double normal_from_words(uint32_t w0, uint32_t w1, bool second) {
  const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform_from_word(w0)));  // 1 − u ∈ (0, 1]
  const double angle = 2.0 * std::numbers::pi * uniform_from_word(w1);
  return radius * (second ? std::sin(angle) : std::cos(angle));
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

namespace {

// A host tensor of opts.dtype with element i = value_of(i), moved to opts.device.
template <typename F>
Tensor generate(const Shape& shape, Options opts, F value_of) {
  Tensor host = empty(shape, {.dtype = opts.dtype});
  const int64_t n = host.numel();
  dispatch_all(opts.dtype, Op::copy, [&]<typename T>() {
    T* p = host.data<T>();
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(value_of(i));
  });
  Tensor out = opts.device.is_cpu() ? host : host.to(opts.device);
  if (opts.requires_grad) out.requires_grad_();
  return out;
}

Generator& pick(Generator* gen) { return gen != nullptr ? *gen : default_generator(); }

}  // namespace

Tensor rand(const Shape& shape, Options opts, Generator* gen) {
  Generator& g = pick(gen);
  const uint64_t n = static_cast<uint64_t>(numel_of(shape));
  const uint64_t first = g.advance((n + 3) / 4);
  const uint64_t key = g.seed;
  return generate(shape, opts, [=](int64_t i) {
    return uniform_from_word(philox4x32(key, first + static_cast<uint64_t>(i) / 4)[i % 4]);
  });
}

Tensor randn(const Shape& shape, Options opts, Generator* gen) {
  Generator& g = pick(gen);
  const uint64_t n = static_cast<uint64_t>(numel_of(shape));
  const uint64_t first = g.advance((n + 1) / 2);
  const uint64_t key = g.seed;
  return generate(shape, opts, [=](int64_t i) {
    const auto words = philox4x32(key, first + static_cast<uint64_t>(i) / 2);
    return normal_from_words(words[0], words[1], i % 2 == 1);
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Options opts, Generator* gen) {
  SIEVE_CHECK(low < high, "randint: empty range [{}, {})", low, high);
  Generator& g = pick(gen);
  const uint64_t n = static_cast<uint64_t>(numel_of(shape));
  const uint64_t first = g.advance(n);
  const uint64_t key = g.seed;
  const uint64_t range = static_cast<uint64_t>(high - low);
  return generate(shape, opts, [=](int64_t i) {
    const auto words = philox4x32(key, first + static_cast<uint64_t>(i));
    const uint64_t bits = (static_cast<uint64_t>(words[0]) << 32) | words[1];
    return static_cast<double>(low + static_cast<int64_t>(bits % range));
  });
}

}  // namespace sieve
