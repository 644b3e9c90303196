// ops/cpu/conv.cpp — causal depthwise conv1d (channels last) and patch unfold/fold on the CPU.
//
// conv1d: channels are independent, so work splits into (batch, channel tile) pairs. Inside a
// tile the loops run t → k → c with c innermost: x and y rows are contiguous in c, and the
// weights are first transposed to (K, C) so they are contiguous in c too — the c loop is a plain
// vectorisable multiply-add over a tile held in registers (2.3× forward, 3× backward against
// loads and stores at every tap, single-threaded, measured in a Mamba step). The weight and bias
// gradients sum over batch and time; each thread owns whole channel tiles, so there are no races and the sum order never depends on threads.
// conv2d (VMamba's depthwise 3×3, channels last): the same plan over image rows; see its section.
// unfold/fold: a permutation of elements; parallel over (batch, patch row) and (batch, channel).
//
// What it is not: a general convolution (no stride, dilation or groups other than depthwise).
#include "ops/cpu/conv.h"

#include <algorithm>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

constexpr int64_t kChannelTile = 32;  // channels per work item: two AVX-512 vectors of floats

// weight (C, K) at any strides → (K, C) contiguous, so a tap's weights are contiguous in c.
template <typename T>
std::vector<T> transposed_weight(const Tensor& weight) {
  const int64_t C = weight.shape()[0], K = weight.shape()[1];
  const int64_t s0 = weight.strides()[0], s1 = weight.strides()[1];
  const T* w = weight.data<T>();
  std::vector<T> wt(static_cast<size_t>(K * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) wt[k * C + c] = w[c * s0 + k * s1];
  return wt;
}

// The loops below keep one tile of channels in fixed-size local arrays, so GCC holds them in
// vector registers for a whole row (a runtime-width tile would be loaded and stored at every tap).
// A last tile narrower than kChannelTile takes the same code with guarded loads and stores.

// out[t, c] = init[c] + Σ_k w[k, c] · in[t + dir·(k − K + 1), c] over taps inside 0 … L − 1, for
// c < nc of one tile. dir +1: the causal conv (tap k reads K − 1 − k steps back); dir −1: its
// input gradient (the same taps, reading forward in time). Rows of in and out are in_step and
// out_step elements apart; w is (K, C) with row stride C.
template <typename T, bool Full>
void tap_rows_tile(const T* __restrict in, int64_t in_step, const T* __restrict w, int64_t C, int64_t K,
                   const T* __restrict init, int64_t L, int dir, int nc, T* __restrict out, int64_t out_step) {
  constexpr int TW = static_cast<int>(kChannelTile);
  for (int64_t t = 0; t < L; ++t) {
    alignas(64) T acc[TW];
#pragma omp simd
    for (int c = 0; c < TW; ++c) acc[c] = (init != nullptr && (Full || c < nc)) ? init[c] : T(0);
    const int64_t k0 = dir > 0 ? std::max<int64_t>(0, K - 1 - t) : std::max<int64_t>(0, t + K - L);
    for (int64_t k = k0; k < K; ++k) {
      const T* __restrict r = in + (t + dir * (k - K + 1)) * in_step;
      const T* __restrict wk = w + k * C;
#pragma omp simd
      for (int c = 0; c < TW; ++c)
        if (Full || c < nc) acc[c] += wk[c] * r[c];
    }
    T* __restrict o = out + t * out_step;
#pragma omp simd
    for (int c = 0; c < TW; ++c)
      if (Full || c < nc) o[c] = acc[c];
  }
}

template <typename T>
void tap_rows(const T* in, int64_t in_step, const T* w, int64_t C, int64_t K, const T* init, int64_t L, int dir, int nc,
              T* out, int64_t out_step) {
  if (nc == kChannelTile)
    tap_rows_tile<T, true>(in, in_step, w, C, K, init, L, dir, nc, out, out_step);
  else
    tap_rows_tile<T, false>(in, in_step, w, C, K, init, L, dir, nc, out, out_step);
}

// acc[k, c] += Σ_t g[t, c] · x[t − K + 1 + k, c] and bacc[c] += Σ_t g[t, c] for one sequence and
// c < nc of one tile (acc rows kChannelTile apart). KT > 0 fixes K at compile time, so all K
// accumulator rows stay in registers across t; KT = 0 is any K, accumulating in memory.
template <typename T, int KT, bool Full>
void weight_grad_tile(const T* __restrict g, int64_t g_step, const T* __restrict x, int64_t x_step, int64_t K_runtime,
                      int64_t L, int nc, T* __restrict acc, T* __restrict bacc) {
  constexpr int TW = static_cast<int>(kChannelTile);
  const int64_t K = KT > 0 ? KT : K_runtime;
  if constexpr (KT > 0) {
    alignas(64) T a[KT][TW] = {}, ab[TW] = {};
    for (int64_t t = 0; t < L; ++t) {
      const T* __restrict gr = g + t * g_step;
#pragma GCC unroll 8
      for (int k = 0; k < KT; ++k) {
        const int64_t src = t - KT + 1 + k;
        if (src < 0) continue;  // before the start: zeros
        const T* __restrict xr = x + src * x_step;
#pragma omp simd
        for (int c = 0; c < TW; ++c)
          if (Full || c < nc) a[k][c] += gr[c] * xr[c];
      }
#pragma omp simd
      for (int c = 0; c < TW; ++c)
        if (Full || c < nc) ab[c] += gr[c];
    }
    for (int k = 0; k < KT; ++k)
      for (int c = 0; c < nc; ++c) acc[k * TW + c] += a[k][c];
    for (int c = 0; c < nc; ++c) bacc[c] += ab[c];
  } else {
    for (int64_t t = 0; t < L; ++t) {
      const T* __restrict gr = g + t * g_step;
      for (int c = 0; c < nc; ++c) bacc[c] += gr[c];
      for (int64_t k = std::max<int64_t>(0, K - 1 - t); k < K; ++k) {
        const T* __restrict xr = x + (t - K + 1 + k) * x_step;
        T* __restrict ak = acc + k * TW;
#pragma omp simd
        for (int c = 0; c < nc; ++c) ak[c] += gr[c] * xr[c];
      }
    }
  }
}

template <typename T>
void weight_grad_rows(const T* g, int64_t g_step, const T* x, int64_t x_step, int64_t K, int64_t L, int nc, T* acc,
                      T* bacc) {
  const bool full = nc == kChannelTile;
  if (K == 4)  // d_conv = 4: Mamba's, and the default
    full ? weight_grad_tile<T, 4, true>(g, g_step, x, x_step, K, L, nc, acc, bacc)
         : weight_grad_tile<T, 4, false>(g, g_step, x, x_step, K, L, nc, acc, bacc);
  else
    weight_grad_tile<T, 0, false>(g, g_step, x, x_step, K, L, nc, acc, bacc);
}

}  // namespace

void conv1d_causal_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  dispatch_float(x.dtype(), Op::conv1d_causal_depthwise, [&]<typename T>() {
    const int64_t B = x.shape()[0], L = x.shape()[1], C = x.shape()[2], K = weight.shape()[1];
    const int64_t sb = x.strides()[0], sl = x.strides()[1];
    const std::vector<T> wt = transposed_weight<T>(weight);
    std::vector<T> b0(static_cast<size_t>(C), T(0));
    if (bias.defined())
      for (int64_t c = 0; c < C; ++c) b0[c] = bias.data<T>()[c * bias.strides()[0]];
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const int64_t tiles = (C + kChannelTile - 1) / kChannelTile;

#pragma omp parallel for collapse(2) schedule(static) if (B * L * C * K >= kParallelGrain)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kChannelTile;
        // tap k of y[t] reads x[t − K + 1 + k]; taps before the sequence start read zeros
        tap_rows<T>(xp + b * sb + c0, sl, wt.data() + c0, C, K, b0.data() + c0, L, /*dir=*/+1,
                    static_cast<int>(std::min(kChannelTile, C - c0)), yp + b * L * C + c0, C);
      }
    }
  });
}

void conv1d_causal_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                                      const Tensor& gw, const Tensor& gb) {
  dispatch_float(g.dtype(), Op::conv1d_causal_depthwise, [&]<typename T>() {
    const int64_t B = x.shape()[0], L = x.shape()[1], C = x.shape()[2], K = weight.shape()[1];
    const int64_t gsb = g.strides()[0], gsl = g.strides()[1], xsb = x.strides()[0], xsl = x.strides()[1];
    const T* gp = g.data<T>();
    const T* xp = x.data<T>();
    const int64_t tiles = (C + kChannelTile - 1) / kChannelTile;
    const bool parallel = B * L * C * K >= kParallelGrain;

    // gx[b, s, c] = Σ_k w[c, k] · g[b, s + K − 1 − k, c] over taps that land inside the sequence
    if (gx.defined()) {
      const std::vector<T> wt = transposed_weight<T>(weight);
      T* gxp = gx.data<T>();
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t tile = 0; tile < tiles; ++tile) {
          const int64_t c0 = tile * kChannelTile;
          tap_rows<T>(gp + b * gsb + c0, gsl, wt.data() + c0, C, K, /*init=*/nullptr, L, /*dir=*/-1,
                      static_cast<int>(std::min(kChannelTile, C - c0)), gxp + b * L * C + c0, C);
        }
      }
    }

    // gw[c, k] = Σ_{b,t} g[b, t, c] · x[b, t − K + 1 + k, c];  gb[c] = Σ_{b,t} g[b, t, c]
    if (gw.defined() || gb.defined()) {
      T* gwp = gw.defined() ? gw.data<T>() : nullptr;
      T* gbp = gb.defined() ? gb.data<T>() : nullptr;
      // Every tile's accumulators, allocated before the region: an allocation inside it could
      // only fail as std::terminate.
      std::vector<T> accs(static_cast<size_t>(tiles * K * kChannelTile), T(0));
      std::vector<T> baccs(static_cast<size_t>(tiles * kChannelTile), T(0));
#pragma omp parallel for schedule(static) if (parallel && tiles > 1)
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kChannelTile, n = std::min(kChannelTile, C - c0);
        T* acc = accs.data() + tile * K * kChannelTile;
        T* bacc = baccs.data() + tile * kChannelTile;
        for (int64_t b = 0; b < B; ++b)
          weight_grad_rows<T>(gp + b * gsb + c0, gsl, xp + b * xsb + c0, xsl, K, L, static_cast<int>(n), acc, bacc);
        for (int64_t c = 0; c < n; ++c) {
          if (gbp != nullptr) gbp[c0 + c] = bacc[c];
          if (gwp != nullptr)
            for (int64_t k = 0; k < K; ++k) gwp[(c0 + c) * K + k] = acc[k * kChannelTile + c];
        }
      }
    }
  });
}

// ---- conv2d_depthwise: channels last, k × k taps, zero padding (k − 1)/2 ----
//
// The same plan as conv1d: work items are (batch, image row, channel tile); a tile of output
// pixels' channels is accumulated in registers over the k × k taps, reading input rows that are
// contiguous in c, with the weights transposed to (k·k, C). The input gradient is the same
// convolution of g with the kernel turned by 180°; the weight and bias gradients sum over every
// pixel, each thread owning whole channel tiles (race-free, thread-count independent order).

namespace {

// weight (C, k, k) at any strides → (k·k, C) contiguous; turned: tap (i, j) holds weight[c, k−1−i, k−1−j].
template <typename T>
std::vector<T> taps_by_channel(const Tensor& weight, bool turned) {
  const int64_t C = weight.shape()[0], k = weight.shape()[1];
  const int64_t s0 = weight.strides()[0], s1 = weight.strides()[1], s2 = weight.strides()[2];
  const T* w = weight.data<T>();
  std::vector<T> wt(static_cast<size_t>(k * k * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t si = turned ? k - 1 - i : i, sj = turned ? k - 1 - j : j;
        wt[(i * k + j) * C + c] = w[c * s0 + si * s1 + sj * s2];
      }
  return wt;
}

// One output row of one channel tile: out[w, c] = init[c] + Σ_{i,j} wt[i·k + j, c] · in[h + i − p, w + j − p, c]
// over taps inside the image; in is one image (H, W, C), out its row h.
template <typename T, bool Full>
void conv2d_row_tile(const T* __restrict in, const T* __restrict wt, const T* __restrict init, int64_t H, int64_t W,
                     int64_t C, int64_t k, int64_t h, int nc, T* __restrict out) {
  constexpr int TW = static_cast<int>(kChannelTile);
  const int64_t pad = (k - 1) / 2;
  for (int64_t w = 0; w < W; ++w) {
    alignas(64) T acc[TW];
#pragma omp simd
    for (int c = 0; c < TW; ++c) acc[c] = (init != nullptr && (Full || c < nc)) ? init[c] : T(0);
    for (int64_t i = std::max<int64_t>(0, pad - h); i < std::min(k, H - h + pad); ++i) {
      const T* __restrict row = in + (h + i - pad) * W * C;
      for (int64_t j = std::max<int64_t>(0, pad - w); j < std::min(k, W - w + pad); ++j) {
        const T* __restrict r = row + (w + j - pad) * C;
        const T* __restrict tap = wt + (i * k + j) * C;
#pragma omp simd
        for (int c = 0; c < TW; ++c)
          if (Full || c < nc) acc[c] += tap[c] * r[c];
      }
    }
    T* __restrict o = out + w * C;
#pragma omp simd
    for (int c = 0; c < TW; ++c)
      if (Full || c < nc) o[c] = acc[c];
  }
}

// out (B, H, W, C) := the depthwise convolution of in (B, H, W, C) with taps wt (k·k, C), plus init.
template <typename T>
void conv2d_all(const T* in, const T* wt, const T* init, int64_t B, int64_t H, int64_t W, int64_t C, int64_t k, T* out) {
  const int64_t tiles = (C + kChannelTile - 1) / kChannelTile;
#pragma omp parallel for collapse(3) schedule(static) if (B * H * W * C * k * k >= kParallelGrain)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kChannelTile;
        const int nc = static_cast<int>(std::min(kChannelTile, C - c0));
        const T* image = in + b * H * W * C + c0;
        T* row = out + (b * H + h) * W * C + c0;
        const T* start = init != nullptr ? init + c0 : nullptr;
        if (nc == kChannelTile)
          conv2d_row_tile<T, true>(image, wt + c0, start, H, W, C, k, h, nc, row);
        else
          conv2d_row_tile<T, false>(image, wt + c0, start, H, W, C, k, h, nc, row);
      }
    }
  }
}

}  // namespace

void conv2d_depthwise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  dispatch_float(x.dtype(), Op::conv2d_depthwise, [&]<typename T>() {
    const int64_t B = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3], k = weight.shape()[1];
    const std::vector<T> wt = taps_by_channel<T>(weight, /*turned=*/false);
    std::vector<T> b0(static_cast<size_t>(C), T(0));
    if (bias.defined())
      for (int64_t c = 0; c < C; ++c) b0[c] = bias.data<T>()[c * bias.strides()[0]];
    conv2d_all<T>(x.data<T>(), wt.data(), b0.data(), B, H, W, C, k, y.data<T>());
  });
}

void conv2d_depthwise_backward(const Tensor& g, const Tensor& x, const Tensor& weight, const Tensor& gx,
                               const Tensor& gw, const Tensor& gb) {
  dispatch_float(g.dtype(), Op::conv2d_depthwise, [&]<typename T>() {
    const int64_t B = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3], k = weight.shape()[1];
    const int64_t pad = (k - 1) / 2, taps = k * k;
    const T* gp = g.data<T>();
    const T* xp = x.data<T>();

    // gx[b, h, w, c] = Σ_{i,j} weight[c, i, j] · g[b, h − i + p, w − j + p, c]: g convolved with the turned kernel
    if (gx.defined()) {
      const std::vector<T> turned = taps_by_channel<T>(weight, /*turned=*/true);
      conv2d_all<T>(gp, turned.data(), /*init=*/nullptr, B, H, W, C, k, gx.data<T>());
    }

    // gw[c, i, j] = Σ_{b,h,w} g[b, h, w, c] · x[b, h + i − p, w + j − p, c];  gb[c] = Σ_{b,h,w} g[b, h, w, c]
    if (gw.defined() || gb.defined()) {
      const int64_t tiles = (C + kChannelTile - 1) / kChannelTile;
      // Every tile's accumulators, allocated before the region (an allocation inside it could
      // only fail as std::terminate).
      std::vector<T> accs(static_cast<size_t>(tiles * (taps + 1) * kChannelTile), T(0));
#pragma omp parallel for schedule(static) if (B * H * W * C * taps >= kParallelGrain && tiles > 1)
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kChannelTile;
        const int nc = static_cast<int>(std::min(kChannelTile, C - c0));
        T* acc = accs.data() + tile * (taps + 1) * kChannelTile;  // rows: taps, then the bias
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
              const T* __restrict gr = gp + ((b * H + h) * W + w) * C + c0;
              T* __restrict ab = acc + taps * kChannelTile;
              for (int c = 0; c < nc; ++c) ab[c] += gr[c];
              for (int64_t i = std::max<int64_t>(0, pad - h); i < std::min(k, H - h + pad); ++i)
                for (int64_t j = std::max<int64_t>(0, pad - w); j < std::min(k, W - w + pad); ++j) {
                  const T* __restrict xr = xp + ((b * H + h + i - pad) * W + (w + j - pad)) * C + c0;
                  T* __restrict a = acc + (i * k + j) * kChannelTile;
#pragma omp simd
                  for (int c = 0; c < nc; ++c) a[c] += gr[c] * xr[c];
                }
            }
        for (int c = 0; c < nc; ++c) {
          if (gb.defined()) gb.data<T>()[c0 + c] = acc[taps * kChannelTile + c];
          if (gw.defined())
            for (int64_t t = 0; t < taps; ++t) gw.data<T>()[(c0 + c) * taps + t] = acc[t * kChannelTile + c];
        }
      }
    }
  });
}

void unfold_patches(const Tensor& x, int64_t p, const Tensor& out) {
  dispatch_float(x.dtype(), Op::unfold_patches, [&]<typename T>() {
    const int64_t B = x.shape()[0], C = x.shape()[1], nh = x.shape()[2] / p, nw = x.shape()[3] / p;
    const int64_t sb = x.strides()[0], sc = x.strides()[1], sh = x.strides()[2], sw = x.strides()[3];
    const int64_t patch = C * p * p;
    const T* xp = x.data<T>();
    T* op = out.data<T>();
#pragma omp parallel for collapse(2) schedule(static) if (out.numel() >= kParallelGrain)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t ph = 0; ph < nh; ++ph) {
        for (int64_t pw = 0; pw < nw; ++pw) {
          T* o = op + ((b * nh + ph) * nw + pw) * patch;
          for (int64_t c = 0; c < C; ++c) {
            for (int64_t i = 0; i < p; ++i) {
              const T* xr = xp + b * sb + c * sc + (ph * p + i) * sh + pw * p * sw;
              T* orow = o + (c * p + i) * p;  // (c, i, j) order inside a patch
              for (int64_t j = 0; j < p; ++j) orow[j] = xr[j * sw];
            }
          }
        }
      }
    }
  });
}

void fold_patches(const Tensor& g, int64_t p, const Tensor& gx) {
  dispatch_float(g.dtype(), Op::unfold_patches, [&]<typename T>() {
    const int64_t B = gx.shape()[0], C = gx.shape()[1], H = gx.shape()[2], W = gx.shape()[3];
    const int64_t nw = W / p;
    const int64_t sb = g.strides()[0], sp = g.strides()[1], se = g.strides()[2];
    const T* gp = g.data<T>();
    T* op = gx.data<T>();
#pragma omp parallel for collapse(2) schedule(static) if (gx.numel() >= kParallelGrain)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t h = 0; h < H; ++h) {
          const int64_t ph = h / p, i = h % p;
          T* row = op + ((b * C + c) * H + h) * W;
          // element (c, i, j) of patch (ph, pw) is gx[b, c, ph·p + i, pw·p + j]
          const T* base = gp + b * sb + ph * nw * sp + (c * p + i) * p * se;
          for (int64_t w = 0; w < W; ++w) row[w] = base[(w / p) * sp + (w % p) * se];
        }
      }
    }
  });
}

}  // namespace sieve::cpu
