// tests/ops/test_scan_groups.cpp — selective_scan with grouped B and C (Bm, Cm: (B, L, G, N)), as
// VMamba's SS2D uses it to scan its K routes in one call: the grouped scan equals G separate scans
// of the groups' channels (output and every gradient), the CPU's fast kernels match its reference
// for groups whose width is not a multiple of the vector width, gradcheck in float64, the shape
// errors, and the CUDA kernels against the CPU's (parity).
//
// Not here: the ungrouped scan (tests/ops/test_scan.cpp).
#include "autograd/grad_mode.h"
#include "ops/cpu/scan.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::randn_leaf;

namespace {

struct Grouped {
  Tensor x, delta, A, Bm, Cm, D, z;  // Bm, Cm: (B, L, G, N)
};

Grouped grouped_inputs(int64_t B, int64_t L, int64_t G, int64_t Cg, int64_t N, DType dtype, uint64_t seed,
                       bool requires_grad = true) {
  const int64_t C = G * Cg;
  auto leaf = [&](Tensor t) { return t.detach().to(dtype).requires_grad_(requires_grad); };
  Grouped in;
  in.x = leaf(randn_leaf({B, L, C}, seed, false));
  in.delta = leaf(softplus(randn_leaf({B, L, C}, seed + 1, false) - 1.0));
  in.A = leaf(-exp(randn_leaf({C, N}, seed + 2, false) * 0.5));
  in.Bm = leaf(randn_leaf({B, L, G, N}, seed + 3, false));
  in.Cm = leaf(randn_leaf({B, L, G, N}, seed + 4, false));
  in.D = leaf(randn_leaf({C}, seed + 5, false));
  in.z = leaf(randn_leaf({B, L, C}, seed + 6, false));
  return in;
}

// Each leaf's gradient of loss (the leaves' .grad dropped before and after).
std::vector<Tensor> grads_of(const Tensor& loss, const std::vector<Tensor>& leaves) {
  for (Tensor t : leaves) t.zero_grad();
  loss.backward();
  std::vector<Tensor> out;
  for (Tensor t : leaves) {
    out.push_back(t.grad());
    t.zero_grad();
  }
  return out;
}

}  // namespace

TEST_CASE("selective_scan with groups equals one scan per group, output and gradients") {
  const int64_t B = 2, L = 70, G = 4, Cg = 5, N = 3;  // L spans two 64-step chunks
  const Grouped in = grouped_inputs(B, L, G, Cg, N, DType::f64, 41);
  const Tensor grouped = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
  std::vector<Tensor> parts;
  for (int64_t g = 0; g < G; ++g) {
    auto ch = [&](const Tensor& t, int dim) { return t.narrow(dim, g * Cg, Cg); };
    parts.push_back(selective_scan(ch(in.x, 2), ch(in.delta, 2), ch(in.A, 0), in.Bm.select(2, g), in.Cm.select(2, g),
                                   ch(in.D, 0), ch(in.z, 2)));
  }
  const Tensor separate = cat(parts, 2);
  CHECK_CLOSE(grouped, separate, 1e-12, 1e-12);

  // The same weighted sum of each, backward: every input's gradient agrees.
  const Tensor w = randn_leaf({B, L, G * Cg}, 42, false, DType::f64);
  const std::vector<Tensor> leaves{in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z};
  const std::vector<Tensor> g1 = grads_of(sum(grouped * w), leaves);
  const std::vector<Tensor> g2 = grads_of(sum(separate * w), leaves);
  for (size_t i = 0; i < leaves.size(); ++i) {
    CAPTURE(i);
    CHECK_CLOSE(g1[i], g2[i], 1e-11, 1e-11);
  }
}

TEST_CASE("cpu kernel: grouped selective_scan's fast kernels match the reference") {
  for (DType dtype : {DType::f32, DType::f64}) {
    // Group widths under, at and over one vector (16 floats, 8 doubles) and not multiples of it.
    for (int64_t Cg : {3, 8, 16, 21}) {
      for (int64_t G : {1, 2, 4}) {
        INFO(dtype_name(dtype), " G ", G, " C/G ", Cg);
        const int64_t B = 3, L = 37, N = 4, C = G * Cg, chunk = 16;
        const Grouped in = grouped_inputs(B, L, G, Cg, N, dtype, 7 + G + Cg, false);
        const Options opts{.dtype = dtype};
        Tensor y_ref = empty({B, L, C}, opts), y_fast = empty({B, L, C}, opts);
        Tensor states = empty({B, (L + chunk - 1) / chunk - 1, N, C}, opts);
        cpu::selective_scan_reference(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, y_ref);
        cpu::selective_scan_forward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, y_fast, states, chunk);
        const double tol = dtype == DType::f32 ? 2e-5 : 1e-12;
        CHECK_CLOSE(y_fast, y_ref, tol, tol * 10);
        const Tensor g = randn_leaf({B, L, C}, 9, false, dtype);
        std::vector<Tensor> ref, fast;
        for (const Tensor& t : {in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z}) {
          ref.push_back(empty_like(t));
          fast.push_back(empty_like(t));
        }
        cpu::selective_scan_reference_backward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, g, ref[0], ref[1],
                                               ref[2], ref[3], ref[4], ref[5], ref[6]);
        cpu::selective_scan_backward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, states, g, chunk, fast[0],
                                     fast[1], fast[2], fast[3], fast[4], fast[5], fast[6]);
        const double gtol = dtype == DType::f32 ? 2e-4 : 1e-11;
        for (size_t i = 0; i < ref.size(); ++i) {
          CAPTURE(i);
          CHECK_CLOSE(fast[i], ref[i], gtol, gtol * 10);
        }
      }
    }
  }
}

TEST_CASE("gradcheck: grouped selective_scan in float64") {
  const Grouped in = grouped_inputs(2, 9, 3, 2, 2, DType::f64, 51);
  CHECK_GRADCHECK([](auto& v) { return selective_scan(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); },
                  {in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z});
}

TEST_CASE("selective_scan: grouped B and C errors name the shapes") {
  const Grouped in = grouped_inputs(1, 4, 2, 3, 2, DType::f32, 61, false);  // C = 6, G = 2
  const Tensor B3 = randn_leaf({1, 4, 4, 2}, 62, false, DType::f32);  // G = 4 does not divide C = 6
  const std::string e = test::error_of([&] { selective_scan(in.x, in.delta, in.A, B3, B3); });
  INFO(e);
  CHECK(test::contains(e, "G dividing C = 6"));
  CHECK(test::contains(test::error_of([&] { selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm.select(2, 0)); }),
                       "like Bm (1, 4, 2, 2)"));
}

TEST_CASE("parity: grouped selective_scan, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  // A CUDA block holds channels of one group only: group widths under a warp, past one block of
  // 128 (two blocks per group, dB/dC summed from partials), sequences short (one segment) and long
  // with few channels (segments stitched), N = 16 (compiled) and others (read at run time).
  struct Case {
    int64_t B, L, G, Cg, N;
  };
  for (DType dt : test::kFloatTypes)
    for (const Case c : {Case{2, 37, 4, 5, 3}, Case{2, 40, 2, 40, 16}, Case{1, 70, 3, 130, 8}, Case{2, 600, 4, 8, 16},
                         Case{1, 33, 1, 20, 4}}) {
      INFO(dtype_name(dt), " B ", c.B, " L ", c.L, " G ", c.G, " C/G ", c.Cg, " N ", c.N);
      const Grouped in = grouped_inputs(c.B, c.L, c.G, c.Cg, c.N, dt, 70 + c.Cg);
      const double tol = dt == DType::f64 ? 1e-11 : (c.L > 100 ? 1e-3 : 1e-4);  // as tests/ops/test_scan.cpp
      test::check_parity(
          "grouped scan", [](const std::vector<Tensor>& v) { return selective_scan(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); },
          {in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z}, true, tol, tol);
    }
}
