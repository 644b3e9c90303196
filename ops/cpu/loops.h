// ops/cpu/loops.h — the strided loop every CPU kernel that accepts arbitrary layouts is built on.
//
// for_each_row walks a shape row by row (a row is the last dim) for K tensors that share the shape
// but each have their own strides (a broadcast input has stride 0 along the broadcast dims). For
// every row it calls
//     body(offsets, n, inner_strides)
// where offsets[k] is tensor k's element offset of the row's first element, n the row length and
// inner_strides[k] tensor k's stride along the row. Rows run in parallel with OpenMP when the work
// is large enough to pay for the threads; a few long rows are cut into segments (the body may then
// see n shorter than the row) unless whole_rows is set — a body that sorts its row, or adds into
// destinations the whole row shares (topk, argsort, scatter_add), must see each row once, whole.
// Kernels keep a contiguous fast path beside this one.
//
// Extend: nothing to extend; write kernels as a loop over `n` inside body.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/shape.h"
#include "core/thread_errors.h"

namespace sieve::cpu {

// Below this many elements an OpenMP region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

template <size_t K, typename Body>
void for_each_row(const Shape& shape, const std::array<const Shape*, K>& strides, Body&& body,
                  bool whole_rows = false) {
  const int nd = static_cast<int>(shape.size());
  std::array<int64_t, K> inner{};
  if (nd == 0) {
    std::array<int64_t, K> zero{};
    body(zero, int64_t{1}, inner);
    return;
  }
  const int64_t n = shape[nd - 1];
  const int64_t total = numel_of(shape);
  if (total == 0) return;
  const int64_t rows = total / n;
  for (size_t k = 0; k < K; ++k) inner[k] = (*strides[k])[nd - 1];
  // Few long rows (a 1-d tensor, a broadcast scalar) are cut into segments so both cores work.
  const int64_t segments =
      (whole_rows || rows >= 16 || total < kParallelGrain) ? 1 : std::min<int64_t>(64, (n + 8191) / 8192);
  const int64_t segment_len = (n + segments - 1) / segments;

  ThreadErrors errors;  // a body may allocate (a row to sort): its failure becomes an error, not terminate
#pragma omp parallel for schedule(static) if (total >= kParallelGrain && rows * segments > 1)
  for (int64_t task = 0; task < rows * segments; ++task) {
    const int64_t row = task / segments;
    const int64_t begin = (task % segments) * segment_len;
    if (begin >= n) continue;
    std::array<int64_t, K> offsets{};
    int64_t rest = row;
    for (int d = nd - 2; d >= 0; --d) {
      const int64_t index = rest % shape[d];
      rest /= shape[d];
      for (size_t k = 0; k < K; ++k) offsets[k] += index * (*strides[k])[d];
    }
    for (size_t k = 0; k < K; ++k) offsets[k] += begin * inner[k];
    errors.guard([&] { body(offsets, std::min(segment_len, n - begin), inner); });
  }
  errors.rethrow();
}

// The strides that read tensor t as if expanded to `shape` (0 along broadcast dims), so kernels
// can broadcast without materialising the expansion.
inline Shape stretched_strides(const Shape& t_shape, const Shape& t_strides, const Shape& shape) {
  Shape out(shape.size(), 0);
  const size_t lead = shape.size() - t_shape.size();
  for (size_t i = lead; i < shape.size(); ++i)
    out[i] = t_shape[i - lead] == shape[i] ? t_strides[i - lead] : 0;
  return out;
}

}  // namespace sieve::cpu
