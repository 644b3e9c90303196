// ops/cpu/attention.cpp — fused attention, forward and backward, one (b, h) head per task.
//
// Per head, with P the probabilities (Lq, Lk) and g the upstream gradient (Lq, D):
//   forward   S = q·kᵀ·scale;  P = softmax of each row of S over its visible keys;  out = P·v
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
// Masks: a masked score's probability is exactly 0 (its exp is), so backward needs no mask at all;
// a row with no visible key is all zeros (a safe softmax). Keys a causal row cannot see are still
// multiplied in S (BLAS takes whole matrices) and then zeroed.
//
// What it is not: checks or autograd (ops/attention.cpp). Extend: a new mask kind changes
// visible_keys or softmax_row; a flash-style variant would tile Lk and recompute P in backward.
#include "ops/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <limits>
#include <type_traits>
#include <vector>

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

// Query row i sees keys j < visible_keys(i): all of them, or under the causal rule
// j ≤ i + (Lk − Lq) (bottom-right aligned; rows before the diagonal starts see none).
int64_t visible_keys(const Dims& dm, bool causal, int64_t i) {
  return causal ? std::clamp<int64_t>(i + dm.Lk - dm.Lq + 1, 0, dm.Lk) : dm.Lk;
}

// s: one row of Lk scores → its probabilities over the keys j < n that are not padded; every
// other entry 0. A row with no such key becomes all zeros (a safe softmax), never 0/0 = NaN.
template <typename T>
void softmax_row(T* __restrict s, int64_t n, int64_t Lk, const uint8_t* padded) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  std::fill(s + n, s + Lk, T(0));
  if (padded != nullptr)
    for (int64_t j = 0; j < n; ++j)
      if (padded[j]) s[j] = kNegInf;
  T m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  if (m == kNegInf) {
    std::fill(s, s + n, T(0));
    return;
  }
  // Summed in T across vector lanes: attention rows are short (tens to a few thousand keys), so
  // a float sum stays within about 1e-6 relative. exp(−∞ − m) is exactly 0: padded keys drop out.
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    const T e = exp_any(s[j] - m);
    s[j] = e;
    sum += e;
  }
  const T inv = T(1) / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

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
// once per thread first (the per-thread buffers).
template <typename Init, typename Body>
void for_each_head(const Dims& dm, Init&& init, Body&& body) {
  const int64_t heads = dm.B * dm.H;
  const bool big = heads * dm.Lq * std::max<int64_t>(dm.Lk, 1) * dm.D >= kParallelGrain;
#pragma omp parallel if (big && heads > 1)
  {
    auto buffers = init();
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < heads; ++bh) body(buffers, bh / dm.H, bh % dm.H);
  }
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

  struct Buffers {  // packed copies of heads BLAS cannot read in place, and the scores
    std::vector<T> q, k, v, o, scores;
  };
  auto init = [&] {
    return Buffers{std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D), std::vector<T>(Lq * D),
                   std::vector<T>(pp != nullptr ? 0 : Lq * Lk)};
  };
  for_each_head(dm, init, [&](Buffers& buf, int64_t b, int64_t h) {
    const int64_t bh = b * dm.H + h;
    const Mat<T> Q = as_matrix(head_of(q, qp, b, h), Lq, D, buf.q);
    const Mat<T> K = as_matrix(head_of(k, kp, b, h), Lk, D, buf.k);
    const Mat<T> V = as_matrix(head_of(v, vp, b, h), Lk, D, buf.v);
    const HeadView<T> out_head = head_of(out, op, b, h);
    T* P = pp != nullptr ? pp + bh * Lq * Lk : buf.scores.data();
    if (Lk == 0) {  // no keys: every row is fully masked, so zeros
      zero_head(out_head, Lq, D);
      return;
    }
    gemm(false, true, Lq, Lk, D, static_cast<T>(masks.scale), Q.p, Q.ld, K.p, K.ld, P, Lk);  // S = q·kᵀ·scale
    const uint8_t* pad = padded.empty() ? nullptr : padded.data() + b * Lk;
    for (int64_t i = 0; i < Lq; ++i) softmax_row(P + i * Lk, visible_keys(dm, masks.causal, i), Lk, pad);
    const Mat<T> O = as_matrix(out_head, Lq, D, buf.o, false);
    gemm(false, false, Lq, D, Lk, T(1), P, Lk, V.p, V.ld, O.p, O.ld);  // out = P·v
    write_back(O, out_head, Lq, D);
    if (!cls_rows.empty()) std::copy(P, P + Lk, cls_rows.begin() + bh * Lk);
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

  struct Buffers {
    std::vector<T> q, k, v, g, dq, dk, dv, ds;
  };
  auto init = [&] {
    return Buffers{std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D), std::vector<T>(Lq * D),
                   std::vector<T>(Lq * D), std::vector<T>(Lk * D), std::vector<T>(Lk * D), std::vector<T>(Lq * Lk)};
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
