// tests/ops/test_attention.cpp — the fused attention op: equality with the composite
// (matmul → softmax → matmul) forward and backward, strided q, k, v and the layouts of their
// gradients, the CLS probabilities, fully-masked rows, PyTorch goldens and the errors, on every
// device; the CPU's float row kernels against its float64 BLAS path, float64 gradcheck with every
// mask and with strided inputs (CPU), and the CUDA kernels against the CPU for every mask, length,
// head size and layout (parity).
//
// What the parity shapes reach: Lq ≤ 16 takes 16-row query tiles, longer ones 64-row tiles
// (float64 with D > 128 stays at 16 rows: the tiles would not fit in shared memory); Lk past 64
// takes several key tiles, and a causal query tile skips the key tiles it cannot see.
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::kFloatTypes;
using test::leaf;
using test::randn_leaf;

namespace {

// The same attention from existing ops; also returns the probabilities (B, H, Lq, Lk).
// A row with every key masked is NaN here (softmax of all −∞), so callers avoid those.
Tensor composite(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                 Tensor* probs = nullptr) {
  const int64_t Lq = q.size(2), Lk = k.size(2);
  Tensor s = matmul(q, k.transpose(-2, -1)) * o.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3))));
  const double inf = std::numeric_limits<double>::infinity();
  if (o.key_bias.defined()) s = s + o.key_bias.unsqueeze(1).unsqueeze(1);
  if (o.causal) {
    std::vector<double> hidden(static_cast<size_t>(Lq * Lk));
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) hidden[i * Lk + j] = j > i + Lk - Lq;
    s = masked_fill(s, from_vector<double>(hidden, {Lq, Lk}, q.device()), -inf);
  }
  if (o.key_padding_mask.defined())
    s = masked_fill(s, o.key_padding_mask.unsqueeze(1).unsqueeze(1), -inf);
  Tensor p = softmax(s, -1);
  if (probs != nullptr) *probs = p;
  return matmul(p, v);
}

// (B, L, 3, H, D) → q, k, v: (B, H, L, D), the strided views a fused qkv projection gives.
std::vector<Tensor> split_qkv(const Tensor& qkv) {
  Tensor t = qkv.permute({2, 0, 3, 1, 4});
  return {t.select(0, 0), t.select(0, 1), t.select(0, 2)};
}

Tensor mask_of(const std::vector<int64_t>& flags, int64_t B, int64_t Lk, Device device = kCPU) {
  return from_vector<int64_t>(flags, {B, Lk}, device);
}

// Forward and every gradient of the fused op equal the composite's (float32, same upstream g).
void check_against_composite(const Tensor& q0, const Tensor& k0, const Tensor& v0, const AttentionOptions& o,
                             double tol) {
  Tensor q = q0.detach().requires_grad_(), k = k0.detach().requires_grad_(), v = v0.detach().requires_grad_();
  AttentionOutput fused = attention(q, k, v, o);
  Tensor g = randn(fused.out.shape(), {.dtype = q.dtype()}).to(q.device());
  fused.out.backward(g);
  Tensor q2 = q0.detach().requires_grad_(), k2 = k0.detach().requires_grad_(), v2 = v0.detach().requires_grad_();
  Tensor ref = composite(q2, k2, v2, o);
  ref.backward(g);
  CHECK_CLOSE(fused.out, ref, tol, tol);
  CHECK_CLOSE(q.grad(), q2.grad(), tol, tol);
  CHECK_CLOSE(k.grad(), k2.grad(), tol, tol);
  CHECK_CLOSE(v.grad(), v2.grad(), tol, tol);
}

// Parity inputs: the sizes of one attention call.
struct Dims {
  int64_t B, H, Lq, Lk, D;
};

std::string dims_str(const Dims& d) { return fmt::format("B {} H {} Lq {} Lk {} D {}", d.B, d.H, d.Lq, d.Lk, d.D); }

// Batch 0: keys 0 and Lk/2 padded (some, not all, of its keys); the last batch (when B > 1): every
// key padded, so its rows see nothing and get zeros.
Tensor padding_for(const Dims& d, DType dtype) {
  std::vector<double> flags(static_cast<size_t>(d.B * d.Lk), 0.0);
  if (d.Lk > 1) flags[0] = flags[static_cast<size_t>(d.Lk / 2)] = 1.0;
  if (d.B > 1) std::fill(flags.end() - d.Lk, flags.end(), 1.0);
  return from_vector<double>(flags, {d.B, d.Lk}).to(dtype);
}

// float32 sums over a hundred or more terms (keys, queries or head dims) in another order than
// the CPU's BLAS or vector kernels: rounding grows with the length.
double tol_for(const Dims& d, DType dtype) {
  if (dtype == DType::f64) return test::parity_atol(dtype);
  return std::max({d.Lq, d.Lk, d.D}) >= 128 ? 5e-5 : test::parity_atol(dtype);
}

}  // namespace

TEST_CASE("attention equals matmul → softmax → matmul, forward and backward") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      manual_seed(11);
      // ViT-tiny head sizes: threaded over B·H, rows longer than one vector with a tail.
      Tensor q = randn({3, 4, 50, 16}).to(dev), k = randn({3, 4, 50, 16}).to(dev), v = randn({3, 4, 50, 16}).to(dev);
      std::vector<int64_t> flags(3 * 50, 0);
      for (int64_t j : {3, 17, 49}) flags[j] = 1;
      for (int64_t j = 20; j < 50; ++j) flags[2 * 50 + j] = 1;
      Tensor mask = mask_of(flags, 3, 50, dev);
      for (bool causal : {false, true}) {
        for (bool pad : {false, true}) {
          INFO("causal ", causal, " padding ", pad);
          check_against_composite(q, k, v, {.causal = causal, .key_padding_mask = pad ? mask : Tensor()}, 2e-5);
        }
      }
      check_against_composite(q, k, v, {.scale = 0.7}, 2e-5);
      // A per-key bias (ToMe's log sizes), alone and with both masks.
      Tensor bias = (rand({3, 50}) * 3.0).to(dev);
      check_against_composite(q, k, v, {.key_bias = bias}, 2e-5);
      check_against_composite(q, k, v, {.causal = true, .key_padding_mask = mask, .key_bias = bias}, 2e-5);
      // Lq ≠ Lk (a KV cache): causal is bottom-right aligned, the last query sees every key.
      Tensor q_short = randn({2, 3, 7, 16}).to(dev), k_long = randn({2, 3, 12, 16}).to(dev);
      Tensor v_long = randn({2, 3, 12, 16}).to(dev);
      check_against_composite(q_short, k_long, v_long, {.causal = true}, 2e-5);
      check_against_composite(q_short, k_long, v_long, {}, 2e-5);
      // float64 agrees to rounding.
      check_against_composite(q.to(DType::f64), k.to(DType::f64), v.to(DType::f64), {.causal = true}, 1e-12);
    }
  }
}

// Float heads of D = 16, 32, 48, 64 take ops/cpu/attention_rows.cpp; float64 always takes the
// BLAS reference. The same inputs through both must agree, for every shape the row kernels cut
// differently: L = 1, L not a multiple of 16, L above 64 (several 4-vector blocks), output rows
// not a multiple of 4, Lq ≠ Lk with queries that see no key, fully padded batches, strided qkv.
// (The CUDA kernels have no such split; parity below compares them with these CPU paths.)
TEST_CASE("cpu kernel: attention's float row kernels agree with the float64 BLAS reference") {
  manual_seed(14);
  struct Case {
    int64_t B, H, Lq, Lk, D;
  };
  for (const Case c : {Case{2, 3, 50, 50, 16}, Case{1, 2, 1, 1, 16}, Case{2, 2, 7, 130, 32}, Case{1, 3, 70, 17, 48},
                       Case{2, 1, 33, 33, 64}, Case{1, 2, 9, 5, 16}}) {
    Tensor q = randn({c.B, c.H, c.Lq, c.D}), k = randn({c.B, c.H, c.Lk, c.D}), v = randn({c.B, c.H, c.Lk, c.D});
    std::vector<int64_t> flags(static_cast<size_t>(c.B * c.Lk), 0);
    flags[0] = 1;  // batch 0: key 0 padded; the last batch: every key padded when B > 1
    if (c.B > 1) std::fill(flags.end() - c.Lk, flags.end(), 1);
    Tensor mask = mask_of(flags, c.B, c.Lk);
    for (bool causal : {false, true}) {
      for (bool pad : {false, true}) {
        INFO("B H Lq Lk D = ", c.B, " ", c.H, " ", c.Lq, " ", c.Lk, " ", c.D, ", causal ", causal, ", padding ", pad);
        const AttentionOptions o{.causal = causal, .key_padding_mask = pad ? mask : Tensor(), .want_cls_probs = true};
        Tensor qf = q.detach().requires_grad_(), kf = k.detach().requires_grad_(), vf = v.detach().requires_grad_();
        Tensor qd = q.to(DType::f64).requires_grad_(), kd = k.to(DType::f64).requires_grad_();
        Tensor vd = v.to(DType::f64).requires_grad_();
        AttentionOutput rf = attention(qf, kf, vf, o), rd = attention(qd, kd, vd, o);
        Tensor g = randn(rf.out.shape());
        rf.out.backward(g);
        rd.out.backward(g.to(DType::f64));
        CHECK_CLOSE(rf.out, rd.out.to(DType::f32), 1e-5, 1e-5);
        CHECK_CLOSE(rf.cls_probs, rd.cls_probs.to(DType::f32), 1e-6, 1e-5);
        CHECK_CLOSE(qf.grad(), qd.grad().to(DType::f32), 1e-5, 1e-4);
        CHECK_CLOSE(kf.grad(), kd.grad().to(DType::f32), 1e-5, 1e-4);
        CHECK_CLOSE(vf.grad(), vd.grad().to(DType::f32), 1e-5, 1e-4);
      }
    }
  }
  // Strided q, k, v straight from a fused qkv projection, as nn::MultiheadAttention passes them.
  auto parts = split_qkv(randn({2, 19, 3, 2, 32}));
  check_against_composite(parts[0], parts[1], parts[2], {.causal = true}, 2e-5);
}

TEST_CASE("attention accepts strided q, k, v and returns gradients in their layouts") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      manual_seed(12);
      const int64_t B = 2, L = 9, H = 3, D = 8;
      Tensor qkv = randn({B, L, 3, H, D}).to(dev);
      auto parts = split_qkv(qkv);
      CHECK_FALSE(parts[0].is_contiguous());
      check_against_composite(parts[0], parts[1], parts[2], {.causal = true}, 2e-5);

      // A q that is a permuted dense block gets its gradient in the same layout (so the permute and
      // view it came through pass it back without a copy); the output is stored (B, L, H, D).
      Tensor q = randn({B, L, H, D}).to(dev).permute({0, 2, 1, 3}).detach().requires_grad_();
      Tensor k = randn({B, H, L, D}).to(dev).requires_grad_(), v = randn({B, H, L, D}).to(dev).requires_grad_();
      AttentionOutput r = attention(q, k, v);
      CHECK(r.out.transpose(1, 2).is_contiguous());
      CHECK_FALSE(r.cls_probs.defined());
      const Grads grads = r.out.impl()->grad_fn->backward(ones_like(r.out));  // the op's own backward
      CHECK(grads[0].strides() == q.strides());
      CHECK(grads[1].is_contiguous());

      // Under no-grad the probabilities are not kept; the answer is the same.
      Tensor with_grad = r.out.detach();
      NoGradGuard no_grad;
      CHECK_CLOSE(attention(q, k, v).out, with_grad, 0.0, 0.0);
    }
  }
}

TEST_CASE("gradcheck: attention with and without masks, strided inputs, fully masked rows") {
  const int64_t B = 2, H = 2, D = 3;
  Tensor q = randn_leaf({B, H, 4, D}, 1), k = randn_leaf({B, H, 5, D}, 2), v = randn_leaf({B, H, 5, D}, 3);
  Tensor sq = randn_leaf({B, H, 5, D}, 4);  // Lq == Lk
  Tensor mask = mask_of({0, 1, 0, 0, 1, 1, 0, 0, 0, 0}, B, 5);
  auto run = [](const AttentionOptions& o) {
    return [o](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], o).out; };
  };
  CHECK_GRADCHECK(run({}), {q, k, v});
  CHECK_GRADCHECK(run({.scale = 0.4}), {q, k, v});
  CHECK_GRADCHECK(run({.causal = true}), {sq, k, v});
  CHECK_GRADCHECK(run({.causal = true}), {q, k, v});  // Lq 4 < Lk 5
  CHECK_GRADCHECK(run({.key_padding_mask = mask}), {q, k, v});
  CHECK_GRADCHECK(run({.causal = true, .key_padding_mask = mask}), {sq, k, v});
  CHECK_GRADCHECK(run({.key_padding_mask = mask, .key_bias = randn_leaf({B, 5}, 9, false)}), {q, k, v});
  // Every key of batch 1 padded, and causal with Lq > Lk (rows before the diagonal see nothing):
  // those rows are constant zeros, their gradients zeros.
  CHECK_GRADCHECK(run({.key_padding_mask = mask_of({0, 1, 0, 0, 1, 1, 1, 1, 1, 1}, B, 5)}), {q, k, v});
  CHECK_GRADCHECK(run({.causal = true}), {sq, randn_leaf({B, H, 4, D}, 7), randn_leaf({B, H, 4, D}, 8)});
  // Non-contiguous leaves: a transposed q, and q, k, v as views of one fused (B, L, 3, H, D) leaf.
  CHECK_GRADCHECK(run({.causal = true}), {test::randn_leaf_transposed({B, H, 5, D}, 5), k, v});
  Tensor qkv = randn_leaf({B, 5, 3, H, D}, 6);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        auto p = split_qkv(in[0]);
        return attention(p[0], p[1], p[2], {.causal = true}).out;
      },
      {qkv});
  // Composed with another op, so the upstream gradient reaching the kernel is strided.
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return attention(in[0], in[1], in[2]).out.transpose(1, 2) * in[0].transpose(1, 2);
      },
      {sq, k, v});
}

TEST_CASE("attention: cls_probs are the head mean of query row 0's probabilities") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      manual_seed(13);
      Tensor q = randn({3, 4, 6, 8}).to(dev), k = randn({3, 4, 10, 8}).to(dev), v = randn({3, 4, 10, 8}).to(dev);
      std::vector<int64_t> flags(30, 0);
      flags[2] = flags[13] = flags[29] = 1;
      Tensor mask = mask_of(flags, 3, 10, dev);
      for (bool causal : {false, true}) {
        INFO("causal ", causal);
        const AttentionOptions o{.causal = causal, .key_padding_mask = mask, .want_cls_probs = true};
        AttentionOutput r = attention(q, k, v, o);
        Tensor probs;
        composite(q, k, v, o, &probs);
        REQUIRE(r.cls_probs.defined());
        CHECK(r.cls_probs.shape() == Shape{3, 10});
        CHECK_FALSE(r.cls_probs.requires_grad());
        CHECK_CLOSE(r.cls_probs, mean(probs.select(2, 0), {1}), 1e-6, 1e-5);
        const auto c = r.cls_probs.to_vector<float>();
        CHECK(c[2] == 0.0f);  // a padded key gets exactly zero
        CHECK(c[10 + 3] == 0.0f);
      }
      // Requested on inputs that require grad: the output still backpropagates, the probs do not.
      Tensor ql = q.detach().requires_grad_();
      AttentionOutput r = attention(ql, k, v, {.want_cls_probs = true});
      CHECK(r.out.requires_grad());
      CHECK_FALSE(r.cls_probs.requires_grad());
    }
  }
}

TEST_CASE("attention: a row whose keys are all masked is zeros, not NaN, and passes no gradient") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (DType dtype : {DType::f32, DType::f64}) {
        INFO(dtype_name(dtype));
        Tensor q = randn_leaf({2, 2, 3, 4}, 21, true, dtype, dev), k = randn_leaf({2, 2, 3, 4}, 22, true, dtype, dev);
        Tensor v = randn_leaf({2, 2, 3, 4}, 23, true, dtype, dev);
        Tensor mask = mask_of({0, 0, 1, 1, 1, 1}, 2, 3, dev);  // batch 1: every key padded
        AttentionOutput r = attention(q, k, v, {.key_padding_mask = mask, .want_cls_probs = true});
        sum(r.out).backward();
        CHECK_CLOSE(r.out.select(0, 1), zeros({2, 3, 4}, {.dtype = dtype}), 0.0, 0.0);
        CHECK_CLOSE(r.cls_probs.select(0, 1), zeros({3}, {.dtype = dtype}), 0.0, 0.0);
        for (const Tensor* t : {&q, &k, &v}) {
          CHECK_CLOSE(t->grad().select(0, 1), zeros({2, 3, 4}, {.dtype = dtype}), 0.0, 0.0);
          for (double x : t->grad().to_vector<double>()) CHECK(std::isfinite(x));
        }
        // Batch 0 is untouched by batch 1's mask: keys 2 padded only.
        Tensor ref = composite(q.detach(), k.detach(), v.detach(), {.key_padding_mask = mask});
        CHECK_CLOSE(r.out.select(0, 0), ref.select(0, 0), 1e-6, 1e-5);
      }
      // Causal with Lq > Lk: query rows 0 and 1 come before the first key's diagonal.
      Tensor out = attention(randn({1, 1, 4, 2}).to(dev), randn({1, 1, 2, 2}).to(dev), randn({1, 1, 2, 2}).to(dev),
                           {.causal = true}).out;
      const auto o = out.to_vector<float>();
      CHECK(o[0] == 0.0f);
      CHECK(o[3] == 0.0f);
      CHECK(o[4] != 0.0f);
      // No keys at all (Lk = 0): zeros, and a zero gradient; no queries (Lq = 0): an empty output.
      Tensor q = randn_leaf({1, 2, 3, 4}, 24, true, DType::f64, dev),
             k0 = randn_leaf({1, 2, 0, 4}, 25, true, DType::f64, dev);
      Tensor v0 = randn_leaf({1, 2, 0, 4}, 26, true, DType::f64, dev);
      AttentionOutput none = attention(q, k0, v0);
      CHECK_CLOSE(none.out, zeros({1, 2, 3, 4}, {.dtype = DType::f64}), 0.0, 0.0);
      sum(none.out).backward();
      CHECK_CLOSE(q.grad(), zeros({1, 2, 3, 4}, {.dtype = DType::f64}), 0.0, 0.0);
      Tensor k = randn_leaf({1, 2, 5, 4}, 27, true, DType::f64, dev),
             v = randn_leaf({1, 2, 5, 4}, 28, true, DType::f64, dev);
      Tensor empty_out = attention(randn_leaf({1, 2, 0, 4}, 29, true, DType::f64, dev), k, v).out;
      CHECK(empty_out.shape() == Shape{1, 2, 0, 4});
      sum(empty_out).backward();
      CHECK_CLOSE(k.grad(), zeros({1, 2, 5, 4}, {.dtype = DType::f64}), 0.0, 0.0);
    }
  }
}

TEST_CASE("attention goldens match PyTorch (explicit matmul, masked_fill, softmax)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto run = [dev](const char* name, AttentionOptions o, bool padded, double tol) {
        check_golden("attention", name,
                     [&](GoldenInputs& in) {
                       if (padded) o.key_padding_mask = in.at("mask");
                       return attention(in.at("q"), in.at("k"), in.at("v"), o).out;
                     },
                     tol, tol, dev);
      };
      run("plain", {}, false, 1e-6);
      run("scale", {.scale = 0.3}, false, 1e-6);
      run("padding", {}, true, 1e-6);
      run("causal_kv", {.causal = true}, false, 1e-6);
      run("causal", {.causal = true}, false, 1e-6);
      run("causal_padding", {.causal = true}, true, 1e-6);
      run("f64", {}, false, 1e-12);
    }
  }
}

TEST_CASE("attention errors name the op and the shapes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      Tensor q = z({2, 3, 4, 8}), k = z({2, 3, 5, 8}), v = z({2, 3, 5, 8});
      CHECK_THROWS_WITH_AS(attention(q, k, z({2, 3, 6, 8})),
                           doctest::Contains("attention: k (2, 3, 5, 8) and v (2, 3, 6, 8) must have the same shape"),
                           Error);
      CHECK_THROWS_WITH_AS(attention(z({2, 3, 4, 7}), k, v),
                           doctest::Contains("attention: q (2, 3, 4, 7) and k (2, 3, 5, 8) must agree in B, H and D"),
                           Error);
      CHECK_THROWS_WITH_AS(attention(z({2, 4, 8}), k, v), doctest::Contains("attention: q (B, H, Lq, D) must have 4"),
                           Error);
      CHECK_THROWS_WITH_AS(attention(q, k, v.to(DType::f64)), doctest::Contains("attention: dtype mismatch"), Error);
      CHECK_THROWS_WITH_AS(attention(z({2, 3, 4, 8}, DType::i64), k, v),
                           doctest::Contains("attention: expected a floating-point tensor"), Error);
      CHECK_THROWS_WITH_AS(attention(q, Tensor(), v), doctest::Contains("attention: input 1 is an undefined tensor"),
                           Error);
      CHECK_THROWS_WITH_AS(attention(q, k, v, {.key_padding_mask = z({2, 4})}),
                           doctest::Contains("attention: key_padding_mask (2, 4) must be (B, Lk) = (2, 5)"), Error);
      CHECK_THROWS_WITH_AS(attention(q, k, v, {.key_bias = z({2, 4})}),
                           doctest::Contains("must be (B, Lk) = (2, 5) of q's dtype float32"), Error);
      CHECK_THROWS_WITH_AS(attention(q, k, v, {.key_bias = z({2, 5}, DType::f64)}),
                           doctest::Contains("attention: key_bias"), Error);
      CHECK_THROWS_WITH_AS(attention(q, k, v, {.scale = std::nan("")}),
                           doctest::Contains("attention: scale must be finite"), Error);
      CHECK_THROWS_WITH_AS(attention(z({2, 3, 0, 8}), k, v, {.want_cls_probs = true}),
                           doctest::Contains("attention: want_cls_probs needs a query row 0"), Error);
      CHECK_THROWS_WITH_AS(attention(z({2, 3, 4, 0}), z({2, 3, 5, 0}), z({2, 3, 5, 0})),
                           doctest::Contains("attention: head size D must be at least 1"), Error);
    }
  }
}

TEST_CASE("parity: attention with every mask, length and head size, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  const Dims cases[] = {{2, 3, 50, 50, 16},  {1, 2, 1, 1, 8},   {2, 2, 7, 130, 64}, {2, 3, 130, 65, 8},
                        {2, 1, 65, 65, 64},  {2, 2, 33, 17, 40}, {1, 2, 9, 70, 100}, {2, 1, 20, 5, 200}};
  for (DType dtype : kFloatTypes)
    for (const Dims& d : cases) {
      const Tensor q = leaf({d.B, d.H, d.Lq, d.D}, 300, dtype), k = leaf({d.B, d.H, d.Lk, d.D}, 301, dtype);
      const Tensor v = leaf({d.B, d.H, d.Lk, d.D}, 302, dtype);
      const Tensor mask = padding_for(d, DType::i64);
      const double tol = tol_for(d, dtype);
      for (bool causal : {false, true})
        for (bool pad : {false, true}) {
          const std::string name =
              fmt::format("{} {} causal {} padding {}", dtype_name(dtype), dims_str(d), causal, pad);
          auto run = [=](const std::vector<Tensor>& in) {
            const AttentionOptions o{.causal = causal, .key_padding_mask = pad ? mask.to(in[0].device()) : Tensor()};
            return attention(in[0], in[1], in[2], o).out;
          };
          check_parity(name, run, {q, k, v}, true, tol, tol);
          // Without gradient the forward keeps no probs: the kernel's other branch.
          check_parity(name + ", no grad", run,
                       {q.detach(), k.detach(), v.detach()}, false, tol, tol);
        }
    }
}

TEST_CASE("parity: attention with a key bias (ToMe's log sizes), CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  const Dims cases[] = {{2, 3, 50, 50, 16}, {2, 2, 33, 17, 40}, {1, 2, 130, 130, 64}};
  for (DType dtype : kFloatTypes)
    for (const Dims& d : cases) {
      const Tensor q = leaf({d.B, d.H, d.Lq, d.D}, 310, dtype), k = leaf({d.B, d.H, d.Lk, d.D}, 311, dtype);
      const Tensor v = leaf({d.B, d.H, d.Lk, d.D}, 312, dtype);
      const Tensor bias = (leaf({d.B, d.Lk}, 313, dtype, false) * 2.0).detach();
      for (bool causal : {false, true}) {
        auto run = [=](const std::vector<Tensor>& in) {
          const AttentionOptions o{.causal = causal, .want_cls_probs = false, .key_bias = bias.to(in[0].device())};
          return attention(in[0], in[1], in[2], o).out;
        };
        check_parity(fmt::format("{} {} causal {} key bias", dtype_name(dtype), dims_str(d), causal), run, {q, k, v},
                     true, tol_for(d, dtype), tol_for(d, dtype));
      }
    }
}

TEST_CASE("parity: attention cls_probs with and without kept probs, any mask dtype, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes)
    for (const Dims& d : {Dims{3, 4, 6, 10, 8}, Dims{2, 3, 70, 130, 16}, Dims{2, 2, 1, 1, 64}})
      for (bool causal : {false, true})
        for (bool grad : {false, true}) {
          const Tensor q = leaf({d.B, d.H, d.Lq, d.D}, 310, dtype, grad);
          const Tensor k = leaf({d.B, d.H, d.Lk, d.D}, 311, dtype, grad);
          const Tensor v = leaf({d.B, d.H, d.Lk, d.D}, 312, dtype, grad);
          const Tensor mask = padding_for(d, dtype);  // a float mask: nonzero = padded
          check_parity(fmt::format("cls_probs {} {} causal {} probs kept {}", dtype_name(dtype), dims_str(d), causal,
                                   grad),
                       [=](const std::vector<Tensor>& in) {
                         const AttentionOptions o{.causal = causal, .key_padding_mask = mask.to(in[0].device()),
                                                  .want_cls_probs = true};
                         return attention(in[0], in[1], in[2], o).cls_probs;
                       },
                       {q, k, v}, false, tol_for(d, dtype), tol_for(d, dtype));
        }
}

TEST_CASE("parity: attention on strided views, a strided upstream gradient and frozen inputs, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const std::string type = dtype_name(dtype);
    // q, k, v as views of one fused (B, L, 3, H, D) projection, as nn::MultiHeadAttention makes them.
    for (int64_t D : {8, 16, 64})
      check_parity(fmt::format("{} qkv views D {}", type, D), [](const std::vector<Tensor>& in) {
        const Tensor t = in[0].permute({2, 0, 3, 1, 4});
        return attention(t.select(0, 0), t.select(0, 1), t.select(0, 2), {.causal = true}).out;
      }, {leaf({2, 65, 3, 2, D}, 320, dtype)});
    // (B, L, H, D) permuted to (B, H, L, D), and a q read with its head dim strided (a transpose).
    check_parity(type + " permuted k, v and a transposed q", [](const std::vector<Tensor>& in) {
      return attention(in[0].transpose(2, 3), in[1].permute({0, 2, 1, 3}), in[2].permute({0, 2, 1, 3})).out;
    }, {leaf({2, 3, 16, 7}, 321, dtype), leaf({2, 7, 3, 16}, 322, dtype), leaf({2, 7, 3, 16}, 323, dtype)});
    // The usual out.transpose(1, 2): the upstream gradient reaches the kernel as a strided view.
    check_parity(type + " a strided upstream gradient", [](const std::vector<Tensor>& in) {
      return attention(in[0], in[1], in[2]).out.transpose(1, 2) * in[3];
    }, {leaf({2, 3, 50, 16}, 324, dtype), leaf({2, 3, 50, 16}, 325, dtype), leaf({2, 3, 50, 16}, 326, dtype),
        leaf({2, 50, 3, 16}, 327, dtype)});
    // Frozen inputs: an undefined dq, dk or dv is not computed (dk also drops the dS scratch).
    const Tensor q = leaf({2, 2, 20, 16}, 328, dtype), k = leaf({2, 2, 30, 16}, 329, dtype);
    const Tensor v = leaf({2, 2, 30, 16}, 330, dtype);
    const Tensor qf = q.detach(), kf = k.detach(), vf = v.detach();
    auto run = [](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], {.causal = true}).out; };
    check_parity(type + " frozen q", run, {qf, k, v});
    check_parity(type + " frozen k", run, {q, kf, v});
    check_parity(type + " frozen v", run, {q, k, vf});
    check_parity(type + " only v learns", run, {qf, kf, v});
    check_parity(type + " only q learns", run, {q, kf, vf});
  }
}

TEST_CASE("parity: attention on a long causal sequence, and with no keys or no queries, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dtype : kFloatTypes) {
    const Dims d{1, 2, 700, 700, 32};  // eleven key tiles; causal tiles skip up to ten of them
    const double tol = dtype == DType::f32 ? 1e-4 : test::parity_atol(dtype);  // 700-term sums
    check_parity(fmt::format("{} long causal", dtype_name(dtype)),
                 [](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], {.causal = true}).out; },
                 {leaf({d.B, d.H, d.Lq, d.D}, 340, dtype), leaf({d.B, d.H, d.Lk, d.D}, 341, dtype),
                  leaf({d.B, d.H, d.Lk, d.D}, 342, dtype)},
                 true, tol, tol);
    auto run = [](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2]).out; };
    // No keys: zeros and a zero dq. No queries: an empty output, zero dk and dv.
    check_parity(fmt::format("{} Lk = 0", dtype_name(dtype)), run,
                 {leaf({1, 2, 3, 4}, 343, dtype), leaf({1, 2, 0, 4}, 344, dtype), leaf({1, 2, 0, 4}, 345, dtype)});
    check_parity(fmt::format("{} Lq = 0", dtype_name(dtype)), run,
                 {leaf({1, 2, 0, 4}, 346, dtype), leaf({1, 2, 5, 4}, 347, dtype), leaf({1, 2, 5, 4}, 348, dtype)});
  }
}
