// tests/ops/test_profile.cpp — the profiler counts what ran: each op's FLOP formula on the shapes it
// ran on, the bytes of its tensor arguments, its phase, and nothing while no profiler is alive.
// CPU only: this counting happens in SIEVE_DISPATCH, the same for every device (test_matmul.cpp's
// bias count runs on every device; tests/cuda/test_runtime.cpp checks that CUDA kernels are charged
// their GPU time).
#include "autograd/grad_mode.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/profile.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;

namespace {

const profile::Entry* find(const profile::Profiler& p, Op op, profile::Phase phase) {
  for (const profile::Entry& e : p.entries())
    if (e.op == op && e.phase == phase) return &e;
  return nullptr;
}

Tensor randn_f32(const Shape& shape, uint64_t seed, bool grad = false) {
  return test::randn_leaf(shape, seed, grad, DType::f32);
}

}  // namespace

TEST_CASE("profile: a matmul is 2·M·N·K FLOPs and moves a, b and out once") {
  const Tensor a = randn_f32({5, 3}, 1), b = randn_f32({3, 7}, 2);
  profile::Profiler profiler;
  matmul(a, b);
  const profile::Entry* e = find(profiler, Op::matmul, profile::Phase::forward);
  REQUIRE(e != nullptr);
  CHECK(e->calls == 1);
  CHECK(e->flops == 2 * 5 * 7 * 3);
  CHECK(e->bytes == (5 * 3 + 3 * 7 + 5 * 7) * 4);
  CHECK(e->seconds >= 0.0);
  CHECK(e->scope == nullptr);
  CHECK(profiler.total_flops() == 2 * 5 * 7 * 3);
}

TEST_CASE("profile: batched products count every batch, calls accumulate, reset empties") {
  const Tensor a = randn_f32({4, 2, 6}, 3), b = randn_f32({6, 5}, 4);
  profile::Profiler profiler;
  matmul(a, b);
  matmul(a, b);
  const profile::Entry* e = find(profiler, Op::matmul, profile::Phase::forward);
  REQUIRE(e != nullptr);
  CHECK(e->calls == 2);
  CHECK(e->flops == 2 * (2 * 4 * 2 * 5 * 6));
  profiler.reset();
  CHECK(profiler.entries().empty());
  add(a, a);
  REQUIRE(profiler.entries().size() == 1);
  CHECK(profiler.entries()[0].op == Op::add);
  CHECK(profiler.entries()[0].flops == a.numel());
}

TEST_CASE("profile: backward kernels are charged to the backward phase") {
  const Tensor a = randn_f32({4, 3}, 5, true), b = randn_f32({3, 2}, 6, true);
  profile::Profiler profiler;
  sum(matmul(a, b)).backward();
  const profile::Entry* fwd = find(profiler, Op::matmul, profile::Phase::forward);
  const profile::Entry* bwd = find(profiler, Op::matmul, profile::Phase::backward);
  REQUIRE(fwd != nullptr);
  REQUIRE(bwd != nullptr);
  CHECK(fwd->calls == 1);
  CHECK(bwd->calls == 2);                 // da = g·bᵀ and db = aᵀ·g
  CHECK(bwd->flops == 2 * fwd->flops);    // each the same M·N·K products
  CHECK(find(profiler, Op::sum, profile::Phase::forward) != nullptr);
}

TEST_CASE("profile: nothing is recorded without a profiler, and the newest profiler counts") {
  const Tensor a = randn_f32({8}, 7);
  profile::Profiler outer;
  {
    profile::Profiler inner;
    exp(a);
    CHECK(inner.entries().size() == 1);
    CHECK(profile::active() == &inner);
  }
  CHECK(outer.entries().empty());
  CHECK(profile::active() == &outer);
  exp(a);
  CHECK(outer.entries().size() == 1);
}

TEST_CASE("profile: FLOPs follow the executed shapes (half the batch, half the work)") {
  const Tensor q = randn_f32({4, 2, 6, 8}, 8);
  auto attention_flops = [](const Tensor& x) {
    profile::Profiler profiler;
    NoGradGuard no_grad;
    attention(x, x, x);
    return profiler.total_flops();
  };
  const int64_t full = attention_flops(q), half = attention_flops(q.narrow(0, 0, 2));
  CHECK(full == 4 * 2 * 6 * 6 * (4 * 8 + 5));
  CHECK(half * 2 == full);
}

TEST_CASE("profile: scope and phase guards restore what was open before") {
  int module_a = 0, module_b = 0;
  profile::Profiler profiler;
  CHECK(profile::current_scope() == nullptr);
  {
    const profile::ScopeGuard a(&module_a);
    {
      const profile::ScopeGuard b(&module_b);
      CHECK(profile::current_scope() == &module_b);
    }
    CHECK(profile::current_scope() == &module_a);
    {
      const profile::PhaseGuard phase(profile::Phase::update);
      exp(randn_f32({3}, 9));
    }
    exp(randn_f32({3}, 10));
  }
  CHECK(profile::current_scope() == nullptr);
  const profile::Entry* update = find(profiler, Op::exp, profile::Phase::update);
  const profile::Entry* forward = find(profiler, Op::exp, profile::Phase::forward);
  REQUIRE(update != nullptr);
  REQUIRE(forward != nullptr);
  CHECK(update->scope == &module_a);
  CHECK(forward->scope == &module_a);
}

TEST_CASE("profile: a scope guard opened with no profiler alive does nothing") {
  int module = 0;
  const profile::ScopeGuard guard(&module);
  CHECK(profile::current_scope() == nullptr);
}
