// cuda/attention.cu — the CUDA forward of fused attention (front end: ops/attention.cpp; CPU
// twin and the readable reference: ops/cpu/attention.cpp); the backward is in
// cuda/attention_backward.cu, the tiles and thread layout both use in cuda/attention_tiles.cuh.
//
// Legend as ops/attention.h: q, out: (B, H, Lq, D); k, v: (B, H, Lk, D); probs: (B, H, Lq, Lk)
// contiguous; cls: (B, Lk). q, k, v and out may have any strides: the kernel indexes them by
// strides, so the permuted views of one qkv projection that nn/attention passes are read in
// place, never copied.
//
// One block per (b, h, tile of 16·R query rows), two passes over 64-key tiles:
//   pass 1, k staged:  S = q·kᵀ·scale, masked → per row a running max m and sum l (online
//                      softmax), merged over the row's 16 lanes
//   pass 2, k staged:  S again, P = exp(S − m)/l (masked: 0) into shared memory, copied out to
//                      probs (and row 0 to the cls scratch); then v staged in the same buffer
//                      and out += P·v, in registers
// S is recomputed rather than kept: a row of Lk scores does not fit on chip for every Lk, and D
// multiply-adds per score cost less than a round trip of S through global memory. A causal query
// tile skips the key tiles none of its rows can see (their probabilities are written as 0).
// cls, the head mean of query row 0, is a second small kernel that adds the H rows in order.
//
// Masks as ops/cpu/attention.cpp: causal is bottom-right aligned (query i sees keys
// j ≤ i + Lk − Lq), a padded key is seen by no query, and a row that sees no key gets zero
// probabilities and a zero output (never NaN). Precision as the CPU's: products and softmax sums
// in T, one exp per probability; the max is exact, the sum is rescaled as the max grows.
//
// Extend: a new mask kind is one more test in the kernel's `seen` (and in stage_keys when it is
// per key); the backward needs nothing (masked probabilities are exactly 0).
#include "cuda/attention_tiles.cuh"
#include "cuda/launchers.h"

namespace sieve::cuda {

namespace {

using namespace attention_tiles;

__device__ __forceinline__ bool padded_at(const void* mask, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::f32: return static_cast<const float*>(mask)[i] != 0.0f;
    case DType::f64: return static_cast<const double*>(mask)[i] != 0.0;
    case DType::i64: return static_cast<const int64_t*>(mask)[i] != 0;
  }
  return false;
}

template <typename T>
struct ForwardArgs {
  Operand<const T> q, k, v;
  Operand<T> out;
  T* probs;            // (B, H, Lq, Lk), or null: not saved
  T* row0;             // (B, H, Lk): query row 0's probabilities for cls, or null
  const void* padded;  // (B, Lk) contiguous, nonzero = padded, or null
  DType padded_dtype;
  const T* key_bias;   // (B, Lk) contiguous, added to key j's scores, or null
  int64_t H, Lq, Lk, tiles;  // tiles: B·H·⌈Lq / TQ⌉
  int D;
  T scale;
  bool causal;
};

// Online softmax: fold score x into a running (max m, sum l) with l relative to m.
template <typename T>
__device__ __forceinline__ void online_add(T& m, T& l, T x) {
  if (x > m) {
    l = mul_rn(l, dmath::exp(m - x)) + T(1);  // m = −∞ at first: 0 · 0 + 1
    m = x;
  } else if (m != -INFINITY) {
    l += dmath::exp(x - m);
  }
}

// Merges (m, l) over the 16 lanes of a group. merge(a, b) and merge(b, a) give the same bits, so
// after the butterfly every lane holds the same pair.
template <typename T>
__device__ __forceinline__ void merge_lanes(T& m, T& l) {
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    const T mo = __shfl_xor_sync(0xffffffffu, m, offset);
    const T lo = __shfl_xor_sync(0xffffffffu, l, offset);
    const T mx = mo > m ? mo : m;
    const T mine = m == -INFINITY ? T(0) : mul_rn(l, dmath::exp(m - mx));
    const T theirs = mo == -INFINITY ? T(0) : mul_rn(lo, dmath::exp(mo - mx));
    l = mine + theirs;
    m = mx;
  }
}

template <typename T, int R, int NV>
__global__ void __launch_bounds__(kThreads) attention_forward(const ForwardArgs<T> a) {
  using Z = Tiles<T, R, NV>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* qs = reinterpret_cast<T*>(smem);
  T* kv = qs + Z::TQ * Z::ldx;  // k, then v, of one key tile
  T* ps = kv + kTileK * Z::ldx;
  bool* key_ok = reinterpret_cast<bool*>(ps + Z::TQ * Z::ldp);
  const int g = threadIdx.x / kLanes, c = threadIdx.x % kLanes;
  const int64_t qtiles = (a.Lq + Z::TQ - 1) / Z::TQ, offset = a.Lk - a.Lq;

  for (int64_t t = blockIdx.x; t < a.tiles; t += gridDim.x) {  // block-uniform: the syncs below are safe
    const int64_t bh = t / qtiles, i0 = t % qtiles * Z::TQ, b = bh / a.H, h = bh % a.H;
    const int rows = static_cast<int>(a.Lq - i0 < Z::TQ ? a.Lq - i0 : Z::TQ);
    // Keys [0, kend) are seen by some row of the tile; tiles past it are skipped.
    int64_t kend = a.Lk;
    if (a.causal) kend = i0 + rows + offset < 0 ? 0 : (i0 + rows + offset < a.Lk ? i0 + rows + offset : a.Lk);
    const int64_t live = (kend + kTileK - 1) / kTileK;
    const T* kh = a.k.head(b, h);
    const T* vh = a.v.head(b, h);

    __syncthreads();  // the previous tile's threads are done with every buffer
    stage_rows(qs, Z::ldx, Z::TQ, a.q.head(b, h), a.q.si, a.q.sd, i0, a.Lq, a.D);

    // Stages k's tile and its key flags (in range and not padded).
    auto stage_keys = [&](int64_t j0) {
      stage_rows(kv, Z::ldx, kTileK, kh, a.k.si, a.k.sd, j0, a.Lk, a.D);
      for (int j = threadIdx.x; j < kTileK; j += kThreads)
        key_ok[j] = j0 + j < a.Lk && !(a.padded != nullptr && padded_at(a.padded, a.padded_dtype, b * a.Lk + j0 + j));
    };
    auto seen = [&](int i, int u, int64_t j0) {
      const int j = c + kLanes * u;
      const int64_t qi = i0 + g + kLanes * i;
      return qi < a.Lq && key_ok[j] && causal_sees(qi, j0 + j, offset, a.causal);
    };
    // The scaled score of the tile's key u for row i, plus the key's bias (read through the cache:
    // the same Lk values serve every row). The two passes must compute it identically.
    const T* bias_b = a.key_bias != nullptr ? a.key_bias + b * a.Lk : nullptr;
    auto score = [&](T s, int u, int64_t j0) {
      const T scaled = mul_rn(s, a.scale);
      return bias_b != nullptr ? scaled + __ldg(bias_b + j0 + c + kLanes * u) : scaled;
    };

    T m[R], l[R];
#pragma unroll
    for (int i = 0; i < R; ++i) m[i] = -INFINITY, l[i] = T(0);
    for (int64_t kt = 0; kt < live; ++kt) {  // pass 1: row max and sum
      const int64_t j0 = kt * kTileK;
      __syncthreads();
      stage_keys(j0);
      __syncthreads();
      T s[R][kKeys];
      tile_dots<T, R>(qs, kv, Z::ldx, a.D, s);
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int u = 0; u < kKeys; ++u)
          if (seen(i, u, j0)) online_add(m[i], l[i], score(s[i][u], u, j0));
    }
    T inv[R];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      merge_lanes(m[i], l[i]);
      inv[i] = l[i] > T(0) ? T(1) / l[i] : T(0);  // a row that sees no key: zeros
    }

    T o[R][NV] = {};
    for (int64_t kt = 0; kt < live; ++kt) {  // pass 2: probabilities and P·v
      const int64_t j0 = kt * kTileK;
      const int cols = static_cast<int>(a.Lk - j0 < kTileK ? a.Lk - j0 : kTileK);
      __syncthreads();  // ps and kv are free (the previous P·v is done)
      stage_keys(j0);
      __syncthreads();
      T s[R][kKeys];
      tile_dots<T, R>(qs, kv, Z::ldx, a.D, s);
#pragma unroll
      for (int i = 0; i < R; ++i)
#pragma unroll
        for (int u = 0; u < kKeys; ++u)
          ps[(g + kLanes * i) * Z::ldp + c + kLanes * u] =
              seen(i, u, j0) ? dmath::exp(score(s[i][u], u, j0) - m[i]) * inv[i] : T(0);
      __syncthreads();  // ps complete, k no longer read
      if (a.probs != nullptr) store_block(ps, Z::ldp, a.probs + (bh * a.Lq + i0) * a.Lk + j0, a.Lk, rows, cols);
      if (a.row0 != nullptr && i0 == 0) store_block(ps, Z::ldp, a.row0 + bh * a.Lk + j0, a.Lk, 1, cols);
      stage_rows(kv, Z::ldx, kTileK, vh, a.v.si, a.v.sd, j0, a.Lk, a.D);
      __syncthreads();
      tile_weighted<T, R, NV>(ps, Z::ldp, kv, Z::ldx, cols, o);
    }
    const int64_t jz = live * kTileK < a.Lk ? live * kTileK : a.Lk;  // keys no row sees: probability 0
    if (a.probs != nullptr) zero_block(a.probs + (bh * a.Lq + i0) * a.Lk, a.Lk, rows, jz, a.Lk);
    if (a.row0 != nullptr && i0 == 0) zero_block(a.row0 + bh * a.Lk, a.Lk, 1, jz, a.Lk);
    store_rows<T, R, NV>(o, a.out.head(b, h), a.out.si, a.out.sd, i0, rows, a.D);
  }
}

// cls[b][j] := mean over heads of src[(b·H + h)·head_stride + j] (row 0 of each head), in double.
template <typename T>
__global__ void cls_head_mean(const T* __restrict__ src, int64_t head_stride, int64_t H, int64_t Lk, int64_t n,
                              T* __restrict__ cls) {
  SIEVE_GRID_STRIDE(e, n) {
    const int64_t b = e / Lk, j = e % Lk;
    double s = 0;
    for (int64_t h = 0; h < H; ++h) s += static_cast<double>(src[(b * H + h) * head_stride + j]);
    cls[e] = static_cast<T>(s / static_cast<double>(H));
  }
}

template <typename T, int NV>
void forward_typed(ForwardArgs<T> a, int64_t B) {
  launch_query_tiles<T, NV>(a, B, [](auto r) { return attention_forward<T, decltype(r)::value, NV>; });
}

}  // namespace

void launch_attention(const TensorArg& q, const TensorArg& k, const TensorArg& v, const TensorArg& padded,
                      const TensorArg& key_bias, double scale, bool causal, const TensorArg& out, const TensorArg& probs, const TensorArg& row0,
                      const TensorArg& cls) {
  const int64_t B = q.shape[0], H = q.shape[1], Lq = q.shape[2], D = q.shape[3], Lk = k.shape[2];
  if (B * H * Lq == 0) return;
  with_dtype(q.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      const ForwardArgs<T> a{
        .q = operand<const T>(q), .k = operand<const T>(k), .v = operand<const T>(v), .out = operand<T>(out),
        .probs = static_cast<T*>(probs.data), .row0 = static_cast<T*>(row0.data), .padded = padded.data,
        .padded_dtype = padded.dtype, .key_bias = static_cast<const T*>(key_bias.data), .H = H, .Lq = Lq, .Lk = Lk, .tiles = 0, .D = static_cast<int>(D),
        .scale = static_cast<T>(scale), .causal = causal};
      with_slices(D, [&](auto nv) { forward_typed<T, decltype(nv)::value>(a, B); });
      if (cls.data != nullptr && Lk > 0) {
        const T* src = probs.data != nullptr ? static_cast<const T*>(probs.data) : static_cast<const T*>(row0.data);
        const int64_t head_stride = probs.data != nullptr ? Lq * Lk : Lk;
        cls_head_mean<T><<<grid_for(B * Lk), kBlock, 0, stream()>>>(src, head_stride, H, Lk, B * Lk,
                                                                    static_cast<T*>(cls.data));
        SIEVE_CUDA_CHECK_LAUNCH();
      }
    }
  });
}

}  // namespace sieve::cuda
