// tests/cuda/test_cuda_attention.cpp — the CUDA attention kernels (cuda/attention.cu,
// cuda/attention_backward.cu) against the CPU reference, forward and backward, float32 and
// float64: with and without the causal mask and key padding (a batch with some keys padded, a
// batch with every key padded), probs kept or not (inputs with or without gradient), cls_probs,
// Lq ≠ Lk both ways, lengths 1, 7, 50, 65, 130 and a long causal sequence, head sizes 8 to 200
// (every NV the kernels instantiate, D not a power of two), the strided q, k, v views a qkv
// projection gives, a strided upstream gradient, frozen inputs, and no keys / no queries.
//
// What the shapes reach: Lq ≤ 16 takes 16-row query tiles, longer ones 64-row tiles (float64 with
// D > 128 stays at 16 rows: the tiles would not fit in shared memory); Lk past 64 takes several
// key tiles, and a causal query tile skips the key tiles it cannot see.
//
// Extend: a new mask kind or layout is one more entry in the loops below.
#include <algorithm>
#include <string>

#include "ops/attention.h"
#include "ops/elementwise.h"
#include "tests/parity.h"
#include "tests/helpers.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

namespace {

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

TEST_CASE("cuda: attention with every mask, length and head size, forward and backward") {
  if (!gpu_or_skip()) return;
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

TEST_CASE("cuda: attention cls_probs with and without kept probs, any mask dtype") {
  if (!gpu_or_skip()) return;
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

TEST_CASE("cuda: attention on strided views, a strided upstream gradient and frozen inputs") {
  if (!gpu_or_skip()) return;
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

TEST_CASE("cuda: attention on a long causal sequence, and with no keys or no queries") {
  if (!gpu_or_skip()) return;
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

}  // namespace sieve
