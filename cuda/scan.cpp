// cuda/scan.cpp — the selective scan's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/scan.cpp with contiguous tensors; the kernels are in cuda/scan.cu. Here
// the kernels' limits are checked (chunk ≤ kScanMaxChunk, N ≤ kScanMaxState: one clear error
// each), the launch plan is made and its scratch allocated.
//
// Legend as ops/scan.h: x, delta, z, y, g: (B, L, C); A: (C, N); Bm, Cm: (B, L, N) or grouped
// (B, L, G, N); D: (C); states: (B, ⌈L/chunk⌉ − 1, N, C).
//
// What it is not: the math (cuda/scan.cu, ops/cpu/scan.cpp). Extend: see cuda/kernels.h.
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {

constexpr const char* kName = "selective_scan";

void check_call(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                const Tensor& D, const Tensor& z, const Tensor& states, int64_t chunk) {
  check_floating(Op::selective_scan, x);
  for (const Tensor* t : {&x, &delta, &A, &Bm, &Cm, &D, &z, &states})
    SIEVE_CHECK(!t->defined() || t->is_contiguous(),
                "selective_scan: the CUDA kernels expect contiguous tensors, got {}", t->describe());
  SIEVE_CHECK(chunk >= 1 && chunk <= kScanMaxChunk,
              "selective_scan: the CUDA kernels hold at most {} steps per chunk in registers, got chunk {}",
              kScanMaxChunk, chunk);
  SIEVE_CHECK(A.size(1) <= kScanMaxState, "selective_scan: the CUDA kernels support a state size N up to {}, got A {}",
              kScanMaxState, A.describe());
  if (states.defined()) {
    const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = A.size(1);
    const int64_t K = L > 0 ? (L + chunk - 1) / chunk - 1 : 0;
    SIEVE_CHECK(states.shape() == (Shape{B, K, N, C}),
                "selective_scan: states {} must be (B, ⌈L/chunk⌉ − 1, N, C) = ({}, {}, {}, {}) for chunk {}",
                states.describe(), B, K, N, C, chunk);
  }
}

ScanArgs args_of(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                 const Tensor& D, const Tensor& z, int64_t chunk) {
  return {tensor_arg(x, kName),         tensor_arg(delta, kName),     tensor_arg(A, kName),
          tensor_arg(Bm, kName),        tensor_arg(Cm, kName),        optional_tensor_arg(D, kName),
          optional_tensor_arg(z, kName), chunk};
}

int64_t groups_of(const Tensor& Bm) { return Bm.ndim() == 4 ? Bm.size(2) : 1; }

ScanPlan plan_of(const Tensor& x, const Tensor& A, const Tensor& Bm, int64_t chunk) {
  const int64_t G = groups_of(Bm);
  const ScanPlan plan = scan_plan(x.size(0), x.size(1), x.size(2), G, A.size(1), chunk, x.dtype());
  SIEVE_CHECK(x.size(0) * plan.segments * G * plan.channel_blocks < (int64_t{1} << 31),
              "selective_scan: {} needs more CUDA blocks than one launch holds", x.describe());
  return plan;
}

// The (B, S − 1, N, C) and (B, S − 1, C) buffers stitching the segments; none with one segment.
void segment_buffers(const ScanPlan& plan, const Tensor& x, int64_t N, Tensor& seg_state, Tensor& seg_dsum) {
  if (plan.segments <= 1) return;
  const Options opts{.dtype = x.dtype(), .device = x.device()};
  seg_state = empty({x.size(0), plan.segments - 1, N, x.size(2)}, opts);
  seg_dsum = empty({x.size(0), plan.segments - 1, x.size(2)}, opts);
}

}  // namespace

void selective_scan_forward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                            const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y,
                            const Tensor& states, int64_t chunk) {
  check_call(x, delta, A, Bm, Cm, D, z, states, chunk);
  SIEVE_CHECK(y.is_contiguous(), "selective_scan: expected a contiguous output, got {}", y.describe());
  const ScanPlan plan = plan_of(x, A, Bm, chunk);
  Tensor seg_state, seg_dsum;
  segment_buffers(plan, x, A.size(1), seg_state, seg_dsum);
  launch_selective_scan_forward(plan, args_of(x, delta, A, Bm, Cm, D, z, chunk), tensor_arg(y, kName),
                                optional_tensor_arg(states, kName), optional_tensor_arg(seg_state, kName),
                                optional_tensor_arg(seg_dsum, kName));
}

void selective_scan_backward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                             const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& states,
                             const Tensor& g, int64_t chunk, const Tensor& dx, const Tensor& ddelta,
                             const Tensor& dA, const Tensor& dBm, const Tensor& dCm, const Tensor& dD,
                             const Tensor& dz) {
  SIEVE_CHECK(states.defined(), "selective_scan: backward needs the chunk states the forward saved");
  check_call(x, delta, A, Bm, Cm, D, z, states, chunk);
  for (const Tensor* t : {&g, &dx, &ddelta, &dA, &dBm, &dCm, &dD, &dz})
    SIEVE_CHECK(!t->defined() || t->is_contiguous(), "selective_scan: backward expects contiguous tensors, got {}",
                t->describe());
  SIEVE_CHECK(dD.defined() == D.defined() && dz.defined() == z.defined(),
              "selective_scan: dD and dz must be given exactly when D and z are");
  const ScanPlan plan = plan_of(x, A, Bm, chunk);
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = A.size(1);
  Tensor seg_state, seg_dsum;
  segment_buffers(plan, x, N, seg_state, seg_dsum);
  const Options f64{.dtype = DType::f64, .device = x.device()};
  const Tensor dA_part = empty({B * plan.segments, N, C}, f64);
  const Tensor dD_part = D.defined() ? empty({B * plan.segments, C}, f64) : Tensor();
  const Tensor dbc_part =
      plan.channel_blocks > 1
          ? empty({2, plan.channel_blocks, B, L, groups_of(Bm) * N}, {.dtype = x.dtype(), .device = x.device()})
                              : Tensor();
  const ScanGradArgs out{tensor_arg(dx, kName),  tensor_arg(ddelta, kName),       tensor_arg(dA, kName),
                         tensor_arg(dBm, kName), tensor_arg(dCm, kName),          optional_tensor_arg(dD, kName),
                         optional_tensor_arg(dz, kName)};
  const ScanScratch scratch{optional_tensor_arg(seg_state, kName), optional_tensor_arg(seg_dsum, kName),
                            tensor_arg(dA_part, kName), optional_tensor_arg(dD_part, kName),
                            optional_tensor_arg(dbc_part, kName)};
  launch_selective_scan_backward(plan, args_of(x, delta, A, Bm, Cm, D, z, chunk), tensor_arg(states, kName),
                                 tensor_arg(g, kName), out, scratch);
}

}  // namespace sieve::cuda
