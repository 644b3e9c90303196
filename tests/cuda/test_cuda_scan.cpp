// tests/cuda/test_cuda_scan.cpp — the selective scan's CUDA kernels (cuda/scan.cu,
// cuda/scan_backward.cu) against the CPU, through the selective_scan front end: y and all seven
// gradients, in float32 and float64.
//
// The CPU saves a state every 64 steps and the GPU every 16, so both devices run their own
// chunking here. Inputs reach each path of the kernels (cuda/scan.cuh): with and without D and z;
// L shorter than one 16-step chunk, not a multiple of it, spanning many chunks; N = 16 (the
// compile-time specialisation), 5, 33 (two-warp blocks) and 64 (one warp, shared memory past
// 48 KB); C not a multiple of the block's channels and C over 128 (several channel blocks, so
// dB/dC come from partial rows); B·C small (the sequence split into segments of one chunk, and of
// several chunks) and B·C ≥ 32768 (one segment); a strided x; only some inputs requiring grad;
// empty sequences and no channels. Then determinism run to run, and the N > 64 error.
//
// Extend: a new scan flag adds its cases to scan_cases with both values.
#include <string>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/scan.h"
#include "tests/parity.h"
#include "tests/helpers.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

namespace {

struct ScanShape {
  int64_t B, L, C, N;
  bool with_D, with_z;
};

std::string describe(const ScanShape& s) {
  return "B " + std::to_string(s.B) + " L " + std::to_string(s.L) + " C " + std::to_string(s.C) + " N " +
         std::to_string(s.N) + (s.with_D ? " D" : "") + (s.with_z ? " z" : "");
}

// CPU leaves x, delta, A, Bm, Cm[, D][, z] with realistic values: delta a softplus (positive),
// A = −exp(·) (negative), the rest N(0, 1).
std::vector<Tensor> scan_leaves(const ScanShape& s, DType dt, uint64_t seed) {
  std::vector<Tensor> in;
  {
    NoGradGuard no_grad;
    in.push_back(leaf({s.B, s.L, s.C}, seed, dt, false));
    in.push_back(softplus(leaf({s.B, s.L, s.C}, seed + 1, dt, false) - 1.0));
    in.push_back(-exp(leaf({s.C, s.N}, seed + 2, dt, false) * 0.5));
    in.push_back(leaf({s.B, s.L, s.N}, seed + 3, dt, false));
    in.push_back(leaf({s.B, s.L, s.N}, seed + 4, dt, false));
    if (s.with_D) in.push_back(leaf({s.C}, seed + 5, dt, false));
    if (s.with_z) in.push_back(leaf({s.B, s.L, s.C}, seed + 6, dt, false));
  }
  for (Tensor& t : in) t = t.detach().requires_grad_();
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

TEST_CASE("cuda: selective_scan with and without D and z, chunk by chunk") {
  if (!gpu_or_skip()) return;
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

TEST_CASE("cuda: selective_scan on wide states, many channels, long sequences") {
  if (!gpu_or_skip()) return;
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

TEST_CASE("cuda: selective_scan on strided inputs and with some inputs frozen") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // x stored (B, C, L) and read transposed: the front end copies it contiguous on the device
    std::vector<Tensor> in = scan_leaves({2, 45, 6, 3, true, true}, dt, 20);
    in[0] = leaf({2, 6, 45}, 21, dt);
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

TEST_CASE("cuda: selective_scan on an empty sequence and on no channels") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_scan({2, 0, 3, 4, true, true}, dt, 30, 0);   // dA, dD: zeros from no steps
    check_scan({2, 5, 0, 4, false, false}, dt, 31, 0);  // dB, dC: zeros from no channels
  }
}

TEST_CASE("cuda: selective_scan gives the same bits run to run") {
  if (!gpu_or_skip()) return;
  // Segments, two channel blocks, D and z: every ordered sum of the backward is exercised.
  const ScanShape s{2, 300, 160, 16, true, true};
  std::vector<Tensor> in = scan_leaves(s, DType::f32, 40);
  for (Tensor& t : in) t = t.detach().to(kCUDA).requires_grad_();
  const Tensor g = leaf({s.B, s.L, s.C}, 41, DType::f32, false).to(kCUDA);
  std::vector<std::vector<float>> first;
  for (int run = 0; run < 2; ++run) {
    for (Tensor& t : in) t.zero_grad();
    Tensor y = scan_fn(true, true)(in);
    y.backward(g);
    std::vector<std::vector<float>> now{y.to_vector<float>()};
    for (const Tensor& t : in) now.push_back(t.grad().to_vector<float>());
    if (run == 0) first = now;
    for (size_t i = 0; i < now.size(); ++i) {
      INFO("output " << i);
      CHECK(now[i] == first[i]);
    }
  }
}

TEST_CASE("cuda: selective_scan with N over 64 is one clear error") {
  if (!gpu_or_skip()) return;
  std::vector<Tensor> in = scan_leaves({1, 4, 2, 65, false, false}, DType::f32, 50);
  for (Tensor& t : in) t = t.detach().to(kCUDA);
  const std::string message = test::error_of([&] { scan_fn(false, false)(in); });
  CHECK(test::contains(message, "selective_scan"));
  CHECK(test::contains(message, "N up to 64"));
}

}  // namespace sieve
