// ops/cpu/attention_rows.h — one attention head in vector registers, for float heads of D = 16,
// 32, 48 or 64 (ops/cpu/attention_rows.cpp). ops/cpu/attention.cpp, the reference, hands a head
// here when rows_kernel_fits(); the masks and math are the same, and the tests compare the two.
//
// A head's matrices are given as (pointer, ld): row i at p + i·ld, columns adjacent.
//   q (Lq, D), k, v (Lk, D), out (Lq, D), g like out.
//   probs_t (Lk, Lq) contiguous: this path saves Pᵀ, not P, for its backward — the layout its
//   softmax works in (see the .cpp). Forward and backward pick this path by the same test, so
//   a head's saved probabilities are always read by the path that wrote them.
#pragma once

#include <cstdint>
#include <vector>

namespace sieve::cpu {

// Heads of this size take the row kernels: D a multiple of 16 up to 64, and a score matrix small
// enough for a per-thread buffer that stays in cache.
bool rows_kernel_fits(int64_t Lq, int64_t Lk, int64_t D);

// Per-thread scratch, sized on first use.
struct RowsScratch {
  std::vector<float> packed;     // qᵀ or gᵀ, (D, Lq rounded up to 16)
  std::vector<float> scores;     // Sᵀ or dSᵀ, (Lk, Lq rounded up to 16)
  std::vector<float> m, inv;     // per query: max and 1/sum of its softmax
  std::vector<double> delta;     // per query: Σ_j P ⊙ dP
};

struct HeadRows {
  const float* p;
  int64_t ld;
};
struct HeadRowsOut {
  float* p;  // nullptr: not wanted
  int64_t ld;
};

// out := softmax(q·kᵀ·scale, masked)·v. Query i sees key j when j ≤ i + (Lk − Lq) (causal) and
// key j is not padded (padded: Lk flags or nullptr); bias (Lk values or nullptr) is added to key j's
// scores first; a query that sees no key gets zeros.
// probs_t (may be nullptr) receives Pᵀ; cls_row (may be nullptr) receives P's row 0.
void rows_forward_head(HeadRows q, HeadRows k, HeadRows v, HeadRowsOut out, int64_t Lq, int64_t Lk, int64_t D,
                       float scale, bool causal, const uint8_t* padded, const float* bias, float* probs_t, float* cls_row,
                       RowsScratch& scratch);

// dq, dk, dv (any may be nullptr) := the gradients of one head from g and the saved Pᵀ.
void rows_backward_head(HeadRows q, HeadRows k, HeadRows v, HeadRows g, const float* probs_t, HeadRowsOut dq,
                        HeadRowsOut dk, HeadRowsOut dv, int64_t Lq, int64_t Lk, int64_t D, float scale,
                        RowsScratch& scratch);

}  // namespace sieve::cpu
