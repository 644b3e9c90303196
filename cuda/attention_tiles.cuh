// cuda/attention_tiles.cuh — what the attention kernels (cuda/attention.cu, forward;
// cuda/attention_backward.cu) share: the thread layout, the shared-memory tiles, staging strided
// heads into them, the two tile products, and the launch helpers.
//
// Every attention kernel runs 256 threads as 16 groups (half-warps) of 16 lanes. A tile holds
// 16·R query rows; group γ owns rows γ, γ + 16, ... and lane c owns keys c, c + 16, c + 32, c + 48
// of a 64-key tile, and head dims c, c + 16, ... (NV = ⌈D/16⌉ rounded to a power of two) of an
// output row. Operands are staged in shared memory in rows of odd length, so the 16 lanes of a
// group reading 16 keys' rows at one d hit 16 different banks, while the other half-warp reads
// the same addresses (a broadcast). A row's statistics combine over its group by xor shuffles.
// Strided operands: element (i, d) of head (b, h) is at p[b·sb + h·sh + i·si + d·sd]; staging
// reads a row with a warp along d, coalesced when sd = 1.
//
// What it is not: the kernels. Extend: a head size past 256 needs another NV (R·NV accumulators
// per thread in registers; its tiles fit in shared memory only at R = 1).
#pragma once

#include <type_traits>

#include "cuda/loops.cuh"

namespace sieve::cuda::attention_tiles {

constexpr int kThreads = 256;
constexpr int kLanes = 16;  // a group is a half-warp, so its xor shuffles (offsets < 16) stay inside it
constexpr int kWarps = kThreads / 32;
constexpr int kTileK = 64;  // keys per tile in the forward and kernel A: kKeys per lane
constexpr int kKeys = kTileK / kLanes;
constexpr int64_t kMaxTileBlocks = 1 << 20;  // past this many tiles a block walks several

// One (B, H, L, D) operand by strides; U is T or const T.
template <typename U>
struct Operand {
  U* p;
  int64_t sb, sh, si, sd;
  __device__ U* head(int64_t b, int64_t h) const { return p + b * sb + h * sh; }
};

template <typename U>
Operand<U> operand(const TensorArg& t) {
  return {static_cast<U*>(t.data), t.strides[0], t.strides[1], t.strides[2], t.strides[3]};
}

// Shared-memory tiles of a kernel with R row groups per thread and NV head-dim slices per lane.
// Rows of q, g, k, v are staged ldx = 16·NV + 1 long (odd; the columns past D hold zeros, so
// the P·v loops need no bounds); P and dS tiles are ldp long (odd).
template <typename T, int R, int NV>
struct Tiles {
  static constexpr int TQ = kLanes * R;  // query rows per tile
  static constexpr int ldx = kLanes * NV + 1;
  static constexpr int ldp = kTileK + 1;
  // Forward and kernel A: q (or g) tile, k/v tile, P (or dS) tile; the forward adds key flags.
  static constexpr size_t rows_bytes = sizeof(T) * (TQ * ldx + kTileK * ldx + TQ * ldp) + kTileK;
  // Kernel B: KB keys per group, so 16·KB keys per block; g and q tiles, P and dS tiles.
  static constexpr int KB = NV <= 2 ? 4 : (NV <= 4 ? 2 : 1);
  static constexpr int TKB = kLanes * KB;
  static constexpr int ldb = TKB + 1;
  static constexpr size_t keys_bytes = sizeof(T) * (2 * TQ * ldx + 2 * TQ * ldb);
};

// a·b rounded on its own: nvcc contracts a·b + c into one FMA by default, which would let the
// two passes of the forward round a score differently, or make a merge of two lanes asymmetric.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// Query i sees key j (both in range, key j not padded: checked apart) under the causal rule.
__device__ __forceinline__ bool causal_sees(int64_t i, int64_t j, int64_t offset, bool causal) {
  return !causal || j <= i + offset;
}

// tile (n rows × ld) := rows [r0, r0 + n) of a head (element (i, d) at head[i·si + d·sd]), zeros
// past row L and in columns D..ld−1. A warp per row, lanes along D: coalesced when sd = 1.
template <typename T>
__device__ void stage_rows(T* tile, int ld, int n, const T* head, int64_t si, int64_t sd, int64_t r0, int64_t L,
                           int D) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < n; r += kWarps) {
    const int64_t row = r0 + r;
    for (int d = lane; d < ld; d += 32) tile[r * ld + d] = row < L && d < D ? head[row * si + d * sd] : T(0);
  }
}

// tile (n rows × ld) := src[r·ld_src + j] for r < rows, j < cols where keep(r, j), zeros elsewhere
// (width columns): a block of probs or dS, src at its first element.
template <typename T, typename Keep>
__device__ void stage_block(T* tile, int ld, int n, int width, const T* src, int64_t ld_src, int rows, int cols,
                            Keep keep) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < n; r += kWarps)
    for (int j = lane; j < width; j += 32)
      tile[r * ld + j] = r < rows && j < cols && keep(r, j) ? src[r * ld_src + j] : T(0);
}

// dst[r·ld_dst + j] := tile[r·ld + j] for r < rows, j < cols (warp per row: coalesced).
template <typename T>
__device__ void store_block(const T* tile, int ld, T* dst, int64_t ld_dst, int rows, int cols) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < rows; r += kWarps)
    for (int j = lane; j < cols; j += 32) dst[r * ld_dst + j] = tile[r * ld + j];
}

// dst[r·ld_dst + j] := 0 for r < rows, j0 ≤ j < j1.
template <typename T>
__device__ void zero_block(T* dst, int64_t ld_dst, int rows, int64_t j0, int64_t j1) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < rows; r += kWarps)
    for (int64_t j = j0 + lane; j < j1; j += 32) dst[r * ld_dst + j] = T(0);
}

// s[i][u] := Σ_d a[γ + 16i][d] · b[c + 16u][d]: this thread's R × 4 scores (or dP) of a tile.
// Per d: 4 loads of b (16 banks apart across the group), R broadcasts of a, 4·R multiply-adds.
template <typename T, int R>
__device__ __forceinline__ void tile_dots(const T* a, const T* b, int ld, int D, T (&s)[R][kKeys]) {
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
#pragma unroll
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < kKeys; ++u) s[i][u] = T(0);
#pragma unroll 4
  for (int d = 0; d < D; ++d) {
    T bv[kKeys];
#pragma unroll
    for (int u = 0; u < kKeys; ++u) bv[u] = b[(c + kLanes * u) * ld + d];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const T av = a[(g + kLanes * i) * ld + d];
#pragma unroll
      for (int u = 0; u < kKeys; ++u) s[i][u] += av * bv[u];
    }
  }
}

// o[i][u] += Σ_{j<n} w[γ + 16i][j] · x[j][c + 16u]: P·v or dS·k into this thread's R × NV outputs.
template <typename T, int R, int NV>
__device__ __forceinline__ void tile_weighted(const T* w, int ldw, const T* x, int ldx, int n, T (&o)[R][NV]) {
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
  for (int j = 0; j < n; ++j) {
    T xv[NV];
#pragma unroll
    for (int u = 0; u < NV; ++u) xv[u] = x[j * ldx + c + kLanes * u];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const T p = w[(g + kLanes * i) * ldw + j];
#pragma unroll
      for (int u = 0; u < NV; ++u) o[i][u] += p * xv[u];
    }
  }
}

// Writes this thread's R × NV outputs to rows i0 + γ + 16i (< i0 + rows) of a strided head.
template <typename T, int R, int NV>
__device__ void store_rows(const T (&o)[R][NV], T* head, int64_t si, int64_t sd, int64_t i0, int rows, int D) {
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int r = g + kLanes * i;
    if (r >= rows) continue;
#pragma unroll
    for (int u = 0; u < NV; ++u) {
      const int d = c + kLanes * u;
      if (d < D) head[(i0 + r) * si + d * sd] = o[i][u];
    }
  }
}

// The largest dynamic shared memory a block may opt in to on this GPU (227 KB on H100/H200).
inline size_t shared_limit() {
  static const size_t limit = [] {
    int device = 0, bytes = 0;
    SIEVE_CUDA_CHECK(cudaGetDevice(&device));
    SIEVE_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return static_cast<size_t>(bytes);
  }();
  return limit;
}

template <typename Kernel, typename Args>
void launch_tiles(Kernel kernel, size_t smem, const Args& args) {
  if (args.tiles == 0) return;
  if (smem > 48 * 1024)  // past the default a kernel must opt in; a GPU with less fails here, checked
    SIEVE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const unsigned grid = static_cast<unsigned>(args.tiles < kMaxTileBlocks ? args.tiles : kMaxTileBlocks);
  kernel<<<grid, kThreads, smem, stream()>>>(args);
  SIEVE_CUDA_CHECK_LAUNCH();
}

// Calls f(NV) with NV = ⌈D/16⌉ rounded up to a power of two, as a compile-time constant.
template <typename F>
void with_slices(int64_t D, F&& f) {
  if (D <= 16) f(std::integral_constant<int, 1>{});
  else if (D <= 32) f(std::integral_constant<int, 2>{});
  else if (D <= 64) f(std::integral_constant<int, 4>{});
  else if (D <= 128) f(std::integral_constant<int, 8>{});
  else f(std::integral_constant<int, 16>{});
}

// Four row groups per thread (64-row tiles) when there are rows for them and the tiles fit:
// each staged key then serves 4× the multiply-adds. One (16-row tiles) otherwise.
inline bool use_four_rows(int64_t Lq, size_t bytes_at_four) { return Lq > kLanes && bytes_at_four <= shared_limit(); }

// Launches a query-row kernel (the forward, the backward's kernel A) over every (b, h, tile of 16·R
// query rows), at R = 4 where the rows and shared memory allow, else R = 1. kernel_at(r) names the
// kernel's instance for r = std::integral_constant<int, R>.
template <typename T, int NV, typename Args, typename KernelAt>
void launch_query_tiles(Args a, int64_t B, KernelAt kernel_at) {
  using Four = Tiles<T, 4, NV>;
  using One = Tiles<T, 1, NV>;
  if (use_four_rows(a.Lq, Four::rows_bytes)) {
    a.tiles = B * a.H * ((a.Lq + Four::TQ - 1) / Four::TQ);
    launch_tiles(kernel_at(std::integral_constant<int, 4>{}), Four::rows_bytes, a);
  } else {
    a.tiles = B * a.H * ((a.Lq + One::TQ - 1) / One::TQ);
    launch_tiles(kernel_at(std::integral_constant<int, 1>{}), One::rows_bytes, a);
  }
}

}  // namespace sieve::cuda::attention_tiles
