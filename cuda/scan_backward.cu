// cuda/scan_backward.cu — the selective scan's backward on CUDA (design, shapes and shared helpers:
// cuda/scan.cuh; the forward: cuda/scan.cu).
//
// The scan_backward thread walks its segment's chunks from the last. For each chunk it loads Δ,
// x, g, z into registers, then, one state n at a time: recomputes a_t and h_t of that state over
// the chunk's ≤ 16 steps from the boundary state the forward saved (registers), then runs the
// reverse recurrence over them. Per-step sums over n (dx, dΔ, and u for dz) are register arrays;
// per-state carries and dA partials wait in shared columns. dB_t[n] and dC_t[n] sum over channels:
// per state, a warp's 2 × 16 step values are summed across its 32 lanes by a transpose-and-add
// butterfly (31 shuffles; lane l ends with value l), the warps' sums go to shared memory, and
// after the chunk the block adds them in warp order and writes the chunk's rows once, coalesced.
// No atomics: with C > 128 each channel block writes partial rows, added in block order by
// scan_bc_sums; dA and dD are kept per (b, segment) in double and added in order by
// scan_param_sums. Every run gives the same bits.
//
// What it is not: the math's readable statement (ops/cpu/scan.cpp). Extend: see cuda/scan.cuh.
#include "cuda/scan.cuh"

namespace sieve::cuda {

using namespace scan_detail;

namespace {

// du_t = ∂L/∂u_t and the factor gz_t with dz_t = u_t·gz_t, from g and z (du = g without a gate).
template <typename T>
__device__ __forceinline__ void gate_grads(T g, T z, bool gated, T& du, T& gz) {
  if (!gated) {
    du = g;
    gz = 0;
    return;
  }
  const T s = sigmoid(z);
  du = g * z * s;
  gz = g * s * (T(1) + z * (T(1) - s));
}

// Segments 1 .. S − 1: the carry a_t·dh_t at the segment's first step with a zero carry coming in
// from the right, and ΣΔ, into seg_state / seg_dsum slot s − 1.
template <typename T, int kN>
__global__ void __launch_bounds__(kMaxThreads)
    scan_segment_carries(const Ptrs<T> in, const Dims dm, const T* __restrict__ g, T* __restrict__ seg_state,
                         T* __restrict__ seg_dsum) {
  extern __shared__ __align__(16) unsigned char scan_smem[];
  const int N = kN > 0 ? kN : static_cast<int>(dm.N), threads = blockDim.x, tid = threadIdx.x;
  T* tile_c = reinterpret_cast<T*>(scan_smem);
  T* carry_col = tile_c + 2 * kW * N;
  T* r_col = carry_col + N * threads;
  const BlockPos pos = block_pos(dm, dm.S - 1, 1);
  const int64_t c = pos.c;
  const bool active = pos.active;
  for (int n = 0; n < N; ++n) {
    r_col[n * threads + tid] = active ? rate(in.a[c * N + n]) : T(0);
    carry_col[n * threads + tid] = 0;
  }
  T dsum = 0;
  int64_t k_first, k_last;
  segment_chunks(dm, pos.s, k_first, k_last);
  for (int64_t k = k_last; k >= k_first; --k) {
    const int64_t t0 = k * dm.chunk, row0 = (pos.b * dm.L + t0) * dm.C + c;
    const int len = static_cast<int>(dm.chunk < dm.L - t0 ? dm.chunk : dm.L - t0);
    stage_rows<T>(nullptr, nullptr, in.cm, tile_c, dm, pos.b, t0, pos.g, len);
    T dt[kW], du[kW], zv[kW];
    load_steps(in.dt, row0, dm.C, len, active, dt);
    load_steps(g, row0, dm.C, len, active, du);
    load_steps(in.z, row0, dm.C, len, active, zv);
#pragma unroll
    for (int j = 0; j < kW; ++j) {
      T gz;
      gate_grads(du[j], zv[j], in.z != nullptr, du[j], gz);
      dsum += dt[j];
    }
#pragma unroll 2
    for (int n = 0; n < N; ++n) {
      const T r = r_col[n * threads + tid];
      T carry = carry_col[n * threads + tid];
#pragma unroll
      for (int j = kW - 1; j >= 0; --j)
        if (j < len) carry = decay(dt[j] * r) * (du[j] * tile_c[j * N + n] + carry);
      carry_col[n * threads + tid] = carry;
    }
  }
  if (!active) return;
  for (int n = 0; n < N; ++n) seg_state[seg_index(dm, pos.b, pos.s - 1, n, c)] = carry_col[n * threads + tid];
  seg_dsum[(pos.b * (dm.S - 1) + pos.s - 1) * dm.C + c] = dsum;
}

// Per (b, n, c), walking segments from the last: slot s − 1 := the true carry leaving segment s,
// which is the carry entering segment s − 1 from the right.
template <typename T>
__global__ void scan_combine_carries(const T* __restrict__ a, const Dims dm, T* __restrict__ seg_state,
                                     const T* __restrict__ seg_dsum) {
  SIEVE_GRID_STRIDE(i, dm.B * dm.N * dm.C) {
    const int64_t c = i % dm.C, n = (i / dm.C) % dm.N, b = i / (dm.C * dm.N);
    const T r = rate(a[c * dm.N + n]);
    T carry = 0;
    for (int64_t s = dm.S - 1; s >= 1; --s) {
      const int64_t at = seg_index(dm, b, s - 1, n, c);
      carry = seg_state[at] + decay(seg_dsum[(b * (dm.S - 1) + s - 1) * dm.C + c] * r) * carry;
      seg_state[at] = carry;
    }
  }
}

// The butterfly: v[i] is this lane's value i; returns to lane l the sum of v[l] over the warp.
// Each round halves the values a lane keeps, swapping the other half with the lane `half` away.
template <typename T, int kHalf>
__device__ __forceinline__ void butterfly_round(T (&v)[32], int lane) {
  const bool upper = (lane & kHalf) != 0;
#pragma unroll
  for (int i = 0; i < kHalf; ++i) {
    const T send = upper ? v[i] : v[i + kHalf];
    const T keep = upper ? v[i + kHalf] : v[i];
    v[i] = keep + __shfl_xor_sync(0xffffffffu, send, kHalf);
  }
}
template <typename T>
__device__ __forceinline__ T warp_transpose_sum(T (&v)[32]) {
  const int lane = threadIdx.x & 31;
  butterfly_round<T, 16>(v, lane);
  butterfly_round<T, 8>(v, lane);
  butterfly_round<T, 4>(v, lane);
  butterfly_round<T, 2>(v, lane);
  butterfly_round<T, 1>(v, lane);
  return v[0];
}

// Everything else, per (b, segment, group, channel block). dB_out, dC_out: dBm and dCm when one
// block holds every channel of a group (partial_stride 0), else partial rows, channel block cb's
// (within its group) at cb·partial_stride. dA_part (B·S, N, C), dD_part (B·S, C): each (b, segment)'s sums.
template <typename T, int kN>
__global__ void __launch_bounds__(kMaxThreads)
    scan_backward(const Ptrs<T> in, const Dims dm, const T* __restrict__ states, const T* __restrict__ g,
                  const T* __restrict__ seg_carry, T* __restrict__ dx, T* __restrict__ ddt, T* __restrict__ dz,
                  T* __restrict__ dB_out, T* __restrict__ dC_out, int64_t partial_stride,
                  double* __restrict__ dA_part, double* __restrict__ dD_part) {
  extern __shared__ __align__(16) unsigned char scan_smem[];
  const int N = kN > 0 ? kN : static_cast<int>(dm.N), threads = blockDim.x, warps = threads / 32;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  double* dA_acc = reinterpret_cast<double*>(scan_smem);  // [n][tid], as are A_col and carry_col
  T* A_col = reinterpret_cast<T*>(dA_acc + N * threads);
  T* carry_col = A_col + N * threads;
  T* tile_b = carry_col + N * threads;
  T* tile_c = tile_b + kW * N;
  T* red = tile_c + kW * N;  // [(n·warps + warp)·kRedStride + lane]
  const BlockPos pos = block_pos(dm, dm.S, 0);
  const int64_t c = pos.c;
  const bool active = pos.active;
  for (int n = 0; n < N; ++n) {  // only this thread's column: no barrier needed
    A_col[n * threads + tid] = active ? in.a[c * N + n] : T(0);
    carry_col[n * threads + tid] = active && pos.s + 1 < dm.S ? seg_carry[seg_index(dm, pos.b, pos.s, n, c)] : T(0);
    dA_acc[n * threads + tid] = 0;
  }
  const T dc = active && in.d ? in.d[c] : T(0);
  double dD_acc = 0;
  int64_t k_first, k_last;
  segment_chunks(dm, pos.s, k_first, k_last);
  for (int64_t k = k_last; k >= k_first; --k) {
    const int64_t t0 = k * dm.chunk, row0 = (pos.b * dm.L + t0) * dm.C + c;
    const int len = static_cast<int>(dm.chunk < dm.L - t0 ? dm.chunk : dm.L - t0);
    stage_rows<T>(in.bm, tile_b, in.cm, tile_c, dm, pos.b, t0, pos.g, len);
    T dt[kW], xv[kW], du[kW], gz[kW], sB[kW], q[kW], u[kW], h[kW], a[kW];
    {
      T gv[kW], zv[kW];
      load_steps(in.dt, row0, dm.C, len, active, dt);
      load_steps(in.x, row0, dm.C, len, active, xv);
      load_steps(g, row0, dm.C, len, active, gv);
      load_steps(in.z, row0, dm.C, len, active, zv);
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        gate_grads(gv[j], zv[j], in.z != nullptr, du[j], gz[j]);
        sB[j] = 0;  // Σ_n dh·B_n
        q[j] = 0;   // Σ_n A_n·dh·a·h_{t−1}
        u[j] = dc * xv[j];
      }
    }
    for (int n = 0; n < N; ++n) {
      const T An = A_col[n * threads + tid], rn = rate(An);
      T carry = carry_col[n * threads + tid];
      const T h_start = active && k > 0 ? states[state_index(dm, pos.b, k - 1, n, c)] : T(0);
      // Recompute this state's a_t and h_t over the chunk.
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        if (j < len) {
          a[j] = decay(dt[j] * rn);
          h[j] = a[j] * (j == 0 ? h_start : h[j - 1]) + dt[j] * xv[j] * tile_b[j * N + n];
          if (in.z) u[j] += tile_c[j * N + n] * h[j];
        } else {
          a[j] = 0;
          h[j] = 0;
        }
      }
      // The reverse recurrence. h[j] and a[j] are last read at step j, so they are overwritten
      // there with step j's dC and dB terms.
      T dA_n = 0;
#pragma unroll
      for (int j = kW - 1; j >= 0; --j) {
        if (j < len) {
          const T dh = du[j] * tile_c[j * N + n] + carry;
          const T p = dh * a[j] * (j == 0 ? h_start : h[j - 1]);
          sB[j] += dh * tile_b[j * N + n];
          q[j] += An * p;
          dA_n += dt[j] * p;
          carry = a[j] * dh;
          a[j] = dh * dt[j] * xv[j];
          h[j] = du[j] * h[j];
        }
      }
      carry_col[n * threads + tid] = carry;
      dA_acc[n * threads + tid] += static_cast<double>(dA_n);
      T v[32];
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        v[j] = a[j];
        v[kW + j] = h[j];
      }
      red[(n * warps + warp) * kRedStride + lane] = warp_transpose_sum(v);
    }
    __syncthreads();  // every warp's sums are in red
    const int per_kind = len * N;
    const int64_t row_step = dm.G * N;  // rows of the block's group, one per step
    T* const rows_b = dB_out + pos.cb * partial_stride + bc_row(dm, pos.b, t0, pos.g);
    T* const rows_c = dC_out + pos.cb * partial_stride + bc_row(dm, pos.b, t0, pos.g);
    for (int i = tid; i < 2 * per_kind; i += threads) {
      const int kind = i >= per_kind ? 1 : 0, rest = i - kind * per_kind, j = rest / N, n = rest % N;
      T sum = 0;
      for (int w = 0; w < warps; ++w) sum += red[(n * warps + w) * kRedStride + kind * kW + j];
      (kind ? rows_c : rows_b)[j * row_step + n] = sum;
    }
    if (active) {
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        if (j < len) {
          const int64_t at = row0 + j * dm.C;
          dx[at] = du[j] * dc + dt[j] * sB[j];
          ddt[at] = xv[j] * sB[j] + q[j];
          if (dz) dz[at] = u[j] * gz[j];
          dD_acc += static_cast<double>(du[j] * xv[j]);
        }
      }
    }
  }
  if (!active) return;
  const int64_t part = pos.b * dm.S + pos.s;
  for (int n = 0; n < N; ++n) dA_part[(part * N + n) * dm.C + c] = dA_acc[n * threads + tid];
  if (dD_part) dD_part[part * dm.C + c] = dD_acc;
}

// dA[c, n] and dD[c]: the (b, segment) partials added in order.
template <typename T>
__global__ void scan_param_sums(const double* __restrict__ dA_part, const double* __restrict__ dD_part, int64_t parts,
                                int64_t N, int64_t C, T* __restrict__ dA, T* __restrict__ dD) {
  SIEVE_GRID_STRIDE(i, N * C) {
    const int64_t c = i % C, n = i / C;
    double s = 0;
    for (int64_t p = 0; p < parts; ++p) s += dA_part[(p * N + n) * C + c];
    dA[c * N + n] = static_cast<T>(s);
    if (dD && n == 0) {
      double sd = 0;
      for (int64_t p = 0; p < parts; ++p) sd += dD_part[p * C + c];
      dD[c] = static_cast<T>(sd);
    }
  }
}

// dBm, dCm from the channel blocks' partial rows (2, blocks, count), added in block order.
template <typename T>
__global__ void scan_bc_sums(const T* __restrict__ part, int64_t blocks, int64_t count, T* __restrict__ dB,
                             T* __restrict__ dC) {
  SIEVE_GRID_STRIDE(i, count) {
    double sb = 0, sc = 0;
    for (int64_t k = 0; k < blocks; ++k) {
      sb += static_cast<double>(part[k * count + i]);
      sc += static_cast<double>(part[(blocks + k) * count + i]);
    }
    dB[i] = static_cast<T>(sb);
    dC[i] = static_cast<T>(sc);
  }
}

}  // namespace

void launch_selective_scan_backward(const ScanPlan& plan, const ScanArgs& in, const TensorArg& states,
                                    const TensorArg& g, const ScanGradArgs& out, const ScanScratch& scratch) {
  const Dims dm = dims_of(plan, in);
  const unsigned threads = static_cast<unsigned>(plan.threads);
  with_dtype(in.x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const Ptrs<T> p = ptrs_of<T>(in);
      const int64_t rows = dm.B * dm.L * dm.G * dm.N;  // elements of dBm, dCm
      if (dm.C == 0 && rows > 0) {              // sums over no channels
        SIEVE_CUDA_CHECK(cudaMemsetAsync(out.dBm.data, 0, rows * sizeof(T), stream()));
        SIEVE_CUDA_CHECK(cudaMemsetAsync(out.dCm.data, 0, rows * sizeof(T), stream()));
      }
      if (dm.B * dm.L * dm.C > 0) {
        // One channel block per group writes dBm, dCm itself. Several: channel block cb of each
        // group writes its partial rows at cb·rows of dbc_part (2, blocks, B, L, G, N), summed in
        // order by scan_bc_sums.
        const bool direct = plan.channel_blocks == 1;
        T* dB_out = direct ? mptr<T>(out.dBm) : mptr<T>(scratch.dbc_part);
        T* dC_out = direct ? mptr<T>(out.dCm) : mptr<T>(scratch.dbc_part) + plan.channel_blocks * rows;
        with_state_count(dm.N, [&](auto count) {
          constexpr int kN = decltype(count)::value;
          if (dm.S > 1) {
            const int64_t smem = forward_smem_bytes(plan.threads, dm.N, sizeof(T));
            allow_smem(scan_segment_carries<T, kN>, smem);
            scan_segment_carries<T, kN><<<blocks_for(dm, threads, dm.S - 1), threads, smem, stream()>>>(
                p, dm, cptr<T>(g), mptr<T>(scratch.seg_state), mptr<T>(scratch.seg_dsum));
            SIEVE_CUDA_CHECK_LAUNCH();
            scan_combine_carries<T><<<grid_for(dm.B * dm.N * dm.C), kBlock, 0, stream()>>>(
                p.a, dm, mptr<T>(scratch.seg_state), cptr<T>(scratch.seg_dsum));
            SIEVE_CUDA_CHECK_LAUNCH();
          }
          const int64_t smem = backward_smem_bytes(plan.threads, dm.N, sizeof(T));
          allow_smem(scan_backward<T, kN>, smem);
          scan_backward<T, kN><<<blocks_for(dm, threads, dm.S), threads, smem, stream()>>>(
              p, dm, cptr<T>(states), cptr<T>(g), cptr<T>(scratch.seg_state), mptr<T>(out.dx),
              mptr<T>(out.ddelta), mptr<T>(out.dz), dB_out, dC_out, direct ? 0 : rows,
              mptr<double>(scratch.dA_part), mptr<double>(scratch.dD_part));
          SIEVE_CUDA_CHECK_LAUNCH();
        });
        if (!direct) {
          scan_bc_sums<T><<<grid_for(rows), kBlock, 0, stream()>>>(cptr<T>(scratch.dbc_part), plan.channel_blocks,
                                                                   rows, mptr<T>(out.dBm), mptr<T>(out.dCm));
          SIEVE_CUDA_CHECK_LAUNCH();
        }
      }
      if (dm.N * dm.C > 0) {  // with no steps the partials are empty and dA, dD come out zero
        scan_param_sums<T><<<grid_for(dm.N * dm.C), kBlock, 0, stream()>>>(
            cptr<double>(scratch.dA_part), cptr<double>(scratch.dD_part), dm.B * dm.S, dm.N, dm.C, mptr<T>(out.dA),
            mptr<T>(out.dD));
        SIEVE_CUDA_CHECK_LAUNCH();
      }
    }
  });
}

}  // namespace sieve::cuda
