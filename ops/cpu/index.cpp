// ops/cpu/index.cpp — embedding, gather, scatter_add, topk and argsort on the CPU.
//
// Two loop shapes cover most of the family:
//   gather-like (reads scattered, writes in order): for_each_row over the index's shape, the
//     source read at its strides with its `dim` stride replaced by index·stride. Rows never
//     collide, so rows run in parallel.
//   scatter-like (writes scattered): the same walk with `dim` moved to the innermost loop. Two
//     positions that differ outside `dim` write to different destinations, so rows (everything
//     but dim) run in parallel and the accumulation along dim stays in one thread: no races and
//     the same sum order for any thread count.
// When the index is one vector broadcast over the other dims (index_select and its backward),
// both take the row path instead: whole contiguous blocks copied (gather_rows) or added along dim
// (scatter_rows), the same values and sums in the same order, a block at a time, not an element.
// embedding's backward is a scatter too, but with a huge dim (the vocabulary) and few rows; it
// buckets positions by vocabulary row first and gives each thread whole rows.
//
// What it is not: index validation (the front end checks every index before a kernel runs).
#include "ops/cpu/index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <type_traits>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

namespace {

// `s` with element `dim` moved to the end, so for_each_row's rows run along dim.
Shape move_last(Shape s, int dim) {
  const int64_t v = s[dim];
  s.erase(s.begin() + dim);
  s.push_back(v);
  return s;
}

// NaN sorts above every number, as in PyTorch; otherwise the usual order.
template <typename T>
bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return !std::isnan(a) && (std::isnan(b) || a < b);
  return a < b;
}

}  // namespace

BadIndex find_bad_index(const Tensor& index, int64_t size) {
  if (index.numel() == 0) return {};
  const int64_t* p = index.data<int64_t>();
  // Dims of stride 0 (an expanded index) repeat the same entries: only the others are walked, so
  // checking an index broadcast over C channels costs its distinct entries, not C times them.
  Shape shape, strides;
  for (int d = 0; d < index.ndim(); ++d) {
    if (index.stride(d) == 0 || index.size(d) == 1) continue;
    shape.push_back(index.size(d));
    strides.push_back(index.stride(d));
  }
  const int nd = static_cast<int>(shape.size());
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  // Serial on purpose: it is one cheap pass, and the serial order names the first bad index.
  std::vector<int64_t> pos(nd, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = p[off];
    if (v < 0 || v >= size) return {true, v};
    for (int d = nd - 1; d >= 0; --d) {  // odometer step to the next element
      off += strides[d];
      if (++pos[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      pos[d] = 0;
    }
  }
  return {};
}

// ---- embedding ----

void embedding(const Tensor& weight, const Tensor& ids, const Tensor& out) {
  // weight: (V, C), ids: (N), out: (N, C) contiguous
  dispatch_float(weight.dtype(), Op::embedding, [&]<typename T>() {
    const int64_t N = ids.numel(), C = weight.shape()[1];
    const int64_t sv = weight.strides()[0], sc = weight.strides()[1], si = N > 0 ? ids.strides()[0] : 0;
    const T* w = weight.data<T>();
    const int64_t* id = ids.data<int64_t>();
    T* o = out.data<T>();
#pragma omp parallel for schedule(static) if (N * C >= kParallelGrain && N > 1)
    for (int64_t n = 0; n < N; ++n) {
      const T* src = w + id[n * si] * sv;
      T* dst = o + n * C;
      if (sc == 1) {
        std::memcpy(dst, src, static_cast<size_t>(C) * sizeof(T));
      } else {
        for (int64_t c = 0; c < C; ++c) dst[c] = src[c * sc];
      }
    }
  });
}

void embedding_backward(const Tensor& g, const Tensor& ids, const Tensor& grad_weight) {
  // g: (N, C), ids: (N), grad_weight: (V, C) contiguous zeros
  dispatch_float(g.dtype(), Op::embedding, [&]<typename T>() {
    const int64_t N = ids.numel(), V = grad_weight.shape()[0], C = grad_weight.shape()[1];
    const int64_t si = N > 0 ? ids.strides()[0] : 0;
    const int64_t gn = g.strides()[0], gc = g.strides()[1];
    const int64_t* id = ids.data<int64_t>();
    const T* gp = g.data<T>();
    T* gw = grad_weight.data<T>();

    // Bucket the positions by vocabulary row (a counting sort; positions stay in order within a
    // row): row v's positions are order[start[v] .. start[v + 1]).
    std::vector<int64_t> start(V + 1, 0), order(N);
    for (int64_t n = 0; n < N; ++n) ++start[id[n * si] + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t n = 0; n < N; ++n) order[next[id[n * si]]++] = n;

    // Each thread owns whole rows of grad_weight; dynamic schedule because rows differ in count.
#pragma omp parallel for schedule(dynamic, 16) if (N * C >= kParallelGrain)
    for (int64_t v = 0; v < V; ++v) {
      T* dst = gw + v * C;
      for (int64_t j = start[v]; j < start[v + 1]; ++j) {
        const T* src = gp + order[j] * gn;
        if (gc == 1) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
        } else {
          for (int64_t c = 0; c < C; ++c) dst[c] += src[c * gc];
        }
      }
    }
  });
}

// ---- gather / scatter_add ----

namespace {

// Whether the dims after `dim` are laid out row-major and contiguous in t (one block per position).
bool inner_contiguous(const Tensor& t, int dim) {
  int64_t expected = 1;
  for (int d = t.ndim() - 1; d > dim; --d) {
    if (t.size(d) != 1 && t.stride(d) != expected) return false;
    expected *= t.size(d);
  }
  return true;
}

// The row path of gather and scatter_add: one index per position along dim, the same for every
// other position (stride 0 outside dim, as index_select's index and its backward have), `dense`
// (gather's out, scatter_add's src) of the index's shape, `indexed` (gather's x, scatter_add's out)
// of its shape outside dim, both contiguous after dim, their dims before dim collapsible into one
// stride. Then position (o, i) moves one contiguous block of `inner` elements between dense's
// block (o, i) and indexed's block (o, index[i]), where the element walk would step along dim with
// the inner size as its stride (a cache line per element: 1 GFLOP/s).
struct RowPath {
  int64_t outer = 1, n = 0, inner = 1;  // positions before dim, along dim, after dim
  int64_t dense_outer = 0, dense_dim = 0, indexed_outer = 0, indexed_dim = 0, index_dim = 0;  // strides
};

std::optional<RowPath> row_path(const Tensor& indexed, const Tensor& dense, int dim, const Tensor& index) {
  if (index.shape() != dense.shape()) return std::nullopt;
  for (int d = 0; d < index.ndim(); ++d) {
    if (d == dim) continue;
    if ((index.size(d) != 1 && index.stride(d) != 0) || indexed.size(d) != index.size(d)) return std::nullopt;
  }
  if (!inner_contiguous(indexed, dim) || !inner_contiguous(dense, dim)) return std::nullopt;
  RowPath p;
  for (int d = 0; d < dim; ++d) p.outer *= dense.size(d);
  for (int d = dim + 1; d < dense.ndim(); ++d) p.inner *= dense.size(d);
  p.n = dense.size(dim);
  if (p.outer > 1 && dim > 0) {  // the outer dims must collapse into one stride
    for (int d = 0; d + 1 < dim; ++d)
      if (indexed.stride(d) != indexed.stride(d + 1) * indexed.size(d + 1) ||
          dense.stride(d) != dense.stride(d + 1) * dense.size(d + 1))
        return std::nullopt;
  }
  p.dense_outer = dim > 0 ? dense.stride(dim - 1) : 0;
  p.indexed_outer = dim > 0 ? indexed.stride(dim - 1) : 0;
  p.dense_dim = dense.stride(dim);
  p.indexed_dim = indexed.stride(dim);
  p.index_dim = index.stride(dim);
  return p;
}

// index_select forward: each (outer, i) block copied from x's block index[i]. Rows never collide,
// so every (outer, i) is a task.
template <typename T>
bool gather_rows(const Tensor& x, int dim, const Tensor& index, const Tensor& out) {
  const std::optional<RowPath> path = row_path(x, out, dim, index);
  if (!path) return false;
  const RowPath p = *path;
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  const int64_t* ip = index.data<int64_t>();
#pragma omp parallel for schedule(static) if (p.outer * p.n * p.inner >= kParallelGrain && p.outer * p.n > 1)
  for (int64_t task = 0; task < p.outer * p.n; ++task) {
    const int64_t o = task / p.n, i = task % p.n;
    std::memcpy(op + o * p.dense_outer + i * p.dense_dim, xp + o * p.indexed_outer + ip[i * p.index_dim] * p.indexed_dim,
                static_cast<size_t>(p.inner) * sizeof(T));
  }
  return true;
}

// index_select's backward: each (outer, i) block of src added into out's block index[i] — the
// same sums in the same order as the element walk (a quarter of a VMamba step's backward when it
// took that walk). Positions along dim may share a destination, so tasks are (outer position,
// block of the inner elements), each adding along dim in order.
template <typename T>
bool scatter_rows(const Tensor& out, int dim, const Tensor& index, const Tensor& src) {
  const std::optional<RowPath> path = row_path(out, src, dim, index);
  if (!path) return false;
  const RowPath p = *path;
  T* op = out.data<T>();
  const T* sp = src.data<T>();
  const int64_t* ip = index.data<int64_t>();
  constexpr int64_t kBlock = 512;  // inner elements per task: a few KB, so even one outer position splits
  const int64_t blocks = (p.inner + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (p.outer * p.n * p.inner >= kParallelGrain && p.outer * blocks > 1)
  for (int64_t task = 0; task < p.outer * blocks; ++task) {
    const int64_t o = task / blocks, j0 = (task % blocks) * kBlock, m = std::min(kBlock, p.inner - j0);
    T* dst = op + o * p.indexed_outer + j0;
    const T* from = sp + o * p.dense_outer + j0;
    for (int64_t i = 0; i < p.n; ++i) {
      T* __restrict d = dst + ip[i * p.index_dim] * p.indexed_dim;
      const T* __restrict s = from + i * p.dense_dim;
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) d[j] += s[j];
    }
  }
  return true;
}

}  // namespace

void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) {
  dispatch_all(x.dtype(), Op::gather, [&]<typename T>() {
    if (gather_rows<T>(x, dim, index, out)) return;
    Shape xs = x.strides();
    const int64_t dim_stride = xs[dim];
    xs[dim] = 0;  // the position along dim comes from the index
    const T* xp = x.data<T>();
    const int64_t* ip = index.data<int64_t>();
    T* op = out.data<T>();
    for_each_row<3>(index.shape(), {&out.strides(), &index.strides(), &xs},
                    [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
                      T* o = op + off[0];
                      const int64_t* idx = ip + off[1];
                      const T* src = xp + off[2];
                      for (int64_t i = 0; i < n; ++i) o[i * step[0]] = src[i * step[2] + idx[i * step[1]] * dim_stride];
                    });
  });
}

void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) {
  dispatch_all(out.dtype(), Op::scatter_add, [&]<typename T>() {
    if (scatter_rows<T>(out, dim, index, src)) return;
    Shape os = out.strides();
    const int64_t dim_stride = os[dim];
    os[dim] = 0;  // the position along dim comes from the index
    // dim innermost: each row (a fixed position outside dim) owns its destinations.
    const Shape shape = move_last(index.shape(), dim);
    const Shape out_st = move_last(os, dim), index_st = move_last(index.strides(), dim),
                src_st = move_last(src.strides(), dim);
    T* op = out.data<T>();
    const int64_t* ip = index.data<int64_t>();
    const T* sp = src.data<T>();
    for_each_row<3>(shape, {&out_st, &index_st, &src_st},
                    [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
                      T* o = op + off[0];
                      const int64_t* idx = ip + off[1];
                      const T* s = sp + off[2];
                      for (int64_t i = 0; i < n; ++i) o[idx[i * step[1]] * dim_stride] += s[i * step[2]];
                    },
                    /*whole_rows=*/true);  // segments of one row would add into the same destinations
  });
}

// ---- topk / argsort: one sort per row along dim ----

void topk(const Tensor& x, int64_t k, int dim, bool largest, const Tensor& values, const Tensor& indices) {
  dispatch_all(x.dtype(), Op::topk, [&]<typename T>() {
    const Shape shape = move_last(x.shape(), dim);
    const Shape xs = move_last(x.strides(), dim), vs = move_last(values.strides(), dim),
                is = move_last(indices.strides(), dim);
    const T* xp = x.data<T>();
    T* vp = values.data<T>();
    int64_t* ip = indices.data<int64_t>();
    if (k == 0) return;
    for_each_row<3>(shape, {&xs, &vs, &is},
                    [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& step) {
                      std::vector<T> row(n);
                      std::vector<int64_t> order(n);
                      for (int64_t i = 0; i < n; ++i) row[i] = xp[off[0] + i * step[0]];
                      std::iota(order.begin(), order.end(), int64_t{0});
                      // Strict weak order: by value (largest or smallest first), then by index.
                      auto before = [&](int64_t i, int64_t j) {
                        const T a = row[i], b = row[j];
                        const bool ab = largest ? less_nan_last(b, a) : less_nan_last(a, b);
                        const bool ba = largest ? less_nan_last(a, b) : less_nan_last(b, a);
                        return ab || (!ba && i < j);
                      };
                      if (n > 1) std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
                      for (int64_t j = 0; j < k; ++j) {
                        vp[off[1] + j * step[1]] = row[order[j]];
                        ip[off[2] + j * step[2]] = order[j];
                      }
                    },
                    /*whole_rows=*/true);
  });
}

void argsort(const Tensor& x, int dim, bool descending, const Tensor& indices) {
  dispatch_all(x.dtype(), Op::argsort, [&]<typename T>() {
    const Shape shape = move_last(x.shape(), dim);
    const Shape xs = move_last(x.strides(), dim), is = move_last(indices.strides(), dim);
    const T* xp = x.data<T>();
    int64_t* ip = indices.data<int64_t>();
    for_each_row<2>(shape, {&xs, &is},
                    [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                      std::vector<T> row(n);
                      std::vector<int64_t> order(n);
                      for (int64_t i = 0; i < n; ++i) row[i] = xp[off[0] + i * step[0]];
                      std::iota(order.begin(), order.end(), int64_t{0});
                      // stable_sort keeps equal values in their original order, in both directions.
                      if (descending)
                        std::stable_sort(order.begin(), order.end(),
                                         [&](int64_t i, int64_t j) { return less_nan_last(row[j], row[i]); });
                      else
                        std::stable_sort(order.begin(), order.end(),
                                         [&](int64_t i, int64_t j) { return less_nan_last(row[i], row[j]); });
                      for (int64_t j = 0; j < n; ++j) ip[off[1] + j * step[1]] = order[j];
                    },
                    /*whole_rows=*/true);
  });
}

}  // namespace sieve::cpu
