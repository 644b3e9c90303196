// ops/cpu/scan.cpp — the selective scan of Mamba on CPU: a reference, and the fast chunked kernels.
//
// Per batch b and channel c (legend and recurrence in ops/scan.h), with a_t[n] = exp(Δ_t·A[c,n]):
//   forward   h_t = a_t ⊙ h_{t−1} + Δ_t·x_t·B_t;   u_t = ⟨C_t, h_t⟩ + D·x_t;   y_t = u_t·silu(z_t)
//   backward  (g_t = dL/dy_t, walking t from L−1 down to 0, with dh_L = 0)
//             du_t  = g_t·silu(z_t)                 dz_t = g_t·u_t·σ(z_t)·(1 + z_t·(1 − σ(z_t)))
//             dh_t  = du_t·C_t + a_{t+1} ⊙ dh_{t+1}            (the adjoint of h_t)
//             dx_t  = du_t·D + Σ_n dh_t·Δ_t·B_t
//             dΔ_t  = Σ_n dh_t·(x_t·B_t + A·a_t·h_{t−1})
//             dA   += dh_t·Δ_t·a_t·h_{t−1}    dB_t += Σ_c dh_t·Δ_t·x_t    dC_t += Σ_c du_t·h_t
//             dD   += du_t·x_t
//
// The reference (first below) is those lines as plain loops, one (b, c) and one step at a time.
//
// The fast kernels. Channels are the contiguous axis, so a block of W channels (W = 16 floats or
// 8 doubles, one 512-bit vector) goes in the vector lanes and the N states are an outer loop: each
// h[n] is a vector of W channels, Δ_t and x_t are one vector load each, B_t[n] and C_t[n] are
// broadcast scalars, and ⟨C_t, h_t⟩ is a sum of vectors — no horizontal reduction in the forward.
// The lane loops have a fixed trip count W and `#pragma omp simd`, so GCC compiles each into one
// AVX-512 instruction (or several narrower ones without -march=native); exp is fastmath.h's
// exp_fast for float32 (2 ulp: far below the scan's own rounding) and std::exp for float64. A
// last block of fewer than W channels is loaded zero-padded (Δ = x = A = 0 keeps its lanes at 0).
// Tasks are (b, channel block) pairs, run in parallel with a static schedule.
//
// Memory. The forward keeps nothing of size (B, L, C, N): it writes h only at the end of every
// chunk of `chunk` steps (states, (B, K, N, C), K = ⌈L/chunk⌉ − 1). Backward walks the chunks
// from last to first; for each it recomputes the chunk's h_t and a_t from the saved boundary state
// into a per-thread buffer (chunk × N × W, 128 KB at chunk 64, N 16, float32) — one exp per
// element, as in the forward — then runs the reverse recurrence over it. dB and dC sum over
// channels (each step stores its N·W lane terms, and lanes.h sums all N vectors' lanes at once as
// a transpose-and-add tree) and dA, dD over batch and time: each thread adds into its own
// buffers (dB, dC for the batches its tasks touch; dA, dD in double, flushed from T once per
// chunk), and the buffers are summed in thread order — the task partition is
// fixed, so results are bit-identical run to run for one thread count.
//
// What it is not: checks or autograd (ops/scan.cpp). Extend: a variant is a flag threaded through
// forward_block / backward_block and the reference.
#include "ops/cpu/scan.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <vector>

#include "ops/cpu/fastmath.h"
#include "ops/cpu/lanes.h"
#include "ops/cpu/loops.h"
#include "ops/cpu/threads.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

constexpr Op kOp = Op::selective_scan;

template <typename T>
T sigmoid(T v) {
  return T(1) / (T(1) + exp_any(-v));
}

// Raw pointers and sizes of one call; d and z are null when absent.
template <typename T>
struct Inputs {
  const T *x, *dt, *a, *bm, *cm, *d, *z;
  int64_t B, L, C, N;
  int64_t G = 1;  // groups: channel c reads B and C of group c / (C / G); bm, cm are (B, L, G, N)
  int64_t group_of(int64_t c) const { return c / (C / G); }
  const T* b_row(int64_t row, int64_t g) const { return bm + (row * G + g) * N; }  // row = b·L + t
  const T* c_row(int64_t row, int64_t g) const { return cm + (row * G + g) * N; }
};

template <typename T>
Inputs<T> inputs_of(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                    const Tensor& D, const Tensor& z) {
  return {x.data<T>(),
          delta.data<T>(),
          A.data<T>(),
          Bm.data<T>(),
          Cm.data<T>(),
          D.defined() ? D.data<T>() : nullptr,
          z.defined() ? z.data<T>() : nullptr,
          x.size(0),
          x.size(1),
          x.size(2),
          A.size(1),
          Bm.ndim() == 4 ? Bm.size(2) : 1};
}

// ---------------------------------------------------------------- the reference

template <typename T>
void reference_forward(const Inputs<T>& in, T* y) {
  const int64_t L = in.L, C = in.C, N = in.N;
  std::vector<T> h(static_cast<size_t>(N));
  for (int64_t b = 0; b < in.B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      std::fill(h.begin(), h.end(), T(0));
      for (int64_t t = 0; t < L; ++t) {
        const int64_t i = (b * L + t) * C + c;  // index of (b, t, c)
        const T* Bt = in.b_row(b * L + t, in.group_of(c));
        const T* Ct = in.c_row(b * L + t, in.group_of(c));
        T u = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(in.dt[i] * in.a[c * N + n]) * h[n] + in.dt[i] * in.x[i] * Bt[n];
          u += Ct[n] * h[n];
        }
        if (in.d) u += in.d[c] * in.x[i];
        if (in.z) u *= in.z[i] * sigmoid(in.z[i]);
        y[i] = u;
      }
    }
}

template <typename T>
struct Grad {
  T *dx, *ddt, *da, *dbm, *dcm, *dd, *dz;
};

template <typename T>
void reference_backward(const Inputs<T>& in, const T* g, const Grad<T>& out) {
  const int64_t L = in.L, C = in.C, N = in.N;
  std::fill(out.da, out.da + C * N, T(0));
  std::fill(out.dbm, out.dbm + in.B * L * in.G * N, T(0));
  std::fill(out.dcm, out.dcm + in.B * L * in.G * N, T(0));
  if (out.dd) std::fill(out.dd, out.dd + C, T(0));
  std::vector<T> h(static_cast<size_t>((L + 1) * N)), dh(static_cast<size_t>(N));  // h[t+1] is h_t; h[0] = 0
  for (int64_t b = 0; b < in.B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t grp = in.group_of(c);
      std::fill(h.begin(), h.end(), T(0));
      for (int64_t t = 0; t < L; ++t) {
        const int64_t i = (b * L + t) * C + c;
        const T* Bt = in.b_row(b * L + t, grp);
        for (int64_t n = 0; n < N; ++n)
          h[(t + 1) * N + n] = std::exp(in.dt[i] * in.a[c * N + n]) * h[t * N + n] + in.dt[i] * in.x[i] * Bt[n];
      }
      std::fill(dh.begin(), dh.end(), T(0));  // holds a_{t+1}·dh_{t+1} between steps
      for (int64_t t = L - 1; t >= 0; --t) {
        const int64_t i = (b * L + t) * C + c;
        const T* Bt = in.b_row(b * L + t, grp);
        const T* Ct = in.c_row(b * L + t, grp);
        T* dBt = out.dbm + (Bt - in.bm);  // dB and dC have B's and C's layout
        T* dCt = out.dcm + (Ct - in.cm);
        T du = g[i];
        if (in.z) {
          T u = in.d ? in.d[c] * in.x[i] : T(0);
          for (int64_t n = 0; n < N; ++n) u += Ct[n] * h[(t + 1) * N + n];
          const T s = sigmoid(in.z[i]);
          out.dz[i] = g[i] * u * s * (T(1) + in.z[i] * (T(1) - s));
          du = g[i] * in.z[i] * s;
        }
        T dx = in.d ? du * in.d[c] : T(0), ddt = 0;
        if (in.d) out.dd[c] += du * in.x[i];
        for (int64_t n = 0; n < N; ++n) {
          const T a = std::exp(in.dt[i] * in.a[c * N + n]);
          const T hprev = h[t * N + n];
          dh[n] += du * Ct[n];  // now dh_t
          dCt[n] += du * h[(t + 1) * N + n];
          dBt[n] += dh[n] * in.dt[i] * in.x[i];
          dx += dh[n] * in.dt[i] * Bt[n];
          ddt += dh[n] * (in.x[i] * Bt[n] + in.a[c * N + n] * a * hprev);
          out.da[c * N + n] += dh[n] * in.dt[i] * a * hprev;
          dh[n] *= a;  // a_t·dh_t, for step t − 1
        }
        out.dx[i] = dx;
        out.ddt[i] = ddt;
      }
    }
}

// ---------------------------------------------------------------- the fast kernels

// A[c0 + l, n] as a[n·W + l], zero in padded lanes.
template <typename T, int W>
void load_a(const Inputs<T>& in, int64_t c0, int nl, T* a) {
  for (int64_t n = 0; n < in.N; ++n)
    for (int l = 0; l < W; ++l) a[n * W + l] = l < nl ? in.a[(c0 + l) * in.N + n] : T(0);
}

// The forward of one (b, channel block c0 .. c0 + nl − 1). h, a: N·W scratch.
template <typename T, int W>
void forward_block(const Inputs<T>& in, int64_t b, int64_t c0, int nl, int64_t chunk, T* __restrict y,
                   T* __restrict states, T* __restrict h, T* __restrict a) {
  const int64_t L = in.L, C = in.C, N = in.N, grp = in.group_of(c0);
  load_a<T, W>(in, c0, nl, a);
  std::fill(h, h + N * W, T(0));
  alignas(64) T dt[W], xv[W], dtx[W], u[W], dv[W], zv[W];
  load_lanes<T, W>(in.d ? in.d + c0 : nullptr, in.d ? nl : 0, dv);
  for (int64_t t = 0; t < L; ++t) {
    const int64_t row = b * L + t;
    load_lanes<T, W>(in.dt + row * C + c0, nl, dt);
    load_lanes<T, W>(in.x + row * C + c0, nl, xv);
    const T* __restrict Bt = in.b_row(row, grp);
    const T* __restrict Ct = in.c_row(row, grp);
#pragma omp simd
    for (int l = 0; l < W; ++l) {
      dtx[l] = dt[l] * xv[l];
      u[l] = dv[l] * xv[l];
    }
    for (int64_t n = 0; n < N; ++n) {
      const T bn = Bt[n], cn = Ct[n];
      T* __restrict hn = h + n * W;
      const T* __restrict an = a + n * W;
#pragma omp simd
      for (int l = 0; l < W; ++l) {
        hn[l] = exp_any(dt[l] * an[l]) * hn[l] + dtx[l] * bn;
        u[l] += cn * hn[l];
      }
    }
    if (in.z) {
      load_lanes<T, W>(in.z + row * C + c0, nl, zv);
#pragma omp simd
      for (int l = 0; l < W; ++l) u[l] *= zv[l] * sigmoid(zv[l]);
    }
    store_lanes<T, W>(u, nl, y + row * C + c0);
    if (states && (t + 1) % chunk == 0 && t + 1 < L) {  // h at the end of chunk k = t / chunk
      const int64_t K = (L + chunk - 1) / chunk - 1;
      T* s = states + (b * K + t / chunk) * N * C + c0;
      for (int64_t n = 0; n < N; ++n) store_lanes<T, W>(h + n * W, nl, s + n * C);
    }
  }
}

// Per-thread scratch and partial sums of the backward.
template <typename T>
struct BackwardThread {
  int64_t b_first = 0, b_count = 0;  // the batches this thread's tasks touch
  std::vector<T> dbm, dcm;           // (b_count, L, G, N)
  std::vector<double> da, dd;        // (C, N), (C)
};

// The backward of one (b, channel block). buf: h and a of one chunk, 2·min(chunk, L)·N·W;
// small: 6·N·W.
template <typename T, int W>
void backward_block(const Inputs<T>& in, const T* __restrict states, const T* __restrict g, int64_t chunk,
                    int64_t b, int64_t c0, int nl, const Grad<T>& out, BackwardThread<T>& acc, T* __restrict buf,
                    T* __restrict small) {
  const int64_t L = in.L, C = in.C, N = in.N, NW = N * W, grp = in.group_of(c0);
  const int64_t K = (L + chunk - 1) / chunk;  // chunks
  T* __restrict hs = buf;                     // hs[j·NW + n·W + l]: h at step t0 + j
  T* __restrict as = buf + std::min(chunk, L) * NW;  // as[...]: a at step t0 + j
  T* __restrict a = small;                    // A of the block, (N, W)
  T* __restrict h0 = small + NW;              // h before the chunk
  T* __restrict carry = small + 2 * NW;       // a_{t+1}·dh_{t+1}
  T* __restrict dasum = small + 3 * NW;       // this chunk's dA, in T
  T* __restrict db_lanes = small + 4 * NW;    // step t's dB_t and dC_t terms, one per lane
  T* __restrict dc_lanes = small + 5 * NW;
  load_a<T, W>(in, c0, nl, a);
  std::fill(carry, carry + NW, T(0));
  alignas(64) T dt[W], xv[W], dtx[W], gv[W], zv[W], dv[W], du[W], dxv[W], ddt[W], dzv[W], ddsum[W];
  load_lanes<T, W>(in.d ? in.d + c0 : nullptr, in.d ? nl : 0, dv);
  T* dbm = acc.dbm.data() + (b - acc.b_first) * L * in.G * N;  // this batch's (L, G, N) rows
  T* dcm = acc.dcm.data() + (b - acc.b_first) * L * in.G * N;

  for (int64_t k = K - 1; k >= 0; --k) {
    const int64_t t0 = k * chunk, len = std::min(chunk, L - t0);
    if (k == 0) {
      std::fill(h0, h0 + NW, T(0));
    } else {
      const T* s = states + (b * (K - 1) + k - 1) * N * C + c0;
      for (int64_t n = 0; n < N; ++n) load_lanes<T, W>(s + n * C, nl, h0 + n * W);
    }
    // Recompute the chunk's a_t and h_t.
    for (int64_t j = 0; j < len; ++j) {
      const int64_t row = b * L + t0 + j;
      load_lanes<T, W>(in.dt + row * C + c0, nl, dt);
      load_lanes<T, W>(in.x + row * C + c0, nl, xv);
      const T* __restrict Bt = in.b_row(row, grp);
      const T* __restrict hp = j > 0 ? hs + (j - 1) * NW : h0;
      T* __restrict hj = hs + j * NW;
      T* __restrict aj = as + j * NW;
      for (int64_t n = 0; n < N; ++n) {
        const T bn = Bt[n];
#pragma omp simd
        for (int l = 0; l < W; ++l) {
          const T av = exp_any(dt[l] * a[n * W + l]);
          aj[n * W + l] = av;
          hj[n * W + l] = av * hp[n * W + l] + dt[l] * xv[l] * bn;
        }
      }
    }
    // The reverse recurrence over the chunk.
    std::fill(dasum, dasum + NW, T(0));
    std::fill(ddsum, ddsum + W, T(0));
    for (int64_t j = len - 1; j >= 0; --j) {
      const int64_t t = t0 + j, row = b * L + t;
      load_lanes<T, W>(in.dt + row * C + c0, nl, dt);
      load_lanes<T, W>(in.x + row * C + c0, nl, xv);
      load_lanes<T, W>(g + row * C + c0, nl, gv);
      const T* __restrict Bt = in.b_row(row, grp);
      const T* __restrict Ct = in.c_row(row, grp);
      const T* __restrict hj = hs + j * NW;
      const T* __restrict aj = as + j * NW;
      const T* __restrict hp = j > 0 ? hs + (j - 1) * NW : h0;
      if (in.z) {  // u_t = ⟨C_t, h_t⟩ + D·x_t again, for dz
        load_lanes<T, W>(in.z + row * C + c0, nl, zv);
        alignas(64) T u[W];
#pragma omp simd
        for (int l = 0; l < W; ++l) u[l] = dv[l] * xv[l];
        for (int64_t n = 0; n < N; ++n) {
          const T cn = Ct[n];
#pragma omp simd
          for (int l = 0; l < W; ++l) u[l] += cn * hj[n * W + l];
        }
#pragma omp simd
        for (int l = 0; l < W; ++l) {
          const T s = sigmoid(zv[l]);
          dzv[l] = gv[l] * u[l] * s * (T(1) + zv[l] * (T(1) - s));
          du[l] = gv[l] * zv[l] * s;
        }
        store_lanes<T, W>(dzv, nl, out.dz + row * C + c0);
      } else {
#pragma omp simd
        for (int l = 0; l < W; ++l) du[l] = gv[l];
      }
#pragma omp simd
      for (int l = 0; l < W; ++l) {
        dtx[l] = dt[l] * xv[l];
        dxv[l] = du[l] * dv[l];
        ddt[l] = 0;
        ddsum[l] += du[l] * xv[l];
      }
      for (int64_t n = 0; n < N; ++n) {
        const T bn = Bt[n], cn = Ct[n];
#pragma omp simd
        for (int l = 0; l < W; ++l) {
          const int64_t i = n * W + l;
          const T dh = du[l] * cn + carry[i];
          const T ah = aj[i] * hp[i];
          dc_lanes[i] = du[l] * hj[i];
          db_lanes[i] = dh * dtx[l];
          dxv[l] += dh * dt[l] * bn;
          ddt[l] += dh * (xv[l] * bn + a[i] * ah);
          dasum[i] += dh * dt[l] * ah;
          carry[i] = aj[i] * dh;
        }
      }
      // dB_t, dC_t sum over the group's channels: the lanes of all N vectors summed at once (lanes.h).
      add_lane_sums<T, W>(db_lanes, N, dbm + (t * in.G + grp) * N);
      add_lane_sums<T, W>(dc_lanes, N, dcm + (t * in.G + grp) * N);
      store_lanes<T, W>(dxv, nl, out.dx + row * C + c0);
      store_lanes<T, W>(ddt, nl, out.ddt + row * C + c0);
    }
    for (int l = 0; l < nl; ++l) {
      for (int64_t n = 0; n < N; ++n) acc.da[(c0 + l) * N + n] += static_cast<double>(dasum[n * W + l]);
      acc.dd[c0 + l] += static_cast<double>(ddsum[l]);
    }
  }
}

// Tasks are (b, channel block) pairs; a block lies inside one group (its lanes share B_t and C_t),
// so each group's channels C / G are cut into blocks of W, the last maybe narrower.
struct Block {
  int64_t b, c0;
  int nl;
};

template <typename T, int W>
int64_t blocks_per_batch(const Inputs<T>& in) {
  return in.G * ((in.C / in.G + W - 1) / W);
}

template <typename T, int W>
Block block_of(const Inputs<T>& in, int64_t task) {
  const int64_t per_group = (in.C / in.G + W - 1) / W, per_batch = in.G * per_group;
  const int64_t b = task / per_batch, k = task % per_batch, grp = k / per_group;
  const int64_t c0 = grp * (in.C / in.G) + (k % per_group) * W;
  return {b, c0, static_cast<int>(std::min<int64_t>(W, (grp + 1) * (in.C / in.G) - c0))};
}

template <typename T>
bool worth_threads(const Inputs<T>& in, int64_t tasks) {
  return tasks > 1 && in.B * in.L * in.C * in.N >= kParallelGrain / 4;
}

template <typename T>
void fast_forward(const Inputs<T>& in, T* y, T* states, int64_t chunk) {
  constexpr int W = kLanes<T>;
  const int64_t tasks = in.C > 0 ? in.B * blocks_per_batch<T, W>(in) : 0;
  ThreadErrors errors;  // the per-thread buffers may fail to allocate (core/thread_errors.h)
#pragma omp parallel if (worth_threads(in, tasks))
  {
    std::optional<Scratch<T>> h, a;
    errors.guard([&] { h.emplace(in.N * W), a.emplace(in.N * W); });
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      if (errors.failed()) continue;
      const Block k = block_of<T, W>(in, task);
      forward_block<T, W>(in, k.b, k.c0, k.nl, chunk, y, states, h->p, a->p);
    }
  }
  errors.rethrow();
}

template <typename T>
void fast_backward(const Inputs<T>& in, const T* states, const T* g, int64_t chunk, const Grad<T>& out) {
  constexpr int W = kLanes<T>;
  const int64_t L = in.L, C = in.C, N = in.N, GN = in.G * N;
  const int64_t blocks = C > 0 ? blocks_per_batch<T, W>(in) : 1, tasks = C > 0 ? in.B * blocks : 0;
  // thread_ceiling() slices of the tasks, each with its own partial sums, whichever threads run
  // them: the partition (and so the bits of dA, dD, dB, dC) must not change with the machine's
  // load (ops/cpu/threads.h).
  const int max_threads = worth_threads(in, tasks) ? thread_ceiling() : 1;
  std::vector<BackwardThread<T>> threads(static_cast<size_t>(max_threads));
  const int used = max_threads;
  ThreadErrors errors;  // the per-slice buffers may fail to allocate (core/thread_errors.h)
#pragma omp parallel for schedule(static) if (max_threads > 1)
  for (int id = 0; id < used; ++id) {
    errors.guard([&] {
      // A fixed contiguous range of tasks per slice (the partition sizes the buffers and fixes the
      // order they are reduced in).
      const int64_t first = tasks * id / used, last = tasks * (id + 1) / used;
      BackwardThread<T>& acc = threads[static_cast<size_t>(id)];
      if (first < last) {
        acc.b_first = first / blocks;
        acc.b_count = (last - 1) / blocks - acc.b_first + 1;
      }
      acc.dbm.assign(static_cast<size_t>(acc.b_count * L * GN), T(0));
      acc.dcm.assign(static_cast<size_t>(acc.b_count * L * GN), T(0));
      acc.da.assign(static_cast<size_t>(C * N), 0.0);
      acc.dd.assign(static_cast<size_t>(C), 0.0);
      Scratch<T> buf(2 * std::min(chunk, std::max<int64_t>(L, 1)) * N * W), small(6 * N * W);
      for (int64_t task = first; task < last; ++task) {
        const Block k = block_of<T, W>(in, task);
        backward_block<T, W>(in, states, g, chunk, k.b, k.c0, k.nl, out, acc, buf.p, small.p);
      }
    });
  }
  errors.rethrow();
  // Sum the slices' partials in slice order.
  const int64_t rows = in.B * L;
#pragma omp parallel for schedule(static) if (max_threads > 1 && rows * GN >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / std::max<int64_t>(L, 1), t = r - b * L;
    T* dbr = out.dbm + r * GN;
    T* dcr = out.dcm + r * GN;
    std::fill(dbr, dbr + GN, T(0));
    std::fill(dcr, dcr + GN, T(0));
    for (int id = 0; id < used; ++id) {
      const BackwardThread<T>& acc = threads[static_cast<size_t>(id)];
      if (b < acc.b_first || b >= acc.b_first + acc.b_count) continue;
      const T* sb = acc.dbm.data() + ((b - acc.b_first) * L + t) * GN;
      const T* sc = acc.dcm.data() + ((b - acc.b_first) * L + t) * GN;
      for (int64_t n = 0; n < GN; ++n) {
        dbr[n] += sb[n];
        dcr[n] += sc[n];
      }
    }
  }
  for (int64_t i = 0; i < C * N; ++i) {
    double s = 0;
    for (int id = 0; id < used; ++id) s += threads[static_cast<size_t>(id)].da[static_cast<size_t>(i)];
    out.da[i] = static_cast<T>(s);
  }
  if (out.dd)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int id = 0; id < used; ++id) s += threads[static_cast<size_t>(id)].dd[static_cast<size_t>(c)];
      out.dd[c] = static_cast<T>(s);
    }
}

template <typename T>
Grad<T> grads_of(const Tensor& dx, const Tensor& ddelta, const Tensor& dA, const Tensor& dBm, const Tensor& dCm,
                 const Tensor& dD, const Tensor& dz) {
  return {dx.data<T>(),  ddelta.data<T>(), dA.data<T>(), dBm.data<T>(), dCm.data<T>(),
          dD.defined() ? dD.data<T>() : nullptr, dz.defined() ? dz.data<T>() : nullptr};
}

}  // namespace

void selective_scan_forward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                            const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y,
                            const Tensor& states, int64_t chunk) {
  dispatch_float(x.dtype(), kOp, [&]<typename T>() {
    fast_forward<T>(inputs_of<T>(x, delta, A, Bm, Cm, D, z), y.data<T>(),
                    states.defined() ? states.data<T>() : nullptr, chunk);
  });
}

void selective_scan_backward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                             const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& states,
                             const Tensor& g, int64_t chunk, const Tensor& dx, const Tensor& ddelta,
                             const Tensor& dA, const Tensor& dBm, const Tensor& dCm, const Tensor& dD,
                             const Tensor& dz) {
  dispatch_float(x.dtype(), kOp, [&]<typename T>() {
    fast_backward<T>(inputs_of<T>(x, delta, A, Bm, Cm, D, z), states.defined() ? states.data<T>() : nullptr,
                     g.data<T>(), chunk, grads_of<T>(dx, ddelta, dA, dBm, dCm, dD, dz));
  });
}

void selective_scan_reference(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                              const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& y) {
  dispatch_float(x.dtype(), kOp, [&]<typename T>() {
    reference_forward<T>(inputs_of<T>(x, delta, A, Bm, Cm, D, z), y.data<T>());
  });
}

void selective_scan_reference_backward(const Tensor& x, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                                       const Tensor& Cm, const Tensor& D, const Tensor& z, const Tensor& g,
                                       const Tensor& dx, const Tensor& ddelta, const Tensor& dA,
                                       const Tensor& dBm, const Tensor& dCm, const Tensor& dD,
                                       const Tensor& dz) {
  dispatch_float(x.dtype(), kOp, [&]<typename T>() {
    reference_backward<T>(inputs_of<T>(x, delta, A, Bm, Cm, D, z), g.data<T>(),
                          grads_of<T>(dx, ddelta, dA, dBm, dCm, dD, dz));
  });
}

}  // namespace sieve::cpu
