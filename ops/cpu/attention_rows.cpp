// ops/cpu/attention_rows.cpp — attention one head at a time with every product in vector
// registers, for float heads of D = 16, 32, 48 or 64 (ViT-tiny: 50 tokens, D = 16).
//
// Why not BLAS here: a ViT-tiny head's products are 50×50×16. At that size a BLAS call's fixed
// costs (argument checks, packing its panels, edge kernels) outweigh its 40 000 multiply-adds, and
// ops/cpu/attention.cpp, which makes four or five such calls per head, ran at about 60 GFLOP/s on
// this project's 2-core AVX-512 machine. With D a multiple of 16, a row of q, k, v or g is one to
// four 16-float vectors, and every product of attention takes one of two register-resident forms:
//
//   row times packed   s_i = Σ_d a_i[d] · bᵀ[d]       vectorised along s's row; bᵀ packed (D, Lk↑16)
//   weighted rows      o_r = Σ_t w[r, t] · rows_t     vectorised along D; w broadcast, 4 outputs at once
//
//   forward:  s = scale·q·kᵀ (row times packed kᵀ); softmax of each row of s in place;
//             out = P·v (weighted rows: out_i = Σ_j P_ij v_j)
//   backward: dP = g·vᵀ (row times packed vᵀ); dS = scale·P ⊙ (dP − rowsum(P ⊙ dP));
//             dq_i = Σ_j dS_ij k_j;  dv_j = Σ_i P_ij g_i;  dk_j = Σ_i dS_ij q_i  (weighted rows)
//
// Both forms keep 4 independent accumulator chains, so the FMA latency is hidden, and read each
// loaded row or broadcast once for all 4. The `GCC unroll` pragmas keep those accumulators in
// registers: without them GCC kept them in a stack array and the kernels ran 2-4× slower. The masks and the math are those of the reference in
// ops/cpu/attention.cpp (masked probabilities are exactly 0, a query with no visible key gets
// zeros); tests/ops/test_attention.cpp checks the two paths agree.
//
// Vectors are GCC vector extensions, not intrinsics: with -Dnative=false they lower to whatever
// the target has. Extend: another head size multiple of 16 is one more case in with_head_size.
#include "ops/cpu/attention_rows.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ops/cpu/attention.h"
#include "ops/cpu/fastmath.h"

namespace sieve::cpu {

namespace {

constexpr int kLanes = 16;  // floats per vector: one AVX-512 register
using Vec = float __attribute__((vector_size(kLanes * sizeof(float))));
constexpr int kBlock = 4;  // output rows (or vectors) computed together

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);  // unaligned load; compiles to one vmovups
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

int64_t round_up(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

// bt (D, Lkp) := bᵀ for b (Lk, D), zero in columns Lk..Lkp−1.
void pack_transposed(HeadRows b, int64_t Lk, int64_t D, int64_t Lkp, float* bt) {
  for (int64_t d = 0; d < D; ++d) {
    float* row = bt + d * Lkp;
    for (int64_t j = 0; j < Lk; ++j) row[j] = b.p[j * b.ld + d];
    std::fill(row + Lk, row + Lkp, 0.0f);
  }
}

// s (Lq, Lkp) := alpha · a·bᵀ, with bt = bᵀ packed (D, Lkp). Row i of s is Σ_d a_i[d]·bt[d]: a
// sum of D rows of bt scaled by broadcasts. Computed kBlock rows × kBlock vectors at a time: per d,
// the kBlock vectors of bt[d] are loaded once for kBlock rows (16 accumulators in registers), so
// each load feeds 4 FMAs. (One row at a time, each FMA read its own vector of bt: 5 loads per 4
// FMAs, and the loop ran load-bound at 2.7× the time of P·v's equal FLOPs, measured with perf.)
template <int D, int R>
void rows_block_times_packed(const float* const (&ai)[R], const float* bt, int64_t Lkp, int64_t j, float alpha,
                             const float (&add)[R], float* const (&si)[R], float* colmax) {
  Vec c[R][kBlock] = {};
  for (int d = 0; d < D; ++d) {
    Vec b[kBlock];
    #pragma GCC unroll 16
    for (int u = 0; u < kBlock; ++u) b[u] = load(bt + d * Lkp + j + u * kLanes);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float x = ai[r][d];
      #pragma GCC unroll 16
      for (int u = 0; u < kBlock; ++u) c[r][u] += x * b[u];
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int u = 0; u < kBlock; ++u) {
      c[r][u] = alpha * c[r][u] + add[r];
      store(si[r] + j + u * kLanes, c[r][u]);
    }
  if (colmax == nullptr) return;
  #pragma GCC unroll 16
  for (int u = 0; u < kBlock; ++u) {
    Vec mx = load(colmax + j + u * kLanes);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) mx = mx > c[r][u] ? mx : c[r][u];
    store(colmax + j + u * kLanes, mx);
  }
}

// The last 1-3 vectors of a row of s (and of colmax).
template <int D>
void row_tail_times_packed(const float* ai, const float* bt, int64_t Lkp, int64_t j, float alpha, float add, float* si,
                           float* colmax) {
  for (; j < Lkp; j += kLanes) {
    Vec c = {};
    for (int d = 0; d < D; ++d) c += ai[d] * load(bt + d * Lkp + j);
    c = alpha * c + add;
    store(si + j, c);
    if (colmax != nullptr) {
      const Vec mx = load(colmax + j);
      store(colmax + j, mx > c ? mx : c);
    }
  }
}

// colmax, when not null: Lkp values, on return the largest of each column of s and what they held.
// row_add, when not null: Lq values, row_add[i] added to every value of row i after alpha (the
// scores of key i: attention's key bias, ToMe's log sizes).
template <int D>
void rows_times_packed(HeadRows a, int64_t Lq, const float* bt, int64_t Lkp, float alpha, float* s,
                       float* colmax = nullptr, const float* row_add = nullptr) {
  const auto add_of = [row_add](int64_t i) { return row_add ? row_add[i] : 0.0f; };
  int64_t i = 0;
  for (; i + kBlock <= Lq; i += kBlock) {
    const float* const ai[kBlock] = {a.p + i * a.ld, a.p + (i + 1) * a.ld, a.p + (i + 2) * a.ld, a.p + (i + 3) * a.ld};
    float* const si[kBlock] = {s + i * Lkp, s + (i + 1) * Lkp, s + (i + 2) * Lkp, s + (i + 3) * Lkp};
    const float add[kBlock] = {add_of(i), add_of(i + 1), add_of(i + 2), add_of(i + 3)};
    int64_t j = 0;
    for (; j + kBlock * kLanes <= Lkp; j += kBlock * kLanes)
      rows_block_times_packed<D, kBlock>(ai, bt, Lkp, j, alpha, add, si, colmax);
    for (int r = 0; r < kBlock; ++r) row_tail_times_packed<D>(ai[r], bt, Lkp, j, alpha, add[r], si[r], colmax);
  }
  for (; i < Lq; ++i) {  // the last 1-3 rows
    const float* const ai[1] = {a.p + i * a.ld};
    float* const si[1] = {s + i * Lkp};
    const float add[1] = {add_of(i)};
    int64_t j = 0;
    for (; j + kBlock * kLanes <= Lkp; j += kBlock * kLanes)
      rows_block_times_packed<D, 1>(ai, bt, Lkp, j, alpha, add, si, colmax);
    row_tail_times_packed<D>(ai[0], bt, Lkp, j, alpha, add[0], si[0], colmax);
  }
}

// out_r := Σ_{t<T} w[r·wr + t·wt] · rows_t for the NR output rows r, each D floats. rows_t is
// loaded once for all NR outputs; the NR·D/16 accumulators stay in registers.
template <int D, int NR>
void weighted_rows_block(int64_t T, const float* w, int64_t wr, int64_t wt, HeadRows rows, float* out,
                         int64_t out_ld, const float* scale) {
  constexpr int V = D / kLanes;
  Vec acc[NR][V] = {};
  for (int64_t t = 0; t < T; ++t) {
    Vec x[V];
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) x[v] = load(rows.p + t * rows.ld + v * kLanes);
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      const float c = w[r * wr + t * wt];
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] += c * x[v];
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < V; ++v) store(out + r * out_ld + v * kLanes, scale ? scale[r] * acc[r][v] : acc[r][v]);
}

// All n output rows, kBlock at a time, then the 1-3 left over. scale, when not null: n values,
// output row r multiplied by scale[r] as it is stored.
template <int D>
void weighted_rows(int64_t n, int64_t T, const float* w, int64_t wr, int64_t wt, HeadRows rows, HeadRowsOut out,
                   const float* scale = nullptr) {
  int64_t r = 0;
  const auto at = [&](int64_t row) { return scale ? scale + row : nullptr; };
  for (; r + kBlock <= n; r += kBlock)
    weighted_rows_block<D, kBlock>(T, w + r * wr, wr, wt, rows, out.p + r * out.ld, out.ld, at(r));
  const float* wl = w + r * wr;
  float* ol = out.p + r * out.ld;
  switch (n - r) {
    case 3: weighted_rows_block<D, 3>(T, wl, wr, wt, rows, ol, out.ld, at(r)); break;
    case 2: weighted_rows_block<D, 2>(T, wl, wr, wt, rows, ol, out.ld, at(r)); break;
    case 1: weighted_rows_block<D, 1>(T, wl, wr, wt, rows, ol, out.ld, at(r)); break;
    default: break;
  }
}

// Without masks: e = exp(s − m) down each column of Sᵀ over all Lkp columns (the padding
// columns are computed and never read: whole vectors, no tail), inv := 1 / Σ_j e per column. The
// columns' max m came with the scores (rows_times_packed's colmax); the division by the sum is
// left to whoever reads e (the P·v rows, the saved probabilities), one multiply per value there
// instead of a pass over Sᵀ here.
void exp_columns(float* st, int64_t Lkp, int64_t Lk, const float* m, float* inv) {
  for (int64_t i = 0; i < Lkp; i += kLanes) store(inv + i, Vec{});
  for (int64_t j = 0; j < Lk; ++j) {
    float* row = st + j * Lkp;
    for (int64_t i = 0; i < Lkp; i += kLanes) {
      Vec e;
      const Vec x = load(row + i) - load(m + i);
      for (int l = 0; l < kLanes; ++l) e[l] = exp_nonpositive(x[l]);
      store(row + i, e);
      store(inv + i, load(inv + i) + e);
    }
  }
  for (int64_t i = 0; i < Lkp; ++i) inv[i] = 1.0f / inv[i];  // ≥ 1: the max's own term is exp(0)
}

template <int D>
void forward_head(HeadRows q, HeadRows k, HeadRows v, HeadRowsOut out, int64_t Lq, int64_t Lk, float scale,
                  bool causal, const uint8_t* padded, const float* bias, float* probs_t, float* cls_row,
                  RowsScratch& scratch) {
  const int64_t Lqp = round_up(Lq);
  scratch.packed.resize(static_cast<size_t>(D * Lqp));
  scratch.scores.resize(static_cast<size_t>(Lk * Lqp));
  scratch.m.resize(static_cast<size_t>(Lqp));
  scratch.inv.resize(static_cast<size_t>(Lqp));
  float* st = scratch.scores.data();
  pack_transposed(q, Lq, D, Lqp, scratch.packed.data());
  // P = e·row_scale, e in st: with masks, the shared column softmax leaves P itself (no scale);
  // without, the one-pass path leaves e and 1/sum, applied where P is read.
  const float* row_scale = nullptr;
  if (causal || padded != nullptr) {
    rows_times_packed<D>(k, Lk, scratch.packed.data(), Lqp, scale, st);  // Sᵀ = scale·k·qᵀ
    softmax_columns(st, Lqp, Lq, Lk, causal, padded, bias, scratch.m.data(), scratch.inv.data());  // Pᵀ
  } else {
    // No masks (a key bias is added to its row of Sᵀ with the scores): the columns' max taken
    // with the scores, exp in one pass (exp_nonpositive). Measured on this project's 2-core
    // machine (perf, and `sieve bench ops`' attention rows): the three-pass softmax had been 30%
    // of the forward's time; the forward went 69-75 → 88 GFLOP/s at ViT-tiny's 128×4×50×16 and
    // 88 → 110-125 at 64×4×197×16.
    float* m = scratch.m.data();
    std::fill(m, m + Lqp, -std::numeric_limits<float>::infinity());
    rows_times_packed<D>(k, Lk, scratch.packed.data(), Lqp, scale, st, m, bias);  // Sᵀ (+ key bias), column maxima
    exp_columns(st, Lqp, Lk, m, scratch.inv.data());
    row_scale = scratch.inv.data();
  }
  const auto p_at = [&](int64_t j, int64_t i) {
    return row_scale ? st[j * Lqp + i] * row_scale[i] : st[j * Lqp + i];
  };
  if (probs_t != nullptr)
    for (int64_t j = 0; j < Lk; ++j)
      for (int64_t i = 0; i < Lq; ++i) probs_t[j * Lq + i] = p_at(j, i);
  if (cls_row != nullptr)
    for (int64_t j = 0; j < Lk; ++j) cls_row[j] = p_at(j, 0);
  weighted_rows<D>(Lq, Lk, st, 1, Lqp, v, out, row_scale);  // out_i = row_scale_i · Σ_j Pᵀ_ji v_j
}

template <int D>
void backward_head(HeadRows q, HeadRows k, HeadRows v, HeadRows g, const float* pt, HeadRowsOut dq, HeadRowsOut dk,
                   HeadRowsOut dv, int64_t Lq, int64_t Lk, float scale, RowsScratch& scratch) {
  const int64_t Lqp = round_up(Lq);
  scratch.packed.resize(static_cast<size_t>(D * Lqp));
  scratch.scores.resize(static_cast<size_t>(Lk * Lqp));
  scratch.delta.assign(static_cast<size_t>(Lq), 0.0);
  float* dst = scratch.scores.data();
  double* delta = scratch.delta.data();
  pack_transposed(g, Lq, D, Lqp, scratch.packed.data());
  rows_times_packed<D>(v, Lk, scratch.packed.data(), Lqp, 1.0f, dst);  // dPᵀ = v·gᵀ
  // dSᵀ = scale·Pᵀ ⊙ (dPᵀ − δ), δ_i = Σ_j P_ij·dP_ij: down the columns, as vertical vector
  // operations over the queries; δ in double, as the reference (Lk terms of mixed sign).
  for (int64_t j = 0; j < Lk; ++j) {
    const float* p = pt + j * Lq;
    const float* d = dst + j * Lqp;
#pragma omp simd
    for (int64_t i = 0; i < Lq; ++i) delta[i] += static_cast<double>(p[i]) * static_cast<double>(d[i]);
  }
  for (int64_t j = 0; j < Lk; ++j) {
    const float* p = pt + j * Lq;
    float* d = dst + j * Lqp;
#pragma omp simd
    for (int64_t i = 0; i < Lq; ++i) d[i] = scale * p[i] * (d[i] - static_cast<float>(delta[i]));
  }
  if (dq.p != nullptr) weighted_rows<D>(Lq, Lk, dst, 1, Lqp, k, dq);  // dq_i = Σ_j dSᵀ_ji k_j
  if (dv.p != nullptr) weighted_rows<D>(Lk, Lq, pt, Lq, 1, g, dv);    // dv_j = Σ_i Pᵀ_ji g_i
  if (dk.p != nullptr) weighted_rows<D>(Lk, Lq, dst, Lqp, 1, q, dk);  // dk_j = Σ_i dSᵀ_ji q_i
}

// Calls f.template operator()<D>() with D as a compile-time constant.
template <typename F>
void with_head_size(int64_t D, F&& f) {
  switch (D) {
    case 16: f.template operator()<16>(); break;
    case 32: f.template operator()<32>(); break;
    case 48: f.template operator()<48>(); break;
    case 64: f.template operator()<64>(); break;
    default: break;  // rows_kernel_fits keeps other sizes away
  }
}

}  // namespace

bool rows_kernel_fits(int64_t Lq, int64_t Lk, int64_t D) {
  return D % kLanes == 0 && D >= kLanes && D <= 4 * kLanes && Lq >= 1 && Lk >= 1 && Lq <= 1024 && Lk <= 1024;
}

void rows_forward_head(HeadRows q, HeadRows k, HeadRows v, HeadRowsOut out, int64_t Lq, int64_t Lk, int64_t D,
                       float scale, bool causal, const uint8_t* padded, const float* bias, float* probs_t, float* cls_row,
                       RowsScratch& scratch) {
  with_head_size(D, [&]<int HD>() {
    forward_head<HD>(q, k, v, out, Lq, Lk, scale, causal, padded, bias, probs_t, cls_row, scratch);
  });
}

void rows_backward_head(HeadRows q, HeadRows k, HeadRows v, HeadRows g, const float* probs_t, HeadRowsOut dq,
                        HeadRowsOut dk, HeadRowsOut dv, int64_t Lq, int64_t Lk, int64_t D, float scale,
                        RowsScratch& scratch) {
  with_head_size(D, [&]<int HD>() { backward_head<HD>(q, k, v, g, probs_t, dq, dk, dv, Lq, Lk, scale, scratch); });
}

}  // namespace sieve::cpu
