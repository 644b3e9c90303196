// ops/scan.cpp — selective_scan: checks, output, and its backward (kernels in ops/cpu/scan.cpp).
//
// Legend as ops/scan.h: x, delta, z, y: (B, L, C); A: (C, N); Bm, Cm: (B, L, N) or (B, L, G, N); D: (C).
// Non-contiguous inputs are copied to contiguous ones here (the kernels read plain row-major
// memory); a gradient comes back contiguous and flows through the input's view backward.
// Saved for backward: the (contiguous) inputs and the state h at the end of every chunk of
// scan_chunk(device) steps, states: (B, ⌈L/chunk⌉ − 1, N, C) — never the (B, L, C, N) states: the
// backward recomputes them chunk by chunk. Without grad mode (inference) no states are written.
//
// What it is not: the kernels (ops/cpu/scan.cpp) or the Mamba block (models/). Extend: a new flag
// is checked here and passed to the kernels.
#include "ops/scan.h"

#include "autograd/node.h"
#include "ops/cpu/scan.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

constexpr Op kOp = Op::selective_scan;

// Steps between saved states, per device (both kernels of a device take the chunk the forward
// used). The CPU recomputes a chunk into a per-thread buffer that fits L2 (cpu::kScanChunk = 64);
// a CUDA thread holds one chunk of one state in registers (cuda/scan.cu, at most 16 steps), so
// CUDA saves a state every 16 steps: the states are then N/16 of x's size, about one more
// (B, L, C) tensor written and read at N = 16.
int64_t scan_chunk(Device device) { return device.is_cuda() ? 16 : cpu::kScanChunk; }

void check_inputs(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                  const Tensor& D, const Tensor& z) {
  check_defined(kOp, {&x, &delta, &A, &Bm, &Cm});
  check_floating(kOp, x);
  check_same_dtype(kOp, {&x, &delta, &A, &Bm, &Cm});
  check_same_device(kOp, {&x, &delta, &A, &Bm, &Cm});
  check_ndim(kOp, x, 3, 3, "x (B, L, C)");
  check_ndim(kOp, A, 2, 2, "A (C, N)");
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = A.size(1);
  SIEVE_CHECK(delta.shape() == x.shape(), "selective_scan: delta {} must have the shape of x {}: (B, L, C)",
              shape_str(delta.shape()), shape_str(x.shape()));
  SIEVE_CHECK(A.size(0) == C, "selective_scan: A {} must be (C, N) with C = {} from x {}", shape_str(A.shape()), C,
              shape_str(x.shape()));
  SIEVE_CHECK(N >= 1, "selective_scan: the state size N must be at least 1, got A {}", shape_str(A.shape()));
  // (B, L, N), or (B, L, G, N): G groups of C / G channels, each with its own B and C.
  const int64_t G = Bm.ndim() == 4 ? Bm.size(2) : 1;
  const Shape expected = Bm.ndim() == 4 ? Shape{B, L, G, N} : Shape{B, L, N};
  SIEVE_CHECK(Bm.shape() == expected && G >= 1 && C % G == 0,
              "selective_scan: Bm {} must be (B, L, N) = {} or (B, L, G, N) with G dividing C = {}, for x {} and A {}",
              shape_str(Bm.shape()), shape_str(Shape{B, L, N}), C, shape_str(x.shape()), shape_str(A.shape()));
  SIEVE_CHECK(Cm.shape() == Bm.shape(), "selective_scan: Cm {} must be (B, L, N) or (B, L, G, N) like Bm {}",
              shape_str(Cm.shape()), shape_str(Bm.shape()));
  if (D.defined()) {
    check_same_dtype(kOp, {&x, &D});
    check_same_device(kOp, {&x, &D});
    SIEVE_CHECK(D.shape() == Shape{C}, "selective_scan: D {} must be (C) = ({},) for x {}", shape_str(D.shape()), C,
                shape_str(x.shape()));
  }
  if (z.defined()) {
    check_same_dtype(kOp, {&x, &z});
    check_same_device(kOp, {&x, &z});
    SIEVE_CHECK(z.shape() == x.shape(), "selective_scan: z {} must have the shape of x {}: (B, L, C)",
                shape_str(z.shape()), shape_str(x.shape()));
  }
}

Tensor contiguous_or_none(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

}  // namespace

Tensor selective_scan(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                      const Tensor& D, const Tensor& z) {
  check_inputs(x, delta, A, Bm, Cm, D, z);
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = A.size(1);
  const int64_t chunk = scan_chunk(x.device());
  const Options opts{.dtype = x.dtype(), .device = x.device()};
  const Tensor xc = x.detach().contiguous(), dc = delta.detach().contiguous(), ac = A.detach().contiguous();
  const Tensor bc = Bm.detach().contiguous(), cc = Cm.detach().contiguous();
  const Tensor Dc = contiguous_or_none(D), zc = contiguous_or_none(z);

  Tensor y = empty({B, L, C}, opts);
  const bool grad = autograd::any_requires_grad({x, delta, A, Bm, Cm, D, z});
  const int64_t K = L > 0 ? (L + chunk - 1) / chunk - 1 : 0;  // saved chunk boundaries
  Tensor states = grad ? empty({B, K, N, C}, opts) : Tensor();
  // FLOPs per (b, t, c, n): exp 1, Δ·A 1, a·h + Δx·B 2, C·h accumulated 2 → 6; per (b, t, c):
  // Δ·x 1, D·x + 2, silu gate 5 (exp, add, div, two muls) → 8 (counted with or without D and z).
  const int64_t elems = B * L * C;
  SIEVE_DISPATCH(kOp, x.device(), /*flops=*/elems * (6 * N + 8), selective_scan_forward, xc, dc, ac, bc, cc, Dc,
                 zc, y, states, chunk);

  const bool want_D = D.defined() && D.requires_grad(), want_z = z.defined() && z.requires_grad();
  const bool want_x = x.requires_grad(), want_delta = delta.requires_grad(), want_A = A.requires_grad();
  const bool want_B = Bm.requires_grad(), want_C = Cm.requires_grad();
  autograd::record(kOp, y, {x, delta, A, Bm, Cm, D, z}, [=](const Tensor& g) {
    // Every gradient comes out of one pass (they share the recomputed states); those not wanted
    // are dropped. dD and dz are computed when D and z exist.
    Tensor dx = empty_like(xc), ddelta = empty_like(dc), dA = empty_like(ac);
    Tensor dB = empty_like(bc), dC = empty_like(cc);
    Tensor dD = Dc.defined() ? empty_like(Dc) : Tensor(), dz = zc.defined() ? empty_like(zc) : Tensor();
    // Backward FLOPs per (b, t, c, n): the recompute (exp, Δ·A, a·h + Δx·B: 4) and the reverse
    // step (dh 2, dC 2, dB 2, dx 3, dΔ 5, dA 3, carry 1: 18) → 22; per (b, t, c): 12 (gate, D, z).
    SIEVE_DISPATCH(kOp, g.device(), /*flops=*/elems * (22 * N + 12), selective_scan_backward, xc, dc, ac, bc, cc,
                   Dc, zc, states, g.contiguous(), chunk, dx, ddelta, dA, dB, dC, dD, dz);
    return Grads{want_x ? dx : Tensor(), want_delta ? ddelta : Tensor(), want_A ? dA : Tensor(),
                 want_B ? dB : Tensor(), want_C ? dC : Tensor(), want_D ? dD : Tensor(), want_z ? dz : Tensor()};
  });
  return y;
}

}  // namespace sieve
