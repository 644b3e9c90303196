// cuda/attention_backward.cu — the CUDA backward of fused attention (front end:
// ops/attention.cpp; CPU twin and the readable reference: ops/cpu/attention.cpp); the forward,
// which saves the probabilities this reads, is cuda/attention.cu, and the tiles and thread
// layout both use are in cuda/attention_tiles.cuh.
//
// Legend as ops/attention.h: q, g, dq: (B, H, Lq, D); k, v, dk, dv: (B, H, Lk, D); probs and
// the dS scratch: (B, H, Lq, Lk) contiguous. q, k, v, g and the gradients may have any strides
// (indexed by strides, never copied); an undefined gradient (null pointer) is not written.
//   dP = g·vᵀ;  δ = rowsum(P ⊙ dP);  dS = scale·P ⊙ (dP − δ);  dq = dS·k;  dk = dSᵀ·q;  dv = Pᵀ·g
//
// Two kernels, neither with atomics: each gradient element is summed by one thread in a fixed
// order, so every run gives the same bits.
//   A (rows), one block per (b, h, tile of 16·R query rows): δ over the v tiles (dP recomputed
//       from the staged g and v tiles, P read from probs); then again over the v tiles, dS into
//       shared memory and out to the dS scratch when dk is wanted, k staged in the same buffer,
//       dq += dS·k in registers.
//   B (keys), one block per (b, h, tile of 16·KB keys): over query tiles of g, q, P and dS
//       staged, dv += Pᵀ·g and dk += dSᵀ·q in registers.
// Why not cuBLAS strided-batched products plus a row kernel for dS: a batched GEMM needs one
// stride across the (b, h) batch, and the views of a qkv projection have none (b steps L·3·H·D,
// h steps D), so q, k, v and g would be copied first, and five launches of per-head products of
// 50–200 × 50–200 × 16–64 would follow, each reading or writing a (B, H, L, L) or (B, H, L, D)
// tensor. Here every input is read in place, dS makes one round trip (A to B), and dP, dS·k and
// the transposed products stay on chip.
//
// Precision as the CPU's: products in T, δ in double (Lk terms of mixed sign), dS in the CPU's
// expression and order. Causal: a masked probability is 0, so dS is 0 there too; kernel A skips
// the key tiles a whole query tile cannot see (as the forward), and kernel B skips those query
// rows and reads the entries A did not write as 0.
//
// Extend: a flash-style variant for long sequences would recompute P from q, k and the forward's
// row statistics here instead of reading probs.
#include "cuda/attention_tiles.cuh"
#include "cuda/launchers.h"

namespace sieve::cuda {

namespace {

using namespace attention_tiles;

__device__ __forceinline__ double sum_lanes(double v) {
  for (int offset = kLanes / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T>
struct BackwardArgs {
  Operand<const T> q, k, v, g;
  Operand<T> dq, dk, dv;  // p null: not wanted
  const T* probs;
  T* ds;  // (B, H, Lq, Lk) scratch between kernels A and B, or null when dk is not wanted
  int64_t H, Lq, Lk, tiles;  // tiles: this kernel's block tasks
  int D;
  T scale;
  bool causal;
};

// Kernel A: dS (to the scratch) and dq, one block per (b, h, query tile).
template <typename T, int R, int NV>
__global__ void __launch_bounds__(kThreads) attention_backward_rows(const BackwardArgs<T> a) {
  using Z = Tiles<T, R, NV>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* gs = reinterpret_cast<T*>(smem);
  T* kv = gs + Z::TQ * Z::ldx;  // v, then k, of one key tile
  T* ps = kv + kTileK * Z::ldx;  // dS
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
  const int64_t qtiles = (a.Lq + Z::TQ - 1) / Z::TQ, offset = a.Lk - a.Lq;

  for (int64_t t = blockIdx.x; t < a.tiles; t += gridDim.x) {
    const int64_t bh = t / qtiles, i0 = t % qtiles * Z::TQ, b = bh / a.H, h = bh % a.H;
    const int rows = static_cast<int>(a.Lq - i0 < Z::TQ ? a.Lq - i0 : Z::TQ);
    int64_t kend = a.Lk;  // as the forward: keys past kend have P = 0, so dS = 0
    if (a.causal) kend = i0 + rows + offset < 0 ? 0 : (i0 + rows + offset < a.Lk ? i0 + rows + offset : a.Lk);
    const int64_t live = (kend + kTileK - 1) / kTileK;
    const T* kh = a.k.head(b, h);
    const T* vh = a.v.head(b, h);
    const T* prow = a.probs + (bh * a.Lq + i0) * a.Lk;  // the tile's first row of P

    __syncthreads();
    stage_rows(gs, Z::ldx, Z::TQ, a.g.head(b, h), a.g.si, a.g.sd, i0, a.Lq, a.D);
    // This thread's P entry (row γ + 16i, key c + 16u of the tile at j0), 0 out of range.
    auto p_at = [&](int i, int u, int64_t j0) {
      const int r = g + kLanes * i;
      const int64_t j = j0 + c + kLanes * u;
      return r < rows && j < a.Lk ? prow[r * a.Lk + j] : T(0);
    };

    double delta[R] = {};  // Σ_j P ⊙ dP per row, in double as the CPU (Lk terms of mixed sign)
    for (int64_t kt = 0; kt < live; ++kt) {
      const int64_t j0 = kt * kTileK;
      __syncthreads();
      stage_rows(kv, Z::ldx, kTileK, vh, a.v.si, a.v.sd, j0, a.Lk, a.D);
      __syncthreads();
      T dp[R][kKeys];
      tile_dots<T, R>(gs, kv, Z::ldx, a.D, dp);
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int u = 0; u < kKeys; ++u) delta[i] += static_cast<double>(p_at(i, u, j0)) * static_cast<double>(dp[i][u]);
    }
    T dl[R];
#pragma unroll
    for (int i = 0; i < R; ++i) dl[i] = static_cast<T>(sum_lanes(delta[i]));

    T o[R][NV] = {};
    for (int64_t kt = 0; kt < live; ++kt) {
      const int64_t j0 = kt * kTileK;
      const int cols = static_cast<int>(a.Lk - j0 < kTileK ? a.Lk - j0 : kTileK);
      __syncthreads();
      stage_rows(kv, Z::ldx, kTileK, vh, a.v.si, a.v.sd, j0, a.Lk, a.D);
      __syncthreads();
      T dp[R][kKeys];
      tile_dots<T, R>(gs, kv, Z::ldx, a.D, dp);
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int u = 0; u < kKeys; ++u)  // the CPU's expression, in its order
          ps[(g + kLanes * i) * Z::ldp + c + kLanes * u] = a.scale * p_at(i, u, j0) * (dp[i][u] - dl[i]);
      __syncthreads();  // dS complete, v no longer read
      if (a.ds != nullptr) store_block(ps, Z::ldp, a.ds + (bh * a.Lq + i0) * a.Lk + j0, a.Lk, rows, cols);
      if (a.dq.p != nullptr) {  // kernel-uniform: the sync inside is reached by all threads or none
        stage_rows(kv, Z::ldx, kTileK, kh, a.k.si, a.k.sd, j0, a.Lk, a.D);
        __syncthreads();
        tile_weighted<T, R, NV>(ps, Z::ldp, kv, Z::ldx, cols, o);
      }
    }
    if (a.dq.p != nullptr) store_rows<T, R, NV>(o, a.dq.head(b, h), a.dq.si, a.dq.sd, i0, rows, a.D);
  }
}

// Kernel B: dk and dv, one block per (b, h, tile of 16·KB keys); group γ owns keys γ + 16·kb.
template <typename T, int R, int NV>
__global__ void __launch_bounds__(kThreads) attention_backward_keys(const BackwardArgs<T> a) {
  using Z = Tiles<T, R, NV>;
  constexpr int KB = Z::KB;
  extern __shared__ __align__(16) unsigned char smem[];
  T* gs = reinterpret_cast<T*>(smem);
  T* qs = gs + Z::TQ * Z::ldx;
  T* ps = qs + Z::TQ * Z::ldx;
  T* ds = ps + Z::TQ * Z::ldb;
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
  const int64_t ktiles = (a.Lk + Z::TKB - 1) / Z::TKB, offset = a.Lk - a.Lq;
  const bool want_dk = a.dk.p != nullptr;

  for (int64_t t = blockIdx.x; t < a.tiles; t += gridDim.x) {
    const int64_t bh = t / ktiles, j0 = t % ktiles * Z::TKB, b = bh / a.H, h = bh % a.H;
    const int cols = static_cast<int>(a.Lk - j0 < Z::TKB ? a.Lk - j0 : Z::TKB);
    // Causal: rows before j0 − offset see no key of this tile (their P and dS are 0).
    int64_t first = 0;
    if (a.causal) first = j0 - offset < 0 ? 0 : (j0 - offset < a.Lq ? j0 - offset : a.Lq);
    const T* gh = a.g.head(b, h);
    const T* qh = a.q.head(b, h);

    T dv[KB][NV] = {}, dk[KB][NV] = {};
    for (int64_t i0 = first; i0 < a.Lq; i0 += Z::TQ) {
      const int rows = static_cast<int>(a.Lq - i0 < Z::TQ ? a.Lq - i0 : Z::TQ);
      const int64_t block0 = (bh * a.Lq + i0) * a.Lk + j0;  // the staged P / dS block's first element
      __syncthreads();
      stage_rows(gs, Z::ldx, Z::TQ, gh, a.g.si, a.g.sd, i0, a.Lq, a.D);
      stage_block(ps, Z::ldb, Z::TQ, Z::TKB, a.probs + block0, a.Lk, rows, cols, [](int, int) { return true; });
      if (want_dk) {
        stage_rows(qs, Z::ldx, Z::TQ, qh, a.q.si, a.q.sd, i0, a.Lq, a.D);
        // Kernel A skips the key tiles a whole query tile cannot see, leaving their dS entries
        // unwritten; all of them are causally hidden, so hidden entries are read as 0 here
        // rather than trusting that this tiling never reaches an unwritten one.
        stage_block(ds, Z::ldb, Z::TQ, Z::TKB, a.ds + block0, a.Lk, rows, cols,
                    [&](int r, int j) { return causal_sees(i0 + r, j0 + j, offset, a.causal); });
      }
      __syncthreads();
      for (int r = 0; r < rows; ++r) {  // in row order: a fixed summation order
        T pv[KB];
#pragma unroll
        for (int kb = 0; kb < KB; ++kb) pv[kb] = ps[r * Z::ldb + g + kLanes * kb];
#pragma unroll
        for (int u = 0; u < NV; ++u) {
          const T gv = gs[r * Z::ldx + c + kLanes * u];
#pragma unroll
          for (int kb = 0; kb < KB; ++kb) dv[kb][u] += pv[kb] * gv;
        }
        if (want_dk) {
          T sv[KB];
#pragma unroll
          for (int kb = 0; kb < KB; ++kb) sv[kb] = ds[r * Z::ldb + g + kLanes * kb];
#pragma unroll
          for (int u = 0; u < NV; ++u) {
            const T qv = qs[r * Z::ldx + c + kLanes * u];
#pragma unroll
            for (int kb = 0; kb < KB; ++kb) dk[kb][u] += sv[kb] * qv;
          }
        }
      }
    }
    // Key rows γ + 16·kb of the tile: as store_rows, with KB in place of R.
    if (a.dv.p != nullptr) store_rows<T, KB, NV>(dv, a.dv.head(b, h), a.dv.si, a.dv.sd, j0, cols, a.D);
    if (want_dk) store_rows<T, KB, NV>(dk, a.dk.head(b, h), a.dk.si, a.dk.sd, j0, cols, a.D);
  }
}

template <typename T, int NV>
void backward_typed(BackwardArgs<T> a, int64_t B, bool rows_kernel, bool keys_kernel) {
  if (rows_kernel)
    launch_query_tiles<T, NV>(a, B, [](auto r) { return attention_backward_rows<T, decltype(r)::value, NV>; });
  if (keys_kernel) {
    using Four = Tiles<T, 4, NV>;
    using One = Tiles<T, 1, NV>;
    a.tiles = B * a.H * ((a.Lk + One::TKB - 1) / One::TKB);  // TKB does not depend on R
    if (use_four_rows(a.Lq, Four::keys_bytes))
      launch_tiles(attention_backward_keys<T, 4, NV>, Four::keys_bytes, a);
    else
      launch_tiles(attention_backward_keys<T, 1, NV>, One::keys_bytes, a);
  }
}

}  // namespace

void launch_attention_backward(const TensorArg& q, const TensorArg& k, const TensorArg& v, const TensorArg& probs,
                               const TensorArg& g, double scale, bool causal, const TensorArg& dq, const TensorArg& dk,
                               const TensorArg& dv, const TensorArg& ds) {
  const int64_t B = q.shape[0], H = q.shape[1], Lq = q.shape[2], D = q.shape[3], Lk = k.shape[2];
  if (B * H == 0) return;
  with_dtype(q.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const BackwardArgs<T> a{
        .q = operand<const T>(q), .k = operand<const T>(k), .v = operand<const T>(v), .g = operand<const T>(g),
        .dq = operand<T>(dq), .dk = operand<T>(dk), .dv = operand<T>(dv), .probs = static_cast<const T*>(probs.data),
        .ds = static_cast<T*>(ds.data), .H = H, .Lq = Lq, .Lk = Lk, .tiles = 0, .D = static_cast<int>(D),
        .scale = static_cast<T>(scale), .causal = causal};
      // A makes dS for dq and for B's dk; B makes dk and dv. With Lq = 0 B alone writes the zeros.
      const bool rows_kernel = (dq.data != nullptr || dk.data != nullptr) && Lq > 0;
      const bool keys_kernel = dk.data != nullptr || dv.data != nullptr;
      with_slices(D, [&](auto nv) { backward_typed<T, decltype(nv)::value>(a, B, rows_kernel, keys_kernel); });
    }
  });
}

}  // namespace sieve::cuda
