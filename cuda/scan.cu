// cuda/scan.cu — the selective scan's forward on CUDA: the launch plan, the segment pre-pass and
// its stitching, and the kernel writing y and the chunk states. The design, the shapes and the
// shared helpers are in cuda/scan.cuh; the backward is cuda/scan_backward.cu.
//
// What it is not: the math's readable statement (ops/cpu/scan.cpp) or the checks (cuda/scan.cpp).
// Extend: see cuda/scan.cuh.
#include "cuda/scan.cuh"

namespace sieve::cuda {

using namespace scan_detail;

namespace {

// Every kernel walks states in the outer loop and the chunk's steps in the inner, unrolled loop:
// the step values (Δ, x, Δ·x, z) sit in registers for the whole chunk, one state's h (or carry)
// runs through the 16 steps, and its value between chunks waits in a shared column. kN = 16
// fixes the state count at compile time (Mamba's N); kN = 0 reads it at run time.

// Segments 0 .. S − 2: h at the segment's end starting from h = 0, and ΣΔ over the segment, into
// seg_state (B, S − 1, N, C) and seg_dsum (B, S − 1, C).
template <typename T, int kN>
__global__ void __launch_bounds__(kMaxThreads)
    scan_segment_ends(const Ptrs<T> in, const Dims dm, T* __restrict__ seg_state, T* __restrict__ seg_dsum) {
  extern __shared__ __align__(16) unsigned char scan_smem[];
  const int N = kN > 0 ? kN : static_cast<int>(dm.N), threads = blockDim.x, tid = threadIdx.x;
  T* tile_b = reinterpret_cast<T*>(scan_smem);
  T* h_col = tile_b + 2 * kW * N;
  T* r_col = h_col + N * threads;
  const BlockPos pos = block_pos(dm, dm.S - 1, 0);
  const int64_t c = pos.c;
  const bool active = pos.active;
  for (int n = 0; n < N; ++n) {  // own column only: no barrier needed
    r_col[n * threads + tid] = active ? rate(in.a[c * N + n]) : T(0);
    h_col[n * threads + tid] = 0;
  }
  T dsum = 0;
  int64_t k_first, k_last;
  segment_chunks(dm, pos.s, k_first, k_last);
  for (int64_t k = k_first; k <= k_last; ++k) {
    const int64_t t0 = k * dm.chunk, row0 = (pos.b * dm.L + t0) * dm.C + c;
    const int len = static_cast<int>(dm.chunk < dm.L - t0 ? dm.chunk : dm.L - t0);
    stage_rows<T>(in.bm, tile_b, nullptr, nullptr, dm, pos.b, t0, pos.g, len);
    T dt[kW], dtx[kW];
    load_steps(in.dt, row0, dm.C, len, active, dt);
    load_steps(in.x, row0, dm.C, len, active, dtx);
#pragma unroll
    for (int j = 0; j < kW; ++j) {
      dsum += dt[j];  // zero past the chunk's end
      dtx[j] *= dt[j];
    }
#pragma unroll 2
    for (int n = 0; n < N; ++n) {
      const T r = r_col[n * threads + tid];
      T h = h_col[n * threads + tid];
#pragma unroll
      for (int j = 0; j < kW; ++j)
        if (j < len) h = decay(dt[j] * r) * h + dtx[j] * tile_b[j * N + n];
      h_col[n * threads + tid] = h;
    }
  }
  if (!active) return;
  for (int n = 0; n < N; ++n) seg_state[seg_index(dm, pos.b, pos.s, n, c)] = h_col[n * threads + tid];
  seg_dsum[(pos.b * (dm.S - 1) + pos.s) * dm.C + c] = dsum;
}

// Per (b, n, c): the true h at the end of segments 0 .. S − 2, in place of the local ones, and
// into states (the boundary after each such segment's last chunk).
template <typename T>
__global__ void scan_combine_states(const T* __restrict__ a, const Dims dm, T* __restrict__ seg_state,
                                    const T* __restrict__ seg_dsum, T* __restrict__ states) {
  SIEVE_GRID_STRIDE(i, dm.B * dm.N * dm.C) {
    const int64_t c = i % dm.C, n = (i / dm.C) % dm.N, b = i / (dm.C * dm.N);
    const T r = rate(a[c * dm.N + n]);
    T h = 0;
    for (int64_t s = 0; s + 1 < dm.S; ++s) {
      const int64_t at = seg_index(dm, b, s, n, c);
      h = decay(seg_dsum[(b * (dm.S - 1) + s) * dm.C + c] * r) * h + seg_state[at];
      seg_state[at] = h;
      if (states) states[state_index(dm, b, (s + 1) * dm.m - 1, n, c)] = h;
    }
  }
}

// y over segment s from its true start state; states at the ends of the segment's chunks but
// its last (combine_states wrote that one, or it is the end of the sequence).
template <typename T, int kN>
__global__ void __launch_bounds__(kMaxThreads)
    scan_forward(const Ptrs<T> in, const Dims dm, T* __restrict__ y, T* __restrict__ states,
                 const T* __restrict__ seg_state) {
  extern __shared__ __align__(16) unsigned char scan_smem[];
  const int N = kN > 0 ? kN : static_cast<int>(dm.N), threads = blockDim.x, tid = threadIdx.x;
  T* tile_b = reinterpret_cast<T*>(scan_smem);
  T* tile_c = tile_b + kW * N;
  T* h_col = tile_c + kW * N;
  T* r_col = h_col + N * threads;
  const BlockPos pos = block_pos(dm, dm.S, 0);
  const int64_t c = pos.c;
  const bool active = pos.active;
  for (int n = 0; n < N; ++n) {
    r_col[n * threads + tid] = active ? rate(in.a[c * N + n]) : T(0);
    h_col[n * threads + tid] = active && pos.s > 0 ? seg_state[seg_index(dm, pos.b, pos.s - 1, n, c)] : T(0);
  }
  const T dc = active && in.d ? in.d[c] : T(0);
  int64_t k_first, k_last;
  segment_chunks(dm, pos.s, k_first, k_last);
  for (int64_t k = k_first; k <= k_last; ++k) {
    const int64_t t0 = k * dm.chunk, row0 = (pos.b * dm.L + t0) * dm.C + c;
    const int len = static_cast<int>(dm.chunk < dm.L - t0 ? dm.chunk : dm.L - t0);
    stage_rows<T>(in.bm, tile_b, in.cm, tile_c, dm, pos.b, t0, pos.g, len);
    T dt[kW], dtx[kW], zv[kW], u[kW];
    load_steps(in.dt, row0, dm.C, len, active, dt);
    load_steps(in.x, row0, dm.C, len, active, dtx);
    load_steps(in.z, row0, dm.C, len, active, zv);
#pragma unroll
    for (int j = 0; j < kW; ++j) {
      u[j] = dc * dtx[j];  // D·x
      dtx[j] *= dt[j];
    }
    const bool save = states && active && k < k_last;
#pragma unroll 2
    for (int n = 0; n < N; ++n) {
      const T r = r_col[n * threads + tid];
      T h = h_col[n * threads + tid];
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        if (j < len) {
          h = decay(dt[j] * r) * h + dtx[j] * tile_b[j * N + n];
          u[j] += tile_c[j * N + n] * h;
        }
      }
      h_col[n * threads + tid] = h;
      if (save) states[state_index(dm, pos.b, k, n, c)] = h;
    }
    if (active) {
#pragma unroll
      for (int j = 0; j < kW; ++j)
        if (j < len) y[row0 + j * dm.C] = in.z ? u[j] * (zv[j] * sigmoid(zv[j])) : u[j];
    }
  }
}

}  // namespace

ScanPlan scan_plan(int64_t batch, int64_t length, int64_t channels, int64_t groups, int64_t state, int64_t chunk,
                   DType dtype) {
  ScanPlan plan;
  plan.chunks = length > 0 && chunk > 0 ? (length + chunk - 1) / chunk : 0;
  // Segments only when channels alone give too few threads: they cost a pre-pass over the inputs.
  const int64_t lanes = batch * channels;
  int64_t want = 1;
  if (lanes > 0 && lanes < kEnoughLanes) want = (kTargetThreads + lanes - 1) / lanes;
  if (want > plan.chunks) want = plan.chunks;
  if (want < 1) want = 1;
  plan.chunks_per_segment = plan.chunks > 0 ? (plan.chunks + want - 1) / want : 1;
  plan.segments = plan.chunks > 0 ? (plan.chunks + plan.chunks_per_segment - 1) / plan.chunks_per_segment : 0;
  // Blocks of up to 4 warps, fewer where the backward's shared memory would pass 48 KB (N > 16,
  // float64) and where a group's C / G channels need fewer; the forward kernels use the same (they need less).
  const int64_t elem = dtype == DType::f64 ? 8 : 4;
  int64_t warps = kMaxThreads / 32;
  while (warps > 1 && backward_smem_bytes(warps * 32, state, elem) > 48 * 1024) warps /= 2;
  // A block holds channels of one group only (they share its B/C rows).
  const int64_t per_group = groups > 0 ? channels / groups : 0;
  const int64_t needed = (per_group + 31) / 32;
  if (needed >= 1 && needed < warps) warps = needed;
  plan.threads = warps * 32;
  plan.channel_blocks = per_group > 0 ? (per_group + plan.threads - 1) / plan.threads : 0;
  return plan;
}

void launch_selective_scan_forward(const ScanPlan& plan, const ScanArgs& in, const TensorArg& y,
                                   const TensorArg& states, const TensorArg& seg_state, const TensorArg& seg_dsum) {
  const Dims dm = dims_of(plan, in);
  if (dm.B * dm.L * dm.C == 0) return;
  const unsigned threads = static_cast<unsigned>(plan.threads);
  with_dtype(in.x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const Ptrs<T> p = ptrs_of<T>(in);
      const int64_t smem = forward_smem_bytes(plan.threads, dm.N, sizeof(T));
      with_state_count(dm.N, [&](auto count) {
        constexpr int kN = decltype(count)::value;
        if (dm.S > 1) {
          allow_smem(scan_segment_ends<T, kN>, smem);
          scan_segment_ends<T, kN><<<blocks_for(dm, threads, dm.S - 1), threads, smem, stream()>>>(
              p, dm, mptr<T>(seg_state), mptr<T>(seg_dsum));
          SIEVE_CUDA_CHECK_LAUNCH();
          scan_combine_states<T><<<grid_for(dm.B * dm.N * dm.C), kBlock, 0, stream()>>>(
              p.a, dm, mptr<T>(seg_state), cptr<T>(seg_dsum), mptr<T>(states));
          SIEVE_CUDA_CHECK_LAUNCH();
        }
        allow_smem(scan_forward<T, kN>, smem);
        scan_forward<T, kN><<<blocks_for(dm, threads, dm.S), threads, smem, stream()>>>(
            p, dm, mptr<T>(y), mptr<T>(states), cptr<T>(seg_state));
        SIEVE_CUDA_CHECK_LAUNCH();
      });
    }
  });
}

}  // namespace sieve::cuda
