// core/random.cpp — Philox4x32-10 and the random tensors drawn from it.
//
// Philox itself lives in core/philox.h, which CUDA kernels include too.
//
// Extend: a new distribution reads words for element i from counter (first + i / k) and
// advances the generator by the number of counters it used.
#include "core/random.h"

#include <cmath>
#include <numbers>

#include "ops/dispatch.h"

namespace sieve {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter) {
  const PhiloxWords words = philox_words(key, counter);
  return {words.w[0], words.w[1], words.w[2], words.w[3]};
}

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
