// ops/cpu/attention.cpp — fused attention, forward and backward, one (b, h) head per task.
//
// Per head, with P the probabilities (Lq, Lk) and g the upstream gradient (Lq, D):
//   forward   Sᵀ = k·qᵀ·scale;  Pᵀ = softmax of each column of Sᵀ over its visible keys;  out = P·v
//   backward  dP = g·vᵀ;  dS = scale·P ⊙ (dP − rowsum(P ⊙ dP));  dv = Pᵀ·g;  dq = dS·k;  dk = dSᵀ·q
// Four products and a row loop: the products go to BLAS, one single-threaded call each (OpenBLAS
// runs single-threaded inside an OpenMP region), heads in parallel across threads. A head's q, k,
// v, g and out are handed to BLAS in place when their rows are strided but their columns
// adjacent (a permuted view of one projection); only other layouts are packed first.
//
// Why BLAS and not hand loops, at ViT-tiny sizes (q, k, v 50×16, S 50×50): measured on this
// project's 2-core machine, the first version of this file (plain loops over packed buffers)
// took 3× longer than these calls — its row accumulators went through memory on every step,
// where BLAS's micro-kernels keep them in registers.
//
// Why the forward works on Sᵀ (keys down, queries across): a query's softmax then runs down a
// column, so its max, exp and sum are plain vertical vector operations over all Lq queries at
// once. Row by row, each 50-key row paid two horizontal reductions and a masked tail: the softmax
// took 3.0 µs a head against 1.3 µs this way (transposing P out for backward included), and the
// whole forward of a ViT-tiny layer (128, 4, 50, 16) 1.7 ms against 1.45 ms on 2 threads, measured
// on this project's 2-core machine. out = P·v reads Pᵀ through BLAS's transpose flag; backward
// still gets P in rows, in probs.
//
// Masks: a masked score's probability is exactly 0 (its exp is), so backward needs no mask at all;
// a query with no visible key gets all zeros (a safe softmax). Keys a causal query cannot see are
// still multiplied in Sᵀ (BLAS takes whole matrices) and then set to −∞.
//
// Float heads of D = 16, 32, 48 or 64 do not come here: ops/cpu/attention_rows.cpp computes them
// with the same softmax_columns and no BLAS (why: see that file).
//
// What it is not: checks or autograd (ops/attention.cpp). Extend: a new mask kind sets its masked
// scores to −∞ in softmax_columns (the row kernels share it); a flash-style variant would tile Lk
// and recompute P in backward.
#include "ops/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "ops/cpu/attention_rows.h"
#include "ops/cpu/threads.h"
#include "ops/cpu/loops.h"
#include "ops/cpu/fastmath.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

struct Dims {
  int64_t B, H, Lq, Lk, D;
};

Dims dims_of(const Tensor& q, const Tensor& k) { return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)}; }

// One head's (L, D) matrix inside a strided (B, H, L, D) tensor: element (i, d) at p[i·rs + d·cs].
template <typename T>
struct HeadView {
  T* p;
  int64_t rs, cs;
};

template <typename T>
HeadView<T> head_of(const Tensor& t, T* base, int64_t b, int64_t h) {
  return {base + b * t.stride(0) + h * t.stride(1), t.stride(2), t.stride(3)};
}

// C (M, N) := alpha · op(A)·op(B), row-major, op = transpose when the flag is set.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T* C, int64_t ldc) {
  const auto op = [](bool t) { return t ? CblasTrans : CblasNoTrans; };
  const auto i = [](int64_t n) { return static_cast<int>(n); };  // sizes are checked to fit in the front end
  const SingleThreadedBlas one_thread;  // outside a region too: results must not follow the load
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, op(ta), op(tb), i(M), i(N), i(K), alpha, A, i(lda), B, i(ldb), 0.0f, C, i(ldc));
  else
    cblas_dgemm(CblasRowMajor, op(ta), op(tb), i(M), i(N), i(K), alpha, A, i(lda), B, i(ldb), 0.0, C, i(ldc));
}

// A head's (L, D) matrix as BLAS reads it: row i at p + i·ld, columns adjacent.
template <typename T>
struct Mat {
  T* p;
  int64_t ld;
};

// The head itself when BLAS can address it (columns adjacent, rows at least D apart), else buf:
// a packed copy of the head when read, scratch to be written back with write_back when not.
template <typename T>
Mat<T> as_matrix(HeadView<T> h, int64_t L, int64_t D, std::vector<T>& buf, bool read = true) {
  if (h.cs == 1 && (L == 1 || (h.rs >= D && h.rs <= INT_MAX))) return {h.p, L == 1 ? D : h.rs};
  if (read)
    for (int64_t i = 0; i < L; ++i)
      for (int64_t d = 0; d < D; ++d) buf[i * D + d] = h.p[i * h.rs + d * h.cs];
  return {buf.data(), D};
}

// Copies a result computed into buf (as_matrix's fallback) out to the head.
template <typename T>
void write_back(const Mat<T>& m, HeadView<T> h, int64_t L, int64_t D) {
  if (m.p == h.p) return;
  for (int64_t i = 0; i < L; ++i)
    for (int64_t d = 0; d < D; ++d) h.p[i * h.rs + d * h.cs] = m.p[i * D + d];
}

template <typename T>
void zero_head(HeadView<T> h, int64_t L, int64_t D) {
  for (int64_t i = 0; i < L; ++i)
    for (int64_t d = 0; d < D; ++d) h.p[i * h.rs + d * h.cs] = T(0);
}

}  // namespace

// st: one head's scores transposed, (Lk, Lq) with rows ld ≥ Lq apart, query i in column i → in
// place, column i holds the probabilities of query i over the keys it may see, 0 elsewhere. Query
// i sees every key that is not padded, or under the causal rule only keys j ≤ i + (Lk − Lq)
// (bottom-right aligned; queries before the diagonal starts see none). bias, when not null, holds Lk
// values added to every score of key j first (ToMe's log sizes).
// A query with no such key gets a column of zeros (a safe softmax), never 0/0 = NaN. m and inv are
// Lq values of scratch: each query's running max, then its 1/sum.
template <typename T>
void softmax_columns(T* __restrict st, int64_t ld, int64_t Lq, int64_t Lk, bool causal, const uint8_t* padded,
                     const T* bias, T* __restrict m, T* __restrict inv) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < Lk; ++j) {
    T* row = st + j * ld;
    if (padded != nullptr && padded[j]) {
      std::fill(row, row + Lq, kNegInf);
      continue;
    }
    if (bias != nullptr) {
      const T bj = bias[j];
#pragma omp simd
      for (int64_t i = 0; i < Lq; ++i) row[i] += bj;
    }
    // Causal: key j is hidden from the queries i < j − (Lk − Lq).
    if (causal) std::fill(row, row + std::clamp<int64_t>(j - (Lk - Lq), 0, Lq), kNegInf);
  }
  std::fill(m, m + Lq, kNegInf);
  for (int64_t j = 0; j < Lk; ++j) {
    const T* row = st + j * ld;
#pragma omp simd
    for (int64_t i = 0; i < Lq; ++i) m[i] = row[i] > m[i] ? row[i] : m[i];
  }
  // A fully masked query keeps max −∞: use 0, so its exps are exp(−∞) = 0 rather than NaN.
  for (int64_t i = 0; i < Lq; ++i) m[i] = m[i] == kNegInf ? T(0) : m[i];
  // Summed in T across vector lanes: attention has tens to a few thousand keys, so a float sum
  // stays within about 1e-6 relative. exp(−∞ − m) is exactly 0: masked keys drop out.
  std::fill(inv, inv + Lq, T(0));
  for (int64_t j = 0; j < Lk; ++j) {
    T* row = st + j * ld;
#pragma omp simd
    for (int64_t i = 0; i < Lq; ++i) {
      const T e = exp_any(row[i] - m[i]);
      row[i] = e;
      inv[i] += e;
    }
  }
  for (int64_t i = 0; i < Lq; ++i) inv[i] = inv[i] > T(0) ? T(1) / inv[i] : T(0);
  for (int64_t j = 0; j < Lk; ++j) {
    T* row = st + j * ld;
#pragma omp simd
    for (int64_t i = 0; i < Lq; ++i) row[i] *= inv[i];
  }
}
template void softmax_columns<float>(float*, int64_t, int64_t, int64_t, bool, const uint8_t*, const float*, float*,
                                    float*);
template void softmax_columns<double>(double*, int64_t, int64_t, int64_t, bool, const uint8_t*, const double*,
                                      double*, double*);

namespace {

// ds (Lq, Lk), holding dp = g·vᵀ, := scale · p ⊙ (dp − δ), δ = Σ_j p⊙dp per row (softmax backward).
// Masked entries have p = 0, so they get 0 without looking at the masks.
template <typename T>
void softmax_backward_rows(const T* __restrict p, T* __restrict ds, int64_t Lq, int64_t Lk, T scale) {
  for (int64_t i = 0; i < Lq; ++i) {
    const T* pi = p + i * Lk;
    T* di = ds + i * Lk;
    double delta = 0;  // in double: Lk terms of mixed sign
#pragma omp simd reduction(+ : delta)
    for (int64_t j = 0; j < Lk; ++j) delta += static_cast<double>(pi[j]) * static_cast<double>(di[j]);
    const T dl = static_cast<T>(delta);
#pragma omp simd
    for (int64_t j = 0; j < Lk; ++j) di[j] = scale * pi[j] * (di[j] - dl);
  }
}

// The (B, Lk) padding flags as bytes (empty when there is no mask); the mask may be any dtype.
std::vector<uint8_t> padded_flags(const Tensor& mask) {
  std::vector<uint8_t> flags;
  if (!mask.defined()) return flags;
  flags.resize(static_cast<size_t>(mask.numel()));
  dispatch_all(mask.dtype(), Op::attention, [&]<typename M>() {
    const M* m = mask.data<M>();
    for (size_t i = 0; i < flags.size(); ++i) flags[i] = m[i] != M(0);
  });
  return flags;
}

// Runs body(b, h) over every head in parallel when the work pays for the threads. init() runs
// once per thread first (the per-thread buffers); a failed allocation there or in body is thrown
// after the region (core/thread_errors.h).
template <typename Init, typename Body>
void for_each_head(const Dims& dm, Init&& init, Body&& body) {
  const int64_t heads = dm.B * dm.H;
  const bool big = heads * dm.Lq * std::max<int64_t>(dm.Lk, 1) * dm.D >= kParallelGrain;
  ThreadErrors errors;
#pragma omp parallel if (big && heads > 1)
  {
    std::optional<decltype(init())> buffers;
    errors.guard([&] { buffers.emplace(init()); });
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < heads; ++bh)
      errors.guard([&] { body(*buffers, bh / dm.H, bh % dm.H); });  // guard skips it when init failed
  }
  errors.rethrow();
}

template <typename T>
void forward_typed(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMasks& masks, const Tensor& out,
                   const Tensor& probs, const Tensor& cls) {
  const Dims dm = dims_of(q, k);
  const int64_t Lq = dm.Lq, Lk = dm.Lk, D = dm.D;
  const std::vector<uint8_t> padded = padded_flags(masks.key_padding);
  std::vector<T> cls_rows(cls.defined() ? static_cast<size_t>(dm.B * dm.H * Lk) : 0);  // row 0 of each head
  T *qp = q.data<T>(), *kp = k.data<T>(), *vp = v.data<T>(), *op = out.data<T>();
  T* pp = probs.defined() ? probs.data<T>() : nullptr;

  // Float heads of 16-64 dims take the register-resident kernels of ops/cpu/attention_rows.cpp.
  const bool rows = std::is_same_v<T, float> && rows_kernel_fits(Lq, Lk, D);
  struct Buffers {  // packed copies of heads BLAS cannot read in place; Sᵀ; per-query max and 1/sum
    std::vector<T> q, k, v, o, st, m, inv;
    RowsScratch rows;
  };
  auto init = [&] {
    return Buffers{std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D), std::vector<T>(Lq * D),
                   std::vector<T>(rows ? 0 : Lk * Lq), std::vector<T>(Lq), std::vector<T>(Lq), {}};
  };
  for_each_head(dm, init, [&](Buffers& buf, int64_t b, int64_t h) {
    const int64_t bh = b * dm.H + h;
    const Mat<T> Q = as_matrix(head_of(q, qp, b, h), Lq, D, buf.q);
    const Mat<T> K = as_matrix(head_of(k, kp, b, h), Lk, D, buf.k);
    const Mat<T> V = as_matrix(head_of(v, vp, b, h), Lk, D, buf.v);
    const HeadView<T> out_head = head_of(out, op, b, h);
    if (Lk == 0) {  // no keys: every row is fully masked, so zeros
      zero_head(out_head, Lq, D);
      return;
    }
    const uint8_t* padded_b = padded.empty() ? nullptr : padded.data() + b * Lk;
    const T* bias_b = masks.key_bias.defined() ? masks.key_bias.data<T>() + b * Lk : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (rows) {
        const Mat<T> O = as_matrix(out_head, Lq, D, buf.o, false);
        rows_forward_head({Q.p, Q.ld}, {K.p, K.ld}, {V.p, V.ld}, {O.p, O.ld}, Lq, Lk, D, static_cast<float>(masks.scale),
                          masks.causal, padded_b, bias_b, pp != nullptr ? pp + bh * Lq * Lk : nullptr,  // saves Pᵀ
                          cls_rows.empty() ? nullptr : cls_rows.data() + bh * Lk, buf.rows);
        write_back(O, out_head, Lq, D);
        return;
      }
    }
    T* ST = buf.st.data();
    gemm(false, true, Lk, Lq, D, static_cast<T>(masks.scale), K.p, K.ld, Q.p, Q.ld, ST, Lq);  // Sᵀ = k·qᵀ·scale
    softmax_columns(ST, Lq, Lq, Lk, masks.causal, padded_b, bias_b, buf.m.data(),
                    buf.inv.data());
    const Mat<T> O = as_matrix(out_head, Lq, D, buf.o, false);
    gemm(true, false, Lq, D, Lk, T(1), ST, Lq, V.p, V.ld, O.p, O.ld);  // out = P·v, P read as (Pᵀ)ᵀ
    write_back(O, out_head, Lq, D);
    if (pp != nullptr) {  // P in rows for backward: the transpose of Sᵀ
      T* P = pp + bh * Lq * Lk;
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = 0; j < Lk; ++j) P[i * Lk + j] = ST[j * Lq + i];
    }
    if (!cls_rows.empty())  // query 0's probabilities: column 0 of Pᵀ
      for (int64_t j = 0; j < Lk; ++j) cls_rows[bh * Lk + j] = ST[j * Lq];
  });

  if (cls.defined()) {  // the mean over heads, summed in double
    T* c = cls.data<T>();
    for (int64_t b = 0; b < dm.B; ++b)
      for (int64_t j = 0; j < Lk; ++j) {
        double s = 0;
        for (int64_t h = 0; h < dm.H; ++h) s += static_cast<double>(cls_rows[(b * dm.H + h) * Lk + j]);
        c[b * Lk + j] = static_cast<T>(s / static_cast<double>(dm.H));
      }
  }
}

template <typename T>
void backward_typed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& g,
                    const AttentionMasks& masks, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  const Dims dm = dims_of(q, k);
  const int64_t Lq = dm.Lq, Lk = dm.Lk, D = dm.D;
  T *qp = q.data<T>(), *kp = k.data<T>(), *vp = v.data<T>(), *gp = g.data<T>();
  const T* pp = probs.data<T>();
  T* dqp = dq.defined() ? dq.data<T>() : nullptr;
  T* dkp = dk.defined() ? dk.data<T>() : nullptr;
  T* dvp = dv.defined() ? dv.data<T>() : nullptr;

  const bool rows = std::is_same_v<T, float> && rows_kernel_fits(Lq, Lk, D);
  struct Buffers {
    std::vector<T> q, k, v, g, dq, dk, dv, ds;
    RowsScratch rows;
  };
  auto init = [&] {
    return Buffers{std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D), std::vector<T>(Lq * D),
                   std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D),
                   std::vector<T>(rows ? 0 : Lq * Lk), {}};
  };
  for_each_head(dm, init, [&](Buffers& buf, int64_t b, int64_t h) {
    if (Lq == 0 || Lk == 0) {  // out was empty or constant zeros: no gradient
      if (dqp != nullptr) zero_head(head_of(dq, dqp, b, h), Lq, D);
      if (dkp != nullptr) zero_head(head_of(dk, dkp, b, h), Lk, D);
      if (dvp != nullptr) zero_head(head_of(dv, dvp, b, h), Lk, D);
      return;
    }
    const Mat<T> Q = as_matrix(head_of(q, qp, b, h), Lq, D, buf.q);
    const Mat<T> K = as_matrix(head_of(k, kp, b, h), Lk, D, buf.k);
    const Mat<T> V = as_matrix(head_of(v, vp, b, h), Lk, D, buf.v);
    const Mat<T> G = as_matrix(head_of(g, gp, b, h), Lq, D, buf.g);
    const T* P = pp + (b * dm.H + h) * Lq * Lk;
    if constexpr (std::is_same_v<T, float>) {
      if (rows) {
        // Gradients are computed into a head's packed buffer when it cannot be written in place.
        const auto target = [&](T* base, const Tensor& t, int64_t L, std::vector<T>& scratch) {
          if (base == nullptr) return std::pair{HeadView<T>{nullptr, 0, 0}, Mat<T>{nullptr, 0}};
          const HeadView<T> head = head_of(t, base, b, h);
          return std::pair{head, as_matrix(head, L, D, scratch, false)};
        };
        const auto [dq_head, DQ] = target(dqp, dq, Lq, buf.dq);
        const auto [dk_head, DK] = target(dkp, dk, Lk, buf.dk);
        const auto [dv_head, DV] = target(dvp, dv, Lk, buf.dv);
        rows_backward_head({Q.p, Q.ld}, {K.p, K.ld}, {V.p, V.ld}, {G.p, G.ld}, /*Pᵀ*/ P, {DQ.p, DQ.ld}, {DK.p, DK.ld},
                           {DV.p, DV.ld}, Lq, Lk, D, static_cast<float>(masks.scale), buf.rows);
        if (DQ.p != nullptr) write_back(DQ, dq_head, Lq, D);
        if (DK.p != nullptr) write_back(DK, dk_head, Lk, D);
        if (DV.p != nullptr) write_back(DV, dv_head, Lk, D);
        return;
      }
    }
    T* dS = buf.ds.data();
    gemm(false, true, Lq, Lk, D, T(1), G.p, G.ld, V.p, V.ld, dS, Lk);  // dP = g·vᵀ
    softmax_backward_rows(P, dS, Lq, Lk, static_cast<T>(masks.scale));  // dS, the scores' gradient
    if (dvp != nullptr) {  // dv = Pᵀ·g
      const HeadView<T> head = head_of(dv, dvp, b, h);
      const Mat<T> M = as_matrix(head, Lk, D, buf.dv, false);
      gemm(true, false, Lk, D, Lq, T(1), P, Lk, G.p, G.ld, M.p, M.ld);
      write_back(M, head, Lk, D);
    }
    if (dqp != nullptr) {  // dq = dS·k
      const HeadView<T> head = head_of(dq, dqp, b, h);
      const Mat<T> M = as_matrix(head, Lq, D, buf.dq, false);
      gemm(false, false, Lq, D, Lk, T(1), dS, Lk, K.p, K.ld, M.p, M.ld);
      write_back(M, head, Lq, D);
    }
    if (dkp != nullptr) {  // dk = dSᵀ·q
      const HeadView<T> head = head_of(dk, dkp, b, h);
      const Mat<T> M = as_matrix(head, Lk, D, buf.dk, false);
      gemm(true, false, Lk, D, Lq, T(1), dS, Lk, Q.p, Q.ld, M.p, M.ld);
      write_back(M, head, Lk, D);
    }
  });
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMasks& masks, const Tensor& out,
               const Tensor& probs, const Tensor& cls) {
  dispatch_float(q.dtype(), Op::attention,
                 [&]<typename T>() { forward_typed<T>(q, k, v, masks, out, probs, cls); });
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, const Tensor& g,
                        const AttentionMasks& masks, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  dispatch_float(q.dtype(), Op::attention,
                 [&]<typename T>() { backward_typed<T>(q, k, v, probs, g, masks, dq, dk, dv); });
}

}  // namespace sieve::cpu
