// ops/cpu/conv.cpp — causal depthwise conv1d (channels last) and patch unfold/fold on the CPU.
//
// conv1d: channels are independent, so work splits into (batch, channel tile) pairs. Inside a
// tile the loops run t → k → c with c innermost: x and y rows are contiguous in c, and the
// weights are first transposed to (K, C) so they are contiguous in c too — the c loop is a plain
// vectorisable multiply-add. The weight and bias gradients sum over batch and time; each thread
// owns whole channel tiles, so there are no races and the sum order never depends on threads.
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

constexpr int64_t kChannelTile = 32;  // channels per work item: enough to fill vector registers

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
        const int64_t c0 = tile * kChannelTile, c1 = std::min(C, c0 + kChannelTile);
        for (int64_t t = 0; t < L; ++t) {
          T* yr = yp + (b * L + t) * C;
          for (int64_t c = c0; c < c1; ++c) yr[c] = b0[c];
          // tap k reads x[t − K + 1 + k]; taps before the sequence start read zeros, so skip them
          for (int64_t k = std::max<int64_t>(0, K - 1 - t); k < K; ++k) {
            const T* xr = xp + b * sb + (t - K + 1 + k) * sl;
            const T* wr = wt.data() + k * C;
#pragma omp simd
            for (int64_t c = c0; c < c1; ++c) yr[c] += wr[c] * xr[c];
          }
        }
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
          const int64_t c0 = tile * kChannelTile, c1 = std::min(C, c0 + kChannelTile);
          for (int64_t s = 0; s < L; ++s) {
            T* out = gxp + (b * L + s) * C;
            for (int64_t c = c0; c < c1; ++c) out[c] = T(0);
            for (int64_t k = std::max<int64_t>(0, s + K - L); k < K; ++k) {
              const T* gr = gp + b * gsb + (s + K - 1 - k) * gsl;
              const T* wr = wt.data() + k * C;
#pragma omp simd
              for (int64_t c = c0; c < c1; ++c) out[c] += wr[c] * gr[c];
            }
          }
        }
      }
    }

    // gw[c, k] = Σ_{b,t} g[b, t, c] · x[b, t − K + 1 + k, c];  gb[c] = Σ_{b,t} g[b, t, c]
    if (gw.defined() || gb.defined()) {
      T* gwp = gw.defined() ? gw.data<T>() : nullptr;
      T* gbp = gb.defined() ? gb.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (parallel && tiles > 1)
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kChannelTile, c1 = std::min(C, c0 + kChannelTile), n = c1 - c0;
        std::vector<T> acc(static_cast<size_t>(K * n), T(0)), bacc(static_cast<size_t>(n), T(0));
        for (int64_t b = 0; b < B; ++b) {
          for (int64_t t = 0; t < L; ++t) {
            const T* gr = gp + b * gsb + t * gsl + c0;
            for (int64_t c = 0; c < n; ++c) bacc[c] += gr[c];
            for (int64_t k = std::max<int64_t>(0, K - 1 - t); k < K; ++k) {
              const T* xr = xp + b * xsb + (t - K + 1 + k) * xsl + c0;
              T* a = acc.data() + k * n;
#pragma omp simd
              for (int64_t c = 0; c < n; ++c) a[c] += gr[c] * xr[c];
            }
          }
        }
        for (int64_t c = 0; c < n; ++c) {
          if (gbp != nullptr) gbp[c0 + c] = bacc[c];
          if (gwp != nullptr)
            for (int64_t k = 0; k < K; ++k) gwp[(c0 + c) * K + k] = acc[k * n + c];
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
