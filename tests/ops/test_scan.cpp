// tests/ops/test_scan.cpp — selective_scan: a case worked by hand, the fast kernels against the
// plain reference (forward and all gradients, odd sizes, several chunk sizes, both dtypes),
// float64 gradcheck across chunk boundaries and on strided inputs, the memory the op keeps,
// run-to-run determinism, empty sequences, the PyTorch golden and the errors.
#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/cpu/scan.h"
#include "ops/elementwise.h"
#include "ops/scan.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using test::randn_leaf;

namespace {

struct ScanInputs {
  Tensor x, delta, A, Bm, Cm, D, z;
  std::vector<Tensor> list() const { return {x, delta, A, Bm, Cm, D, z}; }
};

// Realistic values: delta in (0, ~2) (a softplus), A < 0; D and z only when asked.
ScanInputs make_inputs(int64_t B, int64_t L, int64_t C, int64_t N, bool with_D, bool with_z, DType dtype,
                       uint64_t seed, bool requires_grad = true) {
  auto leaf = [&](Tensor t) { return t.detach().to(dtype).requires_grad_(requires_grad); };
  ScanInputs in;
  in.x = leaf(randn_leaf({B, L, C}, seed, false));
  in.delta = leaf(softplus(randn_leaf({B, L, C}, seed + 1, false) - 1.0));
  in.A = leaf(-exp(randn_leaf({C, N}, seed + 2, false) * 0.5));
  in.Bm = leaf(randn_leaf({B, L, N}, seed + 3, false));
  in.Cm = leaf(randn_leaf({B, L, N}, seed + 4, false));
  if (with_D) in.D = leaf(randn_leaf({C}, seed + 5, false));
  if (with_z) in.z = leaf(randn_leaf({B, L, C}, seed + 6, false));
  return in;
}

Tensor like_or_none(const Tensor& t) { return t.defined() ? empty_like(t) : Tensor(); }

struct ScanGrads {
  Tensor dx, ddelta, dA, dBm, dCm, dD, dz;
};

ScanGrads empty_grads(const ScanInputs& in) {
  return {empty_like(in.x),  empty_like(in.delta), empty_like(in.A),     empty_like(in.Bm),
          empty_like(in.Cm), like_or_none(in.D),   like_or_none(in.z)};
}

// The fast kernels (with a chosen chunk) and the reference, forward and backward, agree.
void check_fast_against_reference(int64_t B, int64_t L, int64_t C, int64_t N, bool with_D, bool with_z, DType dtype,
                                  int64_t chunk) {
  INFO("B ", B, " L ", L, " C ", C, " N ", N, " D ", with_D, " z ", with_z, " ", dtype_name(dtype), " chunk ", chunk);
  const ScanInputs in = make_inputs(B, L, C, N, with_D, with_z, dtype, 100 + L + C + N, false);
  const Options opts{.dtype = dtype};
  Tensor y_ref = empty({B, L, C}, opts), y_fast = empty({B, L, C}, opts);
  const int64_t K = L > 0 ? (L + chunk - 1) / chunk - 1 : 0;
  Tensor states = empty({B, K, N, C}, opts);
  cpu::selective_scan_reference(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, y_ref);
  cpu::selective_scan_forward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, y_fast, states, chunk);
  const double tol = dtype == DType::f32 ? 2e-5 : 1e-12;
  CHECK_CLOSE(y_fast, y_ref, tol, tol * 10);

  Tensor g = randn_leaf({B, L, C}, 7, false, dtype);
  ScanGrads ref = empty_grads(in), fast = empty_grads(in);
  cpu::selective_scan_reference_backward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, g, ref.dx, ref.ddelta,
                                         ref.dA, ref.dBm, ref.dCm, ref.dD, ref.dz);
  cpu::selective_scan_backward(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z, states, g, chunk, fast.dx,
                               fast.ddelta, fast.dA, fast.dBm, fast.dCm, fast.dD, fast.dz);
  const double gtol = dtype == DType::f32 ? 2e-4 : 1e-11;
  CHECK_CLOSE(fast.dx, ref.dx, gtol, gtol * 10);
  CHECK_CLOSE(fast.ddelta, ref.ddelta, gtol, gtol * 10);
  CHECK_CLOSE(fast.dA, ref.dA, gtol, gtol * 10);
  CHECK_CLOSE(fast.dBm, ref.dBm, gtol, gtol * 10);
  CHECK_CLOSE(fast.dCm, ref.dCm, gtol, gtol * 10);
  if (with_D) CHECK_CLOSE(fast.dD, ref.dD, gtol, gtol * 10);
  if (with_z) CHECK_CLOSE(fast.dz, ref.dz, gtol, gtol * 10);
}

}  // namespace

TEST_CASE("selective_scan: a case worked by hand") {
  // B = 1, L = 2, C = 1, N = 1: x = (1, 2), Δ = (0.5, 1), A = −1, B = (1, 3), C = (2, 1), D = 0.5.
  //   h_0 = e^{−0.5}·0 + 0.5·1·1 = 0.5               y_0 = 2·0.5 + 0.5·1 = 1.5
  //   h_1 = e^{−1}·0.5 + 1·2·3 = 6 + 0.5/e           y_1 = 1·h_1 + 0.5·2 = 7 + 0.5/e
  Tensor x = from_vector<double>({1, 2}, {1, 2, 1}), delta = from_vector<double>({0.5, 1}, {1, 2, 1});
  Tensor A = from_vector<double>({-1}, {1, 1}), Bm = from_vector<double>({1, 3}, {1, 2, 1});
  Tensor Cm = from_vector<double>({2, 1}, {1, 2, 1}), D = from_vector<double>({0.5}, {1});
  const double e1 = std::exp(-1.0);
  CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm, D), from_vector<double>({1.5, 7 + 0.5 * e1}, {1, 2, 1}), 1e-14,
              1e-14);
  CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm), from_vector<double>({1.0, 6 + 0.5 * e1}, {1, 2, 1}), 1e-14,
              1e-14);
  // With a gate z = (0, 1): y_0·silu(0) = 0, y_1·1·σ(1).
  Tensor z = from_vector<double>({0, 1}, {1, 2, 1});
  const double s1 = 1 / (1 + e1);
  CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm, D, z), from_vector<double>({0, (7 + 0.5 * e1) * s1}, {1, 2, 1}),
              1e-14, 1e-14);
  // float32 agrees (exp_fast).
  CHECK_CLOSE(selective_scan(x.to(DType::f32), delta.to(DType::f32), A.to(DType::f32), Bm.to(DType::f32),
                             Cm.to(DType::f32), D.to(DType::f32)),
              from_vector<float>({1.5f, static_cast<float>(7 + 0.5 * e1)}, {1, 2, 1}), 1e-6, 1e-6);
  // dA by hand, for L(y) = y_1 with D = 0: y_1 = e^{Δ_1 A}·h_0 + ..., so dA = Δ_1·e^{Δ_1 A}·h_0 + 0
  // (h_0 = Δ_0·x_0·B_0 does not depend on A): 1·e^{−1}·0.5. dC = (0, h_1) and dB = (C_1·e^{−1}·Δ_0·x_0, C_1·Δ_1·x_1).
  Tensor Al = A.detach().requires_grad_(), Bl = Bm.detach().requires_grad_(), Cl = Cm.detach().requires_grad_();
  selective_scan(x, delta, Al, Bl, Cl).backward(from_vector<double>({0, 1}, {1, 2, 1}));
  CHECK(Al.grad().item() == doctest::Approx(0.5 * e1).epsilon(1e-12));
  CHECK_CLOSE(Cl.grad(), from_vector<double>({0, 6 + 0.5 * e1}, {1, 2, 1}), 1e-14, 1e-14);
  CHECK_CLOSE(Bl.grad(), from_vector<double>({0.5 * e1, 2}, {1, 2, 1}), 1e-14, 1e-14);
}

TEST_CASE("selective_scan: the fast kernels match the reference on odd sizes") {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (int64_t C : {1, 17, 33}) {
      for (int64_t L : {1, 5, 200}) {
        for (int64_t N : {1, 4, 16}) {
          const bool with_D = (C + L + N) % 2 == 0, with_z = C != 17;
          check_fast_against_reference(2, L, C, N, with_D, with_z, dtype, cpu::kScanChunk);
        }
      }
    }
    // Chunks of every kind: 1 step, L not a multiple of the chunk, exactly one chunk, several.
    for (int64_t chunk : {1, 7, 50, 64}) {
      check_fast_against_reference(3, 50, 19, 3, true, true, dtype, chunk);
      check_fast_against_reference(1, 130, 5, 2, false, false, dtype, chunk);
    }
  }
  // Big enough for every thread: B·(C/16) tasks, per-thread dB/dC buffers that share batches.
  check_fast_against_reference(3, 97, 80, 8, true, true, DType::f32, 16);
  check_fast_against_reference(5, 33, 40, 4, true, false, DType::f64, 8);
}

TEST_CASE("selective_scan: gradcheck in float64, across chunk boundaries and on strided inputs") {
  for (bool with_D : {true, false}) {
    for (bool with_z : {true, false}) {
      INFO("D ", with_D, " z ", with_z);
      // L = 70 > kScanChunk: the backward recomputes two chunks from the saved boundary state.
      const ScanInputs in = make_inputs(2, cpu::kScanChunk + 6, 3, 2, with_D, with_z, DType::f64, 11);
      std::vector<Tensor> args = in.list();
      if (!with_z) args.pop_back();
      if (!with_D) args.erase(args.begin() + 5);
      CHECK_GRADCHECK(
          [&](auto& v) {
            return selective_scan(v[0], v[1], v[2], v[3], v[4], with_D ? v[5] : Tensor(),
                                  with_z ? v[with_D ? 6 : 5] : Tensor());
          },
          args);
    }
  }
  // Non-contiguous x, delta and Bm (stored transposed), and a sliced A.
  ScanInputs in = make_inputs(2, 9, 5, 3, true, true, DType::f64, 21);
  Tensor xt = test::randn_leaf_transposed({2, 9, 5}, 31);
  Tensor dt = softplus(test::randn_leaf_transposed({2, 9, 5}, 32, false)).detach();
  Tensor dtt = dt.transpose(1, 2).contiguous().transpose(1, 2).detach().requires_grad_();
  Tensor Bt = test::randn_leaf_transposed({2, 9, 3}, 33);
  Tensor As = (-exp(randn_leaf({5, 6}, 34, false))).slice(1, 0, 6, 2).detach().requires_grad_();
  REQUIRE_FALSE(xt.is_contiguous());
  REQUIRE_FALSE(dtt.is_contiguous());
  REQUIRE_FALSE(As.is_contiguous());
  CHECK_GRADCHECK([](auto& v) { return selective_scan(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); },
                  {xt, dtt, As, Bt, in.Cm, in.D, in.z});
  // Only some inputs require grad; the others' gradients are not returned.
  Tensor x_frozen = in.x.detach();
  CHECK_GRADCHECK([&](auto& v) { return selective_scan(x_frozen, v[0], in.A.detach(), v[1], in.Cm.detach()); },
                  {in.delta, in.Bm});
}

TEST_CASE("selective_scan: keeps no (B, L, C, N) tensor, and is deterministic") {
  // 4 MB of states if it kept them all; it keeps y, the chunk boundaries (L/64 = 4 of them) and
  // during backward the seven gradients.
  const int64_t B = 2, L = 256, C = 64, N = 16;
  const ScanInputs in = make_inputs(B, L, C, N, true, true, DType::f32, 41);
  Tensor g = randn_leaf({B, L, C}, 42, false, DType::f32);
  const int64_t full = B * L * C * N * 4, blc = B * L * C * 4;
  const int64_t live0 = memory_stats(kCPU).live_bytes;
  reset_peak_memory(kCPU);
  Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
  const int64_t kept = memory_stats(kCPU).live_bytes - live0;
  INFO("kept after forward ", kept, " bytes; all states would be ", full);
  CHECK(kept <= blc + B * (L / cpu::kScanChunk) * N * C * 4 + 4096);  // y + boundaries
  y.backward(g);
  const int64_t peak = memory_stats(kCPU).peak_bytes - live0;
  INFO("peak over forward and backward ", peak, " bytes");
  CHECK(peak < full / 2);
  const std::vector<Tensor> grads1 = {in.x.grad(), in.delta.grad(), in.A.grad(), in.Bm.grad(),
                                      in.Cm.grad(), in.D.grad(), in.z.grad()};
  for (Tensor t : in.list()) t.zero_grad();
  selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z).backward(g);
  const std::vector<Tensor> grads2 = {in.x.grad(), in.delta.grad(), in.A.grad(), in.Bm.grad(),
                                      in.Cm.grad(), in.D.grad(), in.z.grad()};
  for (size_t i = 0; i < grads1.size(); ++i) CHECK(grads1[i].to_vector<float>() == grads2[i].to_vector<float>());
  // Inference keeps no states at all.
  {
    NoGradGuard no_grad;
    const int64_t before = memory_stats(kCPU).live_bytes;
    Tensor y2 = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
    CHECK(memory_stats(kCPU).live_bytes - before <= blc + 64);
    CHECK(y2.to_vector<float>() == y.to_vector<float>());
  }
}

TEST_CASE("selective_scan: an empty sequence gives an empty output and zero parameter gradients") {
  const ScanInputs in = make_inputs(2, 0, 3, 4, true, true, DType::f64, 51);
  Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
  CHECK(y.shape() == Shape{2, 0, 3});
  y.backward(zeros({2, 0, 3}, {.dtype = DType::f64}));
  CHECK_CLOSE(in.A.grad(), zeros({3, 4}, {.dtype = DType::f64}), 0, 0);
  CHECK_CLOSE(in.D.grad(), zeros({3}, {.dtype = DType::f64}), 0, 0);
}

TEST_CASE("selective_scan golden matches a sequential PyTorch scan") {
  using test::check_golden;
  using test::GoldenInputs;
  auto opt = [](GoldenInputs& in, const char* key) { return in.count(key) ? in.at(key) : Tensor(); };
  auto run = [&](GoldenInputs& in) {
    return selective_scan(in.at("x"), in.at("delta"), in.at("A"), in.at("Bm"), in.at("Cm"), opt(in, "D"),
                          opt(in, "z"));
  };
  check_golden("scan", "gated", run, 1e-5, 1e-4);
  check_golden("scan", "plain", run, 1e-5, 1e-4);
  check_golden("scan", "long", run, 1e-4, 1e-3);  // L = 150 in float32: three chunks, a lane tail
  check_golden("scan", "f64", run, 1e-12, 1e-10);
}

TEST_CASE("selective_scan errors name the op and the shapes") {
  const ScanInputs in = make_inputs(2, 5, 3, 4, true, true, DType::f32, 61, false);
  auto scan = [&](const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                  const Tensor& D, const Tensor& z) { return selective_scan(x, delta, A, Bm, Cm, D, z); };
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta.narrow(1, 0, 4), in.A, in.Bm, in.Cm, in.D, in.z),
                       doctest::Contains("selective_scan: delta (2, 4, 3) must have the shape of x (2, 5, 3)"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, zeros({4, 4}), in.Bm, in.Cm, in.D, in.z),
                       doctest::Contains("selective_scan: A (4, 4) must be (C, N) with C = 3"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, zeros({2, 5, 3}), in.Cm, in.D, in.z),
                       doctest::Contains("selective_scan: Bm (2, 5, 3) must be (B, L, N) = (2, 5, 4)"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, zeros({1, 5, 4}), in.D, in.z),
                       doctest::Contains("selective_scan: Cm (1, 5, 4) must be (B, L, N)"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, zeros({4}), in.z),
                       doctest::Contains("selective_scan: D (4,) must be (C) = (3,)"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, zeros({2, 5, 4})),
                       doctest::Contains("selective_scan: z (2, 5, 4) must have the shape of x"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x.reshape({10, 3}), in.delta, in.A, in.Bm, in.Cm, in.D, in.z),
                       doctest::Contains("selective_scan"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, zeros({3, 0}), zeros({2, 5, 0}), zeros({2, 5, 0}), in.D, in.z),
                       doctest::Contains("selective_scan: the state size N must be at least 1"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta.to(DType::f64), in.A, in.Bm, in.Cm, in.D, in.z),
                       doctest::Contains("selective_scan: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D.to(DType::f64), in.z),
                       doctest::Contains("selective_scan: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z.to(DType::f64)),
                       doctest::Contains("selective_scan: dtype mismatch"), Error);
  Tensor xi = from_vector<int64_t>({1, 2, 3}, {1, 1, 3});
  CHECK_THROWS_WITH_AS(scan(xi, xi, xi, xi, xi, Tensor(), Tensor()),
                       doctest::Contains("selective_scan: expected a floating-point tensor"), Error);
  CHECK_THROWS_WITH_AS(scan(Tensor(), in.delta, in.A, in.Bm, in.Cm, in.D, in.z), doctest::Contains("selective_scan"),
                       Error);
}
