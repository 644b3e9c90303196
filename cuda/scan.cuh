// cuda/scan.cuh — what cuda/scan.cu (forward) and cuda/scan_backward.cu share: the launch
// geometry, index helpers, the per-chunk loads, exp(Δ·A) in each precision, and the shared-memory
// sizes that cuda/scan.cu's scan_plan picks the block size from.
//
// The design (front end: ops/scan.cpp; CPU twin and the readable reference: ops/cpu/scan.cpp,
// whose header states the math). Shapes as ops/scan.h: x, delta, z, y, g: (B, L, C); A: (C, N);
// Bm, Cm: (B, L, N), or (B, L, G, N) in G groups of C/G channels (VMamba's routes); D: (C); states: (B, K − 1, N, C), h at the end of every chunk of `chunk` ≤ 16
// steps but the last (K = ⌈L/chunk⌉). Everything contiguous; D, z (states in inference) may be null.
//
// One thread owns one (b, c) channel over one segment (below); a block holds up to 128 channels
// of one batch, segment and group, so the B_t and C_t rows (shared by every channel of a group;
// ungrouped, G = 1, of a batch) are staged once per chunk in shared memory and read there as
// broadcasts. A group's channels are split into blocks of their own, so no block straddles two. x, Δ, z, g are read
// straight from global memory into registers, a whole chunk at once: one step's 32 neighbouring
// channels per warp (coalesced), 16 steps' loads in flight per thread. Every kernel then loops
// over the N states outside and the chunk's steps inside (unrolled): one state's h (or carry)
// runs through the chunk in a register and waits between chunks in a shared column
// [n·threads + tid] (conflict-free), so any N ≤ 64 needs no more registers; exp(Δ·A) is taken
// once per element and pass. kN = 16 (Mamba's N) is a compile-time specialisation, kN = 0 reads
// N at run time.
//
// B·C channels alone are few (1024 threads at B = 8, C = 128, under one per GPU core), so when B·C
// is small scan_plan also splits the sequence into S segments of m whole chunks, stitched by
// linearity: over a segment h_end = h_local_end + P ⊙ h_start with P = exp(A·ΣΔ), and the
// backward's carry a_t·dh_t obeys the same rule from the right. The kernels, in launch order:
//   forward   scan_segment_ends (each segment's h from 0, ΣΔ) → scan_combine_states (a walk over
//             segments per (b, n, c): true segment starts)  → scan_forward (y and states)
//   backward  scan_segment_carries → scan_combine_carries → scan_backward → the ordered sums
// The pre-passes read Δ, x (forward) and Δ, g, z (backward) a second time; with one segment
// (B·C ≥ 32768) they are skipped and only scan_forward and scan_backward (and the sums) run.
//
// float32 takes exp(Δ·A) as exp2f(Δ·(A·log2 e)) — one MUFU.EX2, ~1e-6 relative against the CPU's
// exp_fast, the rate rounded once — and float64 takes exp.
//
// What it is not: the checks and scratch allocation (cuda/scan.cpp).
// Extend: a variant (reverse direction, a fused softplus on Δ) is a flag on every kernel and on
// the CPU's; another compile-time N is a case in with_state_count.
#pragma once

#include <type_traits>

#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda::scan_detail {

constexpr int kW = static_cast<int>(kScanMaxChunk);  // steps a thread holds in registers
static_assert(2 * kW == 32, "the dB/dC butterfly sums 2 × kW values over 32 lanes");
constexpr int kMaxThreads = 128;         // channels per block, at most (fewer where shared memory is short)
constexpr int64_t kTargetThreads = 65536;  // what 132 SMs hold at the forward's ~120 registers
constexpr int64_t kEnoughLanes = 32768;    // B·C from which segments (extra passes) do not pay
constexpr int kRedStride = 33;           // padded row of the dB/dC warp sums: fewer bank conflicts

template <typename T>
struct Ptrs {
  const T *x, *dt, *a, *bm, *cm, *d, *z;
};

struct Dims {
  int64_t B, L, C, N, chunk, K, m, S;  // K chunks, m chunks per segment, S segments
  int64_t G, Cg;                       // groups of B/C rows and the channels of each (C = G·Cg)
};

// float: exp2 of a pre-scaled rate; double: exp of the plain one.
__device__ __forceinline__ float rate(float a) { return a * 1.4426950408889634f; }
__device__ __forceinline__ double rate(double a) { return a; }
__device__ __forceinline__ float decay(float v) { return exp2f(v); }
__device__ __forceinline__ double decay(double v) { return ::exp(v); }

template <typename T>
__device__ __forceinline__ T sigmoid(T v) {
  return T(1) / (T(1) + dmath::exp(-v));
}

// The block's (batch, segment, group, channel block within the group), blocks numbered channel
// block fastest, then group; `first` is the first segment the launch covers. c: this thread's
// channel, active: whether it has one (the group's last block may be part empty).
struct BlockPos {
  int64_t b, s, g, cb, c;
  bool active;
};
__device__ __forceinline__ BlockPos block_pos(const Dims& dm, int64_t segments, int64_t first) {
  const int64_t per_group = (dm.Cg + blockDim.x - 1) / blockDim.x;
  const int64_t blk = blockIdx.x, cblocks = dm.G * per_group, rest = blk / cblocks, within = blk % cblocks;
  const int64_t g = within / per_group, cb = within % per_group, in_group = cb * blockDim.x + threadIdx.x;
  return {rest / segments, rest % segments + first, g, cb, g * dm.Cg + in_group, in_group < dm.Cg};
}

// Where row (b, t) of the block's group starts in Bm or Cm (B, L, G, N); consecutive steps G·N apart.
__device__ __forceinline__ int64_t bc_row(const Dims& dm, int64_t b, int64_t t, int64_t g) {
  return ((b * dm.L + t) * dm.G + g) * dm.N;
}

// Chunks k_first .. k_last of segment s.
__device__ __forceinline__ void segment_chunks(const Dims& dm, int64_t s, int64_t& k_first, int64_t& k_last) {
  k_first = s * dm.m;
  k_last = (k_first + dm.m < dm.K ? k_first + dm.m : dm.K) - 1;
}

// (b, s, n, c) of a (B, S − 1, N, C) segment buffer; (b, k, n, c) of states.
__device__ __forceinline__ int64_t seg_index(const Dims& dm, int64_t b, int64_t s, int64_t n, int64_t c) {
  return ((b * (dm.S - 1) + s) * dm.N + n) * dm.C + c;
}
__device__ __forceinline__ int64_t state_index(const Dims& dm, int64_t b, int64_t k, int64_t n, int64_t c) {
  return ((b * (dm.K - 1) + k) * dm.N + n) * dm.C + c;
}

// Copies the block's group's Bm or Cm rows of `len` steps from (b, t0) into tile [j·N + n] (each
// row contiguous, so coalesced; rows G·N apart), between barriers: the first lets the previous
// chunk's readers finish. Every thread calls it.
template <typename T>
__device__ __forceinline__ void stage_rows(const T* __restrict__ src_b, T* tile_b, const T* __restrict__ src_c,
                                           T* tile_c, const Dims& dm, int64_t b, int64_t t0, int64_t g, int len) {
  __syncthreads();
  const int64_t offset = bc_row(dm, b, t0, g), step = dm.G * dm.N;
  const int N = static_cast<int>(dm.N);
  for (int i = threadIdx.x; i < len * N; i += blockDim.x) {
    const int64_t at = offset + (i / N) * step + i % N;
    if (tile_b) tile_b[i] = src_b[at];
    if (tile_c) tile_c[i] = src_c[at];
  }
  __syncthreads();
}

// One chunk's values of this channel (zero past the chunk's end or the last channel).
template <typename T>
__device__ __forceinline__ void load_steps(const T* __restrict__ src, int64_t row0, int64_t C, int len, bool active,
                                           T (&v)[kW]) {
#pragma unroll
  for (int j = 0; j < kW; ++j) v[j] = active && src && j < len ? src[row0 + j * C] : T(0);
}

// The per-thread columns in shared memory: value n of thread tid at [n·threads + tid], so a warp
// touching one n hits 32 consecutive words (no bank conflicts), and any N needs no registers.
// Bytes of the forward kernels' shared memory (Bm and Cm rows of a chunk, two columns) and of the
// backward's (dA column in double, A and carry columns, the rows, the warps' dB/dC sums).
__host__ __device__ inline int64_t forward_smem_bytes(int64_t threads, int64_t N, int64_t elem) {
  return elem * (2 * kW * N + 2 * N * threads);
}
__host__ __device__ inline int64_t backward_smem_bytes(int64_t threads, int64_t N, int64_t elem) {
  return 8 * N * threads + elem * (2 * N * threads + 2 * kW * N + N * (threads / 32) * kRedStride);
}

// ---- host side of the launchers

template <typename T>
inline const T* cptr(const TensorArg& t) {
  return static_cast<const T*>(t.data);
}
template <typename T>
inline T* mptr(const TensorArg& t) {
  return static_cast<T*>(t.data);
}

template <typename T>
inline Ptrs<T> ptrs_of(const ScanArgs& in) {
  return {cptr<T>(in.x), cptr<T>(in.delta), cptr<T>(in.A), cptr<T>(in.Bm), cptr<T>(in.Cm), cptr<T>(in.D),
          cptr<T>(in.z)};
}

inline Dims dims_of(const ScanPlan& plan, const ScanArgs& in) {
  const int64_t G = in.Bm.ndim == 4 ? in.Bm.shape[2] : 1, C = in.x.shape[2];
  return {in.x.shape[0], in.x.shape[1], C, in.A.shape[1], in.chunk, plan.chunks, plan.chunks_per_segment,
          plan.segments, G, G > 0 ? C / G : 0};
}

inline unsigned blocks_for(const Dims& dm, int64_t threads, int64_t segments) {
  return static_cast<unsigned>(dm.B * segments * dm.G * ((dm.Cg + threads - 1) / threads));
}

// Calls f(std::integral_constant<int, kN>): 16 for N = 16, else 0 (N read at run time).
template <typename F>
inline void with_state_count(int64_t N, F&& f) {
  if (N == 16) return f(std::integral_constant<int, 16>{});
  f(std::integral_constant<int, 0>{});
}

// Dynamic shared memory past the default 48 KB must be asked for (H100: up to 227 KB a block).
template <typename Kernel>
inline void allow_smem(Kernel kernel, int64_t bytes) {
  if (bytes > 48 * 1024)
    SIEVE_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

}  // namespace sieve::cuda::scan_detail
