// cuda/conv.cu — CUDA kernels of the conv family (front end: ops/conv.cpp; CPU twin and the
// readable reference: ops/cpu/conv.cpp): causal depthwise conv1d and depthwise conv2d with their
// backwards, and patch unfold / fold.
//
// Legend: B batch, L sequence length, C channels, K taps, H×W image, p patch side. x, g: (B, L, C)
// with channel stride 1 (batch and time strides free); weight (C, K) any strides; y, gx, gw, gb
// contiguous. Tap k of y[b, t] reads x[b, t − K + 1 + k] (zeros before the start).
//
//   y, gx   one thread per output element, c fastest (x/g rows and y/gx rows coalesce); taps in
//           the CPU's order, accumulated in T from the same initial value (bias or 0)
//   gw, gb  column sums over the B·L rows, deterministic and without atomics (as cuda/norm.cu):
//           block (32-channel tile, chunk of rows, group of 8 slots) — slot s < K is tap s, slot K
//           the bias — has 8 row lanes × 32 channels; each thread sums its rows in double, the 8
//           lanes combine in shared memory in a fixed order, and the block writes one double
//           partial per (chunk, slot, channel); then one thread per (slot, channel) adds the
//           chunks in order. The sum order differs from the CPU's (which adds in T over b then t).
//   conv2d  the same two plans over pixels (B, H, W, C): one thread per output element for y and gx
//           (gx with the kernel turned 180°); gw, gb by the same partials, slots = k² taps + bias
//   unfold / fold   one thread per output element: a permutation (patches do not overlap)
//
// Extend: a conv with stride or dilation changes the tap offset (t − K + 1 + k) in all three kernels.
#include "cuda/launchers.h"
#include "cuda/loops.cuh"

namespace sieve::cuda {

namespace {

constexpr int kTile = 32;   // channels per weight-gradient block: one warp along contiguous channels
constexpr int kLanes = 8;   // row lanes per weight-gradient block
constexpr int kSlots = 8;   // gradient slots per thread (taps, then the bias), kept in registers
static_assert(kLanes == kSlots, "the reduction gives lane l of a channel slot l to finish");

template <typename T>
__global__ void conv1d_forward(const T* __restrict__ x, int64_t xsb, int64_t xsl, const T* __restrict__ w,
                               int64_t ws0, int64_t ws1, const T* __restrict__ bias, int64_t bs, T* __restrict__ y,
                               int64_t B, int64_t L, int64_t C, int64_t K) {
  SIEVE_GRID_STRIDE(i, B * L * C) {
    const int64_t c = i % C, bt = i / C, t = bt % L, b = bt / L;
    const T* xc = x + b * xsb + c;
    T acc = bias != nullptr ? bias[c * bs] : T(0);
    for (int64_t k = K - 1 - t > 0 ? K - 1 - t : 0; k < K; ++k) acc += w[c * ws0 + k * ws1] * xc[(t - K + 1 + k) * xsl];
    y[i] = acc;
  }
}

// gx[b, s, c] = Σ_k w[c, k] · g[b, s + K − 1 − k, c] over taps inside the sequence
template <typename T>
__global__ void conv1d_grad_input(const T* __restrict__ g, int64_t gsb, int64_t gsl, const T* __restrict__ w,
                                  int64_t ws0, int64_t ws1, T* __restrict__ gx, int64_t B, int64_t L, int64_t C,
                                  int64_t K) {
  SIEVE_GRID_STRIDE(i, B * L * C) {
    const int64_t c = i % C, bt = i / C, t = bt % L, b = bt / L;
    const T* gc = g + b * gsb + c;
    T acc = T(0);
    for (int64_t k = t + K - L > 0 ? t + K - L : 0; k < K; ++k) acc += w[c * ws0 + k * ws1] * gc[(t + K - 1 - k) * gsl];
    gx[i] = acc;
  }
}

// The end of a weight-gradient partials block (conv1d's and conv2d's): each thread's kSlots sums
// go to shared memory; lane l of a channel then adds the kLanes lanes of slot slot0 + l in order
// and writes the block's partial for it. Every thread must call this (it holds a __syncthreads).
__device__ void finish_slots(const double (&acc)[kSlots], double (&lanes)[kLanes][kSlots][kTile], int cx, int lane,
                             int64_t c, int64_t C, int64_t chunk, int64_t slot0, int64_t slots,
                             double* __restrict__ partial) {
#pragma unroll
  for (int s = 0; s < kSlots; ++s) lanes[lane][s][cx] = acc[s];
  __syncthreads();
  const int64_t slot = slot0 + lane;
  if (c < C && slot < slots) {
    double sum = 0;
    for (int l = 0; l < kLanes; ++l) sum += lanes[l][lane][cx];
    partial[(chunk * slots + slot) * C + c] = sum;
  }
}

// Block (channel tile, chunk, slot group); threadIdx.x = lane · kTile + channel in tile.
// partial: (chunks, K + 1, C) doubles.
template <typename T>
__global__ void conv1d_param_partials(const T* __restrict__ g, int64_t gsb, int64_t gsl, const T* __restrict__ x,
                                      int64_t xsb, int64_t xsl, int64_t L, int64_t C, int64_t K, int64_t rows,
                                      int64_t rows_per_chunk, double* __restrict__ partial) {
  __shared__ double lanes[kLanes][kSlots][kTile];
  const int cx = threadIdx.x % kTile, lane = threadIdx.x / kTile;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTile + cx;
  const int64_t chunk = blockIdx.y, slot0 = static_cast<int64_t>(blockIdx.z) * kSlots;
  const int64_t r0 = chunk * rows_per_chunk, r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double acc[kSlots] = {};
  if (c < C) {  // no early return: every thread reaches the __syncthreads below
    for (int64_t r = r0 + lane; r < r1; r += kLanes) {
      const int64_t b = r / L, t = r - b * L;
      const double gv = static_cast<double>(g[b * gsb + t * gsl + c]);
      const T* xc = x + b * xsb + c;
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
        const int64_t slot = slot0 + s, src = t - K + 1 + slot;
        if (slot < K) {
          if (src >= 0) acc[s] += gv * static_cast<double>(xc[src * xsl]);
        } else if (slot == K) {
          acc[s] += gv;
        }
      }
    }
  }
  finish_slots(acc, lanes, cx, lane, c, C, chunk, slot0, K + 1, partial);
}

template <typename T>
__global__ void conv1d_param_finish(const double* __restrict__ partial, int64_t chunks, int64_t C, int64_t K,
                                    T* __restrict__ gw, T* __restrict__ gb) {
  SIEVE_GRID_STRIDE(i, (K + 1) * C) {
    const int64_t slot = i / C, c = i - slot * C;
    double sum = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) sum += partial[(chunk * (K + 1) + slot) * C + c];
    if (slot < K) {
      if (gw != nullptr) gw[c * K + slot] = static_cast<T>(sum);
    } else if (gb != nullptr) {
      gb[c] = static_cast<T>(sum);
    }
  }
}

// conv2d_depthwise, channels last, x/g/y/gx contiguous (B, H, W, C), weight (C, k, k) any strides.
// out[b, h, w, c] = init + Σ_{i,j} w[c, i', j'] · in[b, h + i − p, w + j − p, c] with (i', j') = (i, j),
// or (k−1−i, k−1−j) when turned (the input gradient: g convolved with the kernel turned 180°).
template <typename T>
__global__ void conv2d_taps(const T* __restrict__ in, const T* __restrict__ w, int64_t ws0, int64_t ws1, int64_t ws2,
                            bool turned, const T* __restrict__ bias, int64_t bs, T* __restrict__ out, int64_t B,
                            int64_t H, int64_t W, int64_t C, int64_t k) {
  const int64_t pad = (k - 1) / 2;
  SIEVE_GRID_STRIDE(o, B * H * W * C) {
    const int64_t c = o % C, pixel = o / C, x = pixel % W, h = (pixel / W) % H, b = pixel / (W * H);
    T acc = bias != nullptr ? bias[c * bs] : T(0);
    for (int64_t i = 0; i < k; ++i) {  // taps in the CPU's order, from the same initial value
      const int64_t hh = h + i - pad;
      if (hh < 0 || hh >= H) continue;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t ww = x + j - pad;
        if (ww < 0 || ww >= W) continue;
        const int64_t wi = turned ? k - 1 - i : i, wj = turned ? k - 1 - j : j;
        acc += w[c * ws0 + wi * ws1 + wj * ws2] * in[((b * H + hh) * W + ww) * C + c];
      }
    }
    out[o] = acc;
  }
}

// The weight and bias gradients as conv1d's: block (channel tile, chunk of pixels, slot group);
// slot s < k² is tap (s / k, s % k), slot k² the bias. partial: (chunks, k² + 1, C) doubles,
// finished by conv1d_param_finish (gw (C, k·k) is gw (C, k, k) contiguous).
template <typename T>
__global__ void conv2d_param_partials(const T* __restrict__ g, const T* __restrict__ x, int64_t H, int64_t W,
                                      int64_t C, int64_t k, int64_t rows, int64_t rows_per_chunk,
                                      double* __restrict__ partial) {
  __shared__ double lanes[kLanes][kSlots][kTile];
  const int cx = threadIdx.x % kTile, lane = threadIdx.x / kTile;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTile + cx, taps = k * k, pad = (k - 1) / 2;
  const int64_t chunk = blockIdx.y, slot0 = static_cast<int64_t>(blockIdx.z) * kSlots;
  const int64_t r0 = chunk * rows_per_chunk, r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double acc[kSlots] = {};
  if (c < C) {  // no early return: every thread reaches the __syncthreads below
    for (int64_t r = r0 + lane; r < r1; r += kLanes) {  // r: a pixel (b, h, w)
      const int64_t w = r % W, h = (r / W) % H, b = r / (W * H);
      const double gv = static_cast<double>(g[r * C + c]);
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
        const int64_t slot = slot0 + s;
        if (slot < taps) {
          const int64_t hh = h + slot / k - pad, ww = w + slot % k - pad;
          if (hh >= 0 && hh < H && ww >= 0 && ww < W) acc[s] += gv * static_cast<double>(x[((b * H + hh) * W + ww) * C + c]);
        } else if (slot == taps) {
          acc[s] += gv;
        }
      }
    }
  }
  finish_slots(acc, lanes, cx, lane, c, C, chunk, slot0, taps + 1, partial);
}

// out: (B, nh·nw, C·p·p) contiguous; element (c, i, j) of patch (ph, pw) is x[b, c, ph·p + i, pw·p + j].
template <typename T>
__global__ void unfold_kernel(const T* __restrict__ x, int64_t sb, int64_t sc, int64_t sh, int64_t sw,
                              T* __restrict__ out, int64_t C, int64_t nh, int64_t nw, int64_t p, int64_t n) {
  const int64_t patch = C * p * p;
  SIEVE_GRID_STRIDE(o, n) {
    const int64_t e = o % patch, bp = o / patch;  // element in patch, (batch, patch) pair
    const int64_t pw = bp % nw, ph = (bp / nw) % nh, b = bp / (nw * nh);
    const int64_t j = e % p, i = (e / p) % p, c = e / (p * p);
    out[o] = x[b * sb + c * sc + (ph * p + i) * sh + (pw * p + j) * sw];
  }
}

// gx: (B, C, H, W) contiguous; g: (B, nh·nw, C·p·p) at strides sb, sp, se.
template <typename T>
__global__ void fold_kernel(const T* __restrict__ g, int64_t sb, int64_t sp, int64_t se, T* __restrict__ gx,
                            int64_t C, int64_t H, int64_t W, int64_t p, int64_t n) {
  const int64_t nw = W / p;
  SIEVE_GRID_STRIDE(o, n) {
    const int64_t w = o % W, h = (o / W) % H, c = (o / (W * H)) % C, b = o / (W * H * C);
    const int64_t patch = (h / p) * nw + w / p, e = (c * p + h % p) * p + w % p;
    gx[o] = g[b * sb + patch * sp + e * se];
  }
}

}  // namespace

int64_t conv1d_param_chunks(int64_t rows) {
  // About 64 rows per chunk (8 per lane), at most 256 chunks: with few channels (Mamba's d_inner
  // of a few hundred is ~10 tiles) the chunks are what fills the GPU.
  const int64_t chunks = (rows + 63) / 64;
  return chunks < 1 ? 1 : (chunks > 256 ? 256 : chunks);
}

void launch_conv1d(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, const TensorArg& y) {
  const int64_t B = x.shape[0], L = x.shape[1], C = x.shape[2], K = weight.shape[1];
  const int64_t n = B * L * C;
  if (n == 0) return;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      conv1d_forward<T><<<grid_for(n), kBlock, 0, stream()>>>(
          as_const<T>(x), x.strides[0], x.strides[1], as_const<T>(weight), weight.strides[0], weight.strides[1],
          as_const<T>(bias), bias.data != nullptr ? bias.strides[0] : 0, as_mut<T>(y), B, L, C, K);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_conv1d_backward(const TensorArg& g, const TensorArg& x, const TensorArg& weight, const TensorArg& gx,
                            const TensorArg& gw, const TensorArg& gb, const TensorArg& scratch) {
  const int64_t B = x.shape[0], L = x.shape[1], C = x.shape[2], K = weight.shape[1];
  if (C == 0) return;
  with_dtype(g.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      if (gx.data != nullptr && B * L > 0)
        conv1d_grad_input<T><<<grid_for(B * L * C), kBlock, 0, stream()>>>(
            as_const<T>(g), g.strides[0], g.strides[1], as_const<T>(weight), weight.strides[0], weight.strides[1],
            as_mut<T>(gx), B, L, C, K);
      if (gw.data != nullptr || gb.data != nullptr) {  // with no rows the partials are zeros, and so are gw, gb
        const int64_t rows = B * L, chunks = conv1d_param_chunks(rows);
        const int64_t per_chunk = (rows + chunks - 1) / chunks;
        const dim3 grid(static_cast<unsigned>((C + kTile - 1) / kTile), static_cast<unsigned>(chunks),
                        static_cast<unsigned>((K + 1 + kSlots - 1) / kSlots));
        conv1d_param_partials<T><<<grid, kTile * kLanes, 0, stream()>>>(
            as_const<T>(g), g.strides[0], g.strides[1], as_const<T>(x), x.strides[0], x.strides[1], L, C, K, rows,
            per_chunk, as_mut<double>(scratch));
        conv1d_param_finish<T><<<grid_for((K + 1) * C), kBlock, 0, stream()>>>(as_const<double>(scratch), chunks, C,
                                                                              K, as_mut<T>(gw), as_mut<T>(gb));
      }
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_conv2d_depthwise(const TensorArg& x, const TensorArg& weight, const TensorArg& bias, const TensorArg& y) {
  const int64_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3], k = weight.shape[1];
  const int64_t n = B * H * W * C;
  if (n == 0) return;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      conv2d_taps<T><<<grid_for(n), kBlock, 0, stream()>>>(
          as_const<T>(x), as_const<T>(weight), weight.strides[0], weight.strides[1], weight.strides[2],
          /*turned=*/false, as_const<T>(bias), bias.data != nullptr ? bias.strides[0] : 0, as_mut<T>(y), B, H, W, C, k);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_conv2d_depthwise_backward(const TensorArg& g, const TensorArg& x, const TensorArg& weight,
                                      const TensorArg& gx, const TensorArg& gw, const TensorArg& gb,
                                      const TensorArg& scratch) {
  const int64_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3], k = weight.shape[1];
  const int64_t taps = k * k, rows = B * H * W;
  if (C == 0) return;
  with_dtype(g.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>) {
      if (gx.data != nullptr && rows > 0)
        conv2d_taps<T><<<grid_for(rows * C), kBlock, 0, stream()>>>(
            as_const<T>(g), as_const<T>(weight), weight.strides[0], weight.strides[1], weight.strides[2],
            /*turned=*/true, static_cast<const T*>(nullptr), 0, as_mut<T>(gx), B, H, W, C, k);
      if (gw.data != nullptr || gb.data != nullptr) {  // with no pixels the partials are zeros, and so are gw, gb
        const int64_t chunks = conv1d_param_chunks(rows), per_chunk = (rows + chunks - 1) / chunks;
        const dim3 grid(static_cast<unsigned>((C + kTile - 1) / kTile), static_cast<unsigned>(chunks),
                        static_cast<unsigned>((taps + 1 + kSlots - 1) / kSlots));
        conv2d_param_partials<T><<<grid, kTile * kLanes, 0, stream()>>>(as_const<T>(g), as_const<T>(x), H, W, C, k,
                                                                       rows, per_chunk, as_mut<double>(scratch));
        conv1d_param_finish<T><<<grid_for((taps + 1) * C), kBlock, 0, stream()>>>(
            as_const<double>(scratch), chunks, C, taps, as_mut<T>(gw), as_mut<T>(gb));
      }
    }
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_unfold_patches(const TensorArg& x, int64_t p, const TensorArg& out) {
  const int64_t n = out.numel;
  if (n == 0) return;
  const int64_t C = x.shape[1], nh = x.shape[2] / p, nw = x.shape[3] / p;
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      unfold_kernel<T><<<grid_for(n), kBlock, 0, stream()>>>(as_const<T>(x), x.strides[0], x.strides[1],
                                                             x.strides[2], x.strides[3], as_mut<T>(out), C, nh, nw, p,
                                                             n);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_fold_patches(const TensorArg& g, int64_t p, const TensorArg& gx) {
  const int64_t n = gx.numel;
  if (n == 0) return;
  with_dtype(g.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      fold_kernel<T><<<grid_for(n), kBlock, 0, stream()>>>(as_const<T>(g), g.strides[0], g.strides[1], g.strides[2],
                                                           as_mut<T>(gx), gx.shape[1], gx.shape[2], gx.shape[3], p,
                                                           n);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
