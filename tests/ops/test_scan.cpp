// tests/ops/test_scan.cpp — selective_scan: a case worked by hand, run-to-run determinism, empty
// sequences, the PyTorch goldens and the errors, on every device; the CPU's fast kernels against
// its plain reference (forward and all gradients, odd sizes, several chunk sizes, both dtypes)
// and the memory the CPU path keeps; float64 gradcheck across chunk boundaries and on strided
// inputs (CPU); and the CUDA kernels' y and seven gradients against the CPU's (parity).
//
// The CPU saves a state every 64 steps and the GPU every 16, so parity runs each device's own
// chunking. Its inputs reach each path of the CUDA kernels (cuda/scan.cuh): with and without D
// and z; L shorter than one 16-step chunk, not a multiple of it, spanning many chunks; N = 16
// (the compile-time specialisation), 5, 33 (two-warp blocks) and 64 (one warp, shared memory past
// 48 KB); C not a multiple of the block's channels and C over 128 (several channel blocks, so
// dB/dC come from partial rows); B·C small (the sequence split into segments of one chunk, and of
// several chunks) and B·C ≥ 32768 (one segment); a strided x; only some inputs requiring grad;
// empty sequences and no channels.
#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/cpu/scan.h"
#include "ops/elementwise.h"
#include "ops/scan.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::kFloatTypes;
using test::randn_leaf;

namespace {

struct ScanInputs {
  Tensor x, delta, A, Bm, Cm, D, z;
  std::vector<Tensor> list() const { return {x, delta, A, Bm, Cm, D, z}; }
};

// Realistic values: delta in (0, ~2) (a softplus), A < 0; D and z only when asked.
ScanInputs make_inputs(int64_t B, int64_t L, int64_t C, int64_t N, bool with_D, bool with_z, DType dtype,
                       uint64_t seed, bool requires_grad = true, Device device = kCPU) {
  auto leaf = [&](Tensor t) { return t.detach().to(dtype).to(device).requires_grad_(requires_grad); };
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

// Parity: one scan's sizes, and its CPU leaves in selective_scan's argument order
// (x, delta, A, Bm, Cm[, D][, z]).
struct ScanShape {
  int64_t B, L, C, N;
  bool with_D, with_z;
};

std::string describe(const ScanShape& s) {
  return "B " + std::to_string(s.B) + " L " + std::to_string(s.L) + " C " + std::to_string(s.C) + " N " +
         std::to_string(s.N) + (s.with_D ? " D" : "") + (s.with_z ? " z" : "");
}

std::vector<Tensor> scan_leaves(const ScanShape& s, DType dt, uint64_t seed) {
  std::vector<Tensor> in;
  for (const Tensor& t : make_inputs(s.B, s.L, s.C, s.N, s.with_D, s.with_z, dt, seed).list())
    if (t.defined()) in.push_back(t);
  return in;
}

test::Fn scan_fn(bool with_D, bool with_z) {
  return [with_D, with_z](const std::vector<Tensor>& in) {
    return selective_scan(in[0], in[1], in[2], in[3], in[4], with_D ? in[5] : Tensor(),
                          with_z ? in[with_D ? 6 : 5] : Tensor());
  };
}

// Tolerances. float32: exp(Δ·A) is exp2f of a rounded rate on the GPU and exp_fast on the CPU
// (each ~1e-6 relative), states are stitched across segments instead of carried step by step,
// and dA, dB, dC add up to B·L (or C) terms in other orders, so 1e-4; float64 sums the same terms
// in other orders, so 1e-11 instead of 1e-12.
double scan_tol(DType dt) { return dt == DType::f64 ? 1e-11 : 1e-4; }
// Thousands of float32 steps: the recurrences (and dA's sum over B·L of them) drift further.
double long_scan_tol(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-3; }

void check_scan(const ScanShape& s, DType dt, uint64_t seed, double tol) {
  check_parity(describe(s), scan_fn(s.with_D, s.with_z), scan_leaves(s, dt, seed), true, tol, tol);
}

}  // namespace

TEST_CASE("selective_scan: a case worked by hand") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // B = 1, L = 2, C = 1, N = 1: x = (1, 2), Δ = (0.5, 1), A = −1, B = (1, 3), C = (2, 1), D = 0.5.
      //   h_0 = e^{−0.5}·0 + 0.5·1·1 = 0.5               y_0 = 2·0.5 + 0.5·1 = 1.5
      //   h_1 = e^{−1}·0.5 + 1·2·3 = 6 + 0.5/e           y_1 = 1·h_1 + 0.5·2 = 7 + 0.5/e
      Tensor x = from_vector<double>({1, 2}, {1, 2, 1}, dev), delta = from_vector<double>({0.5, 1}, {1, 2, 1}, dev);
      Tensor A = from_vector<double>({-1}, {1, 1}, dev), Bm = from_vector<double>({1, 3}, {1, 2, 1}, dev);
      Tensor Cm = from_vector<double>({2, 1}, {1, 2, 1}, dev), D = from_vector<double>({0.5}, {1}, dev);
      const double e1 = std::exp(-1.0);
      CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm, D), from_vector<double>({1.5, 7 + 0.5 * e1}, {1, 2, 1}), 1e-14,
                  1e-14);
      CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm), from_vector<double>({1.0, 6 + 0.5 * e1}, {1, 2, 1}), 1e-14,
                  1e-14);
      // With a gate z = (0, 1): y_0·silu(0) = 0, y_1·1·σ(1).
      Tensor z = from_vector<double>({0, 1}, {1, 2, 1}, dev);
      const double s1 = 1 / (1 + e1);
      CHECK_CLOSE(selective_scan(x, delta, A, Bm, Cm, D, z), from_vector<double>({0, (7 + 0.5 * e1) * s1}, {1, 2, 1}),
                  1e-14, 1e-14);
      // float32 agrees (exp_fast on the CPU).
      CHECK_CLOSE(selective_scan(x.to(DType::f32), delta.to(DType::f32), A.to(DType::f32), Bm.to(DType::f32),
                                 Cm.to(DType::f32), D.to(DType::f32)),
                  from_vector<float>({1.5f, static_cast<float>(7 + 0.5 * e1)}, {1, 2, 1}), 1e-6, 1e-6);
      // dA by hand, for L(y) = y_1 with D = 0: y_1 = e^{Δ_1 A}·h_0 + ..., so dA = Δ_1·e^{Δ_1 A}·h_0 + 0
      // (h_0 = Δ_0·x_0·B_0 does not depend on A): 1·e^{−1}·0.5. dC = (0, h_1) and
      // dB = (C_1·e^{−1}·Δ_0·x_0, C_1·Δ_1·x_1).
      Tensor Al = A.detach().requires_grad_(), Bl = Bm.detach().requires_grad_(), Cl = Cm.detach().requires_grad_();
      selective_scan(x, delta, Al, Bl, Cl).backward(from_vector<double>({0, 1}, {1, 2, 1}, dev));
      CHECK(Al.grad().item() == doctest::Approx(0.5 * e1).epsilon(1e-12));
      CHECK_CLOSE(Cl.grad(), from_vector<double>({0, 6 + 0.5 * e1}, {1, 2, 1}), 1e-14, 1e-14);
      CHECK_CLOSE(Bl.grad(), from_vector<double>({0.5 * e1, 2}, {1, 2, 1}), 1e-14, 1e-14);
    }
  }
}

TEST_CASE("cpu kernel: selective_scan's fast kernels match the reference on odd sizes") {
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

TEST_CASE("gradcheck: selective_scan in float64, across chunk boundaries and on strided inputs") {
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

TEST_CASE("cpu kernel: selective_scan keeps no (B, L, C, N) tensor") {
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
  // Inference keeps no states at all, and gives the same bits.
  {
    NoGradGuard no_grad;
    const int64_t before = memory_stats(kCPU).live_bytes;
    Tensor y2 = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
    CHECK(memory_stats(kCPU).live_bytes - before <= blc + 64);
    CHECK(y2.to_vector<float>() == y.to_vector<float>());
  }
}

TEST_CASE("selective_scan gives the same bits run to run") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // Several chunks on either device, two CUDA channel blocks, D and z: every ordered sum of
      // the backward is exercised.
      const ScanInputs in = make_inputs(2, 300, 160, 16, true, true, DType::f32, 40, true, dev);
      const Tensor g = randn_leaf({2, 300, 160}, 41, false, DType::f32, dev);
      std::vector<std::vector<float>> first;
      for (int run = 0; run < 2; ++run) {
        for (Tensor t : in.list()) t.zero_grad();
        Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
        y.backward(g);
        std::vector<std::vector<float>> now{y.to_vector<float>()};
        for (const Tensor& t : in.list()) now.push_back(t.grad().to_vector<float>());
        if (run == 0) first = now;
        for (size_t i = 0; i < now.size(); ++i) {
          INFO("output " << i);
          CHECK(now[i] == first[i]);
        }
      }
    }
  }
}

TEST_CASE("selective_scan: an empty sequence gives an empty output and zero parameter gradients") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const ScanInputs in = make_inputs(2, 0, 3, 4, true, true, DType::f64, 51, true, dev);
      Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
      CHECK(y.shape() == Shape{2, 0, 3});
      y.backward(zeros({2, 0, 3}, {.dtype = DType::f64, .device = dev}));
      CHECK_CLOSE(in.A.grad(), zeros({3, 4}, {.dtype = DType::f64}), 0, 0);
      CHECK_CLOSE(in.D.grad(), zeros({3}, {.dtype = DType::f64}), 0, 0);
    }
  }
}

TEST_CASE("selective_scan goldens match a sequential PyTorch scan") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      using test::check_golden;
      using test::GoldenInputs;
      auto opt = [](GoldenInputs& in, const char* key) { return in.count(key) ? in.at(key) : Tensor(); };
      auto run = [&](GoldenInputs& in) {
        return selective_scan(in.at("x"), in.at("delta"), in.at("A"), in.at("Bm"), in.at("Cm"), opt(in, "D"),
                              opt(in, "z"));
      };
      check_golden("scan", "gated", run, 1e-5, 1e-4, dev);
      check_golden("scan", "plain", run, 1e-5, 1e-4, dev);
      check_golden("scan", "long", run, 1e-4, 1e-3, dev);  // L = 150 in float32: three chunks, a lane tail
      check_golden("scan", "f64", run, 1e-12, 1e-10, dev);
    }
  }
}

TEST_CASE("selective_scan errors name the op and the shapes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const ScanInputs in = make_inputs(2, 5, 3, 4, true, true, DType::f32, 61, false, dev);
      auto zero = [dev](const Shape& shape) { return zeros(shape, {.device = dev}); };
      auto scan = [&](const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                      const Tensor& D, const Tensor& z) { return selective_scan(x, delta, A, Bm, Cm, D, z); };
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta.narrow(1, 0, 4), in.A, in.Bm, in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan: delta (2, 4, 3) must have the shape of x (2, 5, 3)"),
                           Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, zero({4, 4}), in.Bm, in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan: A (4, 4) must be (C, N) with C = 3"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, zero({2, 5, 3}), in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan: Bm (2, 5, 3) must be (B, L, N) = (2, 5, 4)"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, zero({1, 5, 4}), in.D, in.z),
                           doctest::Contains("selective_scan: Cm (1, 5, 4) must be (B, L, N)"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, zero({4}), in.z),
                           doctest::Contains("selective_scan: D (4,) must be (C) = (3,)"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, zero({2, 5, 4})),
                           doctest::Contains("selective_scan: z (2, 5, 4) must have the shape of x"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x.reshape({10, 3}), in.delta, in.A, in.Bm, in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, zero({3, 0}), zero({2, 5, 0}), zero({2, 5, 0}), in.D, in.z),
                           doctest::Contains("selective_scan: the state size N must be at least 1"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta.to(DType::f64), in.A, in.Bm, in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan: dtype mismatch"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D.to(DType::f64), in.z),
                           doctest::Contains("selective_scan: dtype mismatch"), Error);
      CHECK_THROWS_WITH_AS(scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z.to(DType::f64)),
                           doctest::Contains("selective_scan: dtype mismatch"), Error);
      Tensor xi = from_vector<int64_t>({1, 2, 3}, {1, 1, 3}, dev);
      CHECK_THROWS_WITH_AS(scan(xi, xi, xi, xi, xi, Tensor(), Tensor()),
                           doctest::Contains("selective_scan: expected a floating-point tensor"), Error);
      CHECK_THROWS_WITH_AS(scan(Tensor(), in.delta, in.A, in.Bm, in.Cm, in.D, in.z),
                           doctest::Contains("selective_scan"), Error);
      // The CUDA kernels hold a state of N values per channel on chip: N over 64 is refused there.
      const ScanInputs wide = make_inputs(1, 4, 2, 65, false, false, DType::f32, 50, false, dev);
      const std::string message = test::error_of([&] { selective_scan(wide.x, wide.delta, wide.A, wide.Bm, wide.Cm); });
      if (dev.is_cuda()) {
        CHECK(test::contains(message, "selective_scan"));
        CHECK(test::contains(message, "N up to 64"));
      } else {
        CHECK(message.empty());
      }
    }
  }
}

TEST_CASE("parity: selective_scan with and without D and z, chunk by chunk, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    for (bool with_D : {false, true})
      for (bool with_z : {false, true}) {
        check_scan({2, 5, 3, 4, with_D, with_z}, dt, 1, scan_tol(dt));      // shorter than one chunk
        check_scan({2, 37, 40, 16, with_D, with_z}, dt, 2, scan_tol(dt));   // N = 16, 3 chunks, last partial
        check_scan({3, 100, 33, 5, with_D, with_z}, dt, 3, scan_tol(dt));   // odd N and C, 7 chunks
      }
    check_scan({1, 16, 8, 16, true, true}, dt, 4, scan_tol(dt));   // exactly one chunk
    check_scan({2, 48, 7, 1, true, false}, dt, 5, scan_tol(dt));   // N = 1, exactly three chunks
  }
}

TEST_CASE("parity: selective_scan on wide states, many channels, long sequences, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_scan({2, 40, 50, 33, true, true}, dt, 10, scan_tol(dt));  // N = 33: two-warp blocks
    check_scan({1, 35, 20, 64, true, true}, dt, 11, scan_tol(dt));  // N = 64: one warp, > 48 KB shared
    // C = 130: two channel blocks of 128 (the second with 2 channels), dB/dC summed from partials
    check_scan({2, 70, 130, 16, true, true}, dt, 12, scan_tol(dt));
    // B·C = 260: segments of 2 chunks (m > 1) over 271 chunks, L = 4325 not a multiple of 16
    check_scan({2, 4325, 130, 5, true, true}, dt, 13, long_scan_tol(dt));
    // B·C = 32768: one segment, 256 channel blocks; L = 20 is a chunk and a bit
    check_scan({2, 20, 16384, 2, true, true}, dt, 14, scan_tol(dt));
  }
  // Mamba's shape at a modest length: C = 128 (one block), N = 16, segments of one chunk.
  check_scan({4, 1024, 128, 16, true, true}, DType::f32, 15, long_scan_tol(DType::f32));
}

TEST_CASE("parity: selective_scan on strided inputs and with some inputs frozen, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // x stored (B, C, L) and read transposed: the front end copies it contiguous on the device
    std::vector<Tensor> in = scan_leaves({2, 45, 6, 3, true, true}, dt, 20);
    in[0] = test::leaf({2, 6, 45}, 21, dt);
    check_parity("transposed x",
                 [](const std::vector<Tensor>& v) {
                   return selective_scan(v[0].transpose(1, 2), v[1], v[2], v[3], v[4], v[5], v[6]);
                 },
                 in, true, scan_tol(dt), scan_tol(dt));
    // x and A frozen: their gradients are neither wanted nor returned
    std::vector<Tensor> part = scan_leaves({2, 30, 9, 4, true, true}, dt, 22);
    part[0] = part[0].detach();
    part[2] = part[2].detach();
    check_parity("x and A frozen", scan_fn(true, true), part, true, scan_tol(dt), scan_tol(dt));
  }
}

TEST_CASE("parity: selective_scan on an empty sequence and on no channels, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_scan({2, 0, 3, 4, true, true}, dt, 30, 0);   // dA, dD: zeros from no steps
    check_scan({2, 5, 0, 4, false, false}, dt, 31, 0);  // dB, dC: zeros from no channels
  }
}
