// cuda/index.cu — CUDA kernels of the index family (front end: ops/index.cpp; CPU twin and the
// readable reference: ops/cpu/index.cpp): index validation, embedding and its backward, gather,
// scatter_add, and the row sorts behind topk and argsort.
//
// Legend: V vocabulary rows, C channels, N looked-up positions; for gather/scatter/sort, "rows"
// are the positions outside `dim` (R of them) and n is the length along dim, D out's size at dim.
//
//   validate      one thread per index element; a bad one does atomicMin on its row-major
//                 position (an integer atomic: the first bad index wins whatever the timing)
//   embedding     one thread per output element (n, c); c fastest, so reads and writes coalesce
//   gather        one thread per output element, offsets from a Layout over index's shape
//   scatter-like  (embedding_backward, scatter_add) deterministic and bit-identical to the CPU:
//                 each destination adds its sources in the CPU's order, in T, from one thread.
//                 scatter_add with many rows or short ones: one thread walks a row along dim
//                 (rows never share a destination). Few long rows: the elements are stably
//                 radix-sorted by destination (CUB), then the first element of each run adds up
//                 its run. embedding_backward always sorts its N ids; a thread per (run, channel).
//   topk/argsort  one order: the value's order key (below), then the index — a strict total
//                 order, so any correct sort gives the CPU's stable result. Rows of up to
//                 kSharedSortMax values: one block per row, bitonic sort in shared memory. Longer
//                 rows: two stable global radix sorts (by key, then by row).
//
// Order key: a uint64 whose unsigned order is the CPU's less_nan_last order: -0.0 and +0.0 map to
// one key (the CPU sees them equal), every NaN to the largest key (NaN above every number, NaNs
// equal); descending flips all bits (NaN first, ties still by index).
//
// What it is not: the error message (cuda/index.cpp throws it). Extend: a new scatter-like
// kernel reuses sort_pairs and the run-head pattern of scatter_add_runs.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/backend.h"
#include "cuda/launchers.h"
#include "cuda/rows.cuh"

namespace sieve::cuda {

namespace {

constexpr int kSharedSortMax = 4096;      // 4096 × (8-byte key + 4-byte index) = 48 KiB of shared memory
constexpr int kSortThreads = 512;         // most threads of a row-sort block
constexpr int64_t kWalkMaxLength = 64;    // scatter_add walks rows this short whatever their count,
constexpr int64_t kWalkMinRows = 65536;   // and rows of any length when there are this many

// ---------------------------------------------------------------- helpers

// Device memory for the length of a launcher: sort scratch whose size only CUB knows, so it is
// taken here rather than as a Tensor in cuda/index.cpp. Freeing while kernels still use it is
// safe: the caching allocator hands the block out again only to work queued later on the same stream.
struct DeviceBuffer {
  void* data = nullptr;
  explicit DeviceBuffer(size_t nbytes) { data = device_malloc(nbytes > 0 ? nbytes : 1); }
  ~DeviceBuffer() { device_free(data); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as(int64_t element_offset = 0) const {
    return static_cast<T*>(data) + element_offset;
  }
};

// The fewest low bits that hold every value below `count` (at least 1).
int bits_for(uint64_t count) {
  int bits = 1;
  while (bits < 64 && (uint64_t{1} << bits) < count) ++bits;
  return bits;
}

// Stable (LSD radix) sort of n (key, value) pairs by bits [0, end_bit) of the key.
void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int64_t* values_in, int64_t* values_out, int64_t n,
                int end_bit) {
  size_t bytes = 0;
  SIEVE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                   end_bit, stream()));
  DeviceBuffer temp(bytes);
  SIEVE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data, bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                   end_bit, stream()));
}

// A Layout over `shape_of`'s shape without `dim` (the rows), with each operand's strides outside dim.
template <int K>
Layout<K> rows_layout(const TensorArg& shape_of, int dim, const TensorArg* const (&operands)[K]) {
  int64_t shape[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};
  int nd = 0;
  for (int d = 0; d < shape_of.ndim; ++d) {
    if (d == dim) continue;
    shape[nd] = shape_of.shape[d];
    for (int k = 0; k < K; ++k) strides[k][nd] = operands[k]->strides[d];
    ++nd;
  }
  const int64_t* pointers[K];
  for (int k = 0; k < K; ++k) pointers[k] = strides[k];
  return make_layout<K>(nd, shape, pointers);
}

__device__ __forceinline__ uint64_t order_key(double v) {
  if (isnan(v)) return ~uint64_t{0};
  if (v == 0.0) v = 0.0;  // -0.0 ties with +0.0, as in the CPU's comparison
  const uint64_t u = static_cast<uint64_t>(__double_as_longlong(v));
  return (u >> 63) != 0 ? ~u : u | (uint64_t{1} << 63);
}
__device__ __forceinline__ uint64_t order_key(float v) { return order_key(static_cast<double>(v)); }  // exact
__device__ __forceinline__ uint64_t order_key(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63); }

template <typename T>
__device__ __forceinline__ uint64_t sort_key(T v, bool descending) {
  const uint64_t key = order_key(v);
  return descending ? ~key : key;
}

// ---------------------------------------------------------------- validation, embedding, gather

__global__ void find_bad_index_kernel(Layout<1> layout, const int64_t* __restrict__ index, int64_t n, int64_t size,
                                      unsigned long long* __restrict__ first_bad) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[1];
    layout.offsets(i, off);
    const int64_t v = index[off[0]];
    if (v < 0 || v >= size) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

template <typename T>
__global__ void embedding_kernel(const T* __restrict__ w, int64_t sv, int64_t sc, const int64_t* __restrict__ ids,
                                 int64_t si, T* __restrict__ out, int64_t N, int64_t C) {
  SIEVE_GRID_STRIDE(i, N * C) {
    const int64_t n = i / C, c = i - n * C;
    out[i] = w[ids[n * si] * sv + c * sc];
  }
}

// keys[n] = ids[n], values[n] = n: the pairs embedding_backward sorts by vocabulary row.
__global__ void ids_with_positions(const int64_t* __restrict__ ids, int64_t si, int64_t N, uint64_t* __restrict__ keys,
                                   int64_t* __restrict__ positions) {
  SIEVE_GRID_STRIDE(n, N) {
    keys[n] = static_cast<uint64_t>(ids[n * si]);
    positions[n] = n;
  }
}

// Thread (j, c): when sorted position j starts a run of one vocabulary row v, adds that run's
// gradient rows (positions ascending, as the CPU's buckets) into grad_weight[v, c].
template <typename T>
__global__ void embedding_backward_runs(const uint64_t* __restrict__ keys, const int64_t* __restrict__ positions,
                                        const T* __restrict__ g, int64_t gn, int64_t gc, T* __restrict__ gw, int64_t N,
                                        int64_t C) {
  SIEVE_GRID_STRIDE(i, N * C) {
    const int64_t j = i / C, c = i - j * C;
    const uint64_t v = keys[j];
    if (j > 0 && keys[j - 1] == v) continue;  // not the run's first element
    T* dst = gw + static_cast<int64_t>(v) * C + c;
    T acc = *dst;
    for (int64_t m = j; m < N && keys[m] == v; ++m) acc += g[positions[m] * gn + c * gc];
    *dst = acc;
  }
}

// layout over index's shape; operands: out, index, x (x's stride at dim zeroed: the index supplies it).
template <typename T>
__global__ void gather_kernel(Layout<3> layout, const T* __restrict__ x, int64_t x_dim_stride,
                              const int64_t* __restrict__ index, T* __restrict__ out, int64_t n) {
  SIEVE_GRID_STRIDE(i, n) {
    int64_t off[3];
    layout.offsets(i, off);
    out[off[0]] = x[off[2] + index[off[1]] * x_dim_stride];
  }
}

// ---------------------------------------------------------------- scatter_add

// rows: Layout over index's shape without dim; operands out, index, src. One thread per row
// walks along dim in order: rows write disjoint destinations, and each destination's sum runs in
// the CPU's order.
template <typename T>
__global__ void scatter_add_walk(Layout<3> rows, int64_t row_count, int64_t n, int64_t out_ds, int64_t index_ds,
                                 int64_t src_ds, T* __restrict__ out, const int64_t* __restrict__ index,
                                 const T* __restrict__ src) {
  SIEVE_GRID_STRIDE(r, row_count) {
    int64_t off[3];
    rows.offsets(r, off);
    T* o = out + off[0];
    const int64_t* ix = index + off[1];
    const T* s = src + off[2];
    for (int64_t j = 0; j < n; ++j) o[ix[j * index_ds] * out_ds] += s[j * src_ds];
  }
}

// Element e = r·n + j (row r, position j along dim): key = r·D + index (its destination), value = e.
__global__ void scatter_keys(Layout<3> rows, int64_t n, int64_t D, int64_t index_ds, const int64_t* __restrict__ index,
                             int64_t total, uint64_t* __restrict__ keys, int64_t* __restrict__ elements) {
  SIEVE_GRID_STRIDE(e, total) {
    const int64_t r = e / n, j = e - r * n;
    int64_t off[3];
    rows.offsets(r, off);
    keys[e] = static_cast<uint64_t>(r * D + index[off[1] + j * index_ds]);
    elements[e] = e;
  }
}

// After the stable sort: the first element of each run of one destination adds the run's sources
// (j ascending, the CPU's order) to it.
template <typename T>
__global__ void scatter_add_runs(Layout<3> rows, int64_t n, int64_t D, int64_t out_ds, int64_t src_ds,
                                 const uint64_t* __restrict__ keys, const int64_t* __restrict__ elements,
                                 int64_t total, T* __restrict__ out, const T* __restrict__ src) {
  SIEVE_GRID_STRIDE(m, total) {
    const uint64_t key = keys[m];
    if (m > 0 && keys[m - 1] == key) continue;
    const int64_t r = static_cast<int64_t>(key) / D, d = static_cast<int64_t>(key) - r * D;
    int64_t off[3];
    rows.offsets(r, off);
    T* dst = out + off[0] + d * out_ds;
    T acc = *dst;
    for (int64_t q = m; q < total && keys[q] == key; ++q) acc += src[off[2] + (elements[q] - r * n) * src_ds];
    *dst = acc;
  }
}

// ---------------------------------------------------------------- topk / argsort

__device__ __forceinline__ bool sorts_before(uint64_t ka, int ia, uint64_t kb, int ib) {
  return ka < kb || (ka == kb && ia < ib);
}

// One block per row (rows: Layout over x's shape without dim; operands x, values, indices). The
// row is padded to P (a power of two ≥ n) with the largest key and indices ≥ n, which sort after
// every real element, and bitonic-sorted in shared memory. Every __syncthreads is reached by the
// whole block: the loop bounds depend only on P and the row, never on the thread.
template <typename T>
__global__ void sort_rows_shared(Layout<3> rows, int64_t row_count, int64_t n, int P, int64_t count, bool descending,
                                 int64_t x_ds, int64_t values_ds, int64_t indices_ds, const T* __restrict__ x,
                                 T* __restrict__ values, int64_t* __restrict__ indices) {
  extern __shared__ __align__(16) unsigned char shared[];
  uint64_t* keys = reinterpret_cast<uint64_t*>(shared);
  int* order = reinterpret_cast<int*>(keys + P);
  for (int64_t r = blockIdx.x; r < row_count; r += gridDim.x) {
    int64_t off[3];
    rows.offsets(r, off);
    for (int i = threadIdx.x; i < P; i += blockDim.x) {
      keys[i] = i < n ? sort_key(x[off[0] + i * x_ds], descending) : ~uint64_t{0};
      order[i] = i;
    }
    __syncthreads();
    for (int k = 2; k <= P; k <<= 1) {
      for (int j = k >> 1; j > 0; j >>= 1) {
        for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
          const int a = 2 * t - (t & (j - 1));  // the pair's lower slot (bit j clear); its partner is a + j
          const int b = a + j;
          const bool ascending = (a & k) == 0;
          if (sorts_before(keys[b], order[b], keys[a], order[a]) == ascending) {
            const uint64_t key = keys[a];
            keys[a] = keys[b];
            keys[b] = key;
            const int o = order[a];
            order[a] = order[b];
            order[b] = o;
          }
        }
        __syncthreads();
      }
    }
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const int64_t src = order[i];
      if (values != nullptr) values[off[1] + i * values_ds] = x[off[0] + src * x_ds];
      indices[off[2] + i * indices_ds] = src;
    }
    __syncthreads();  // the next row overwrites keys and order
  }
}

// Long rows, first pass: element e = r·n + j gets its order key, value e.
template <typename T>
__global__ void sort_keys(Layout<3> rows, int64_t n, int64_t x_ds, bool descending, const T* __restrict__ x,
                          int64_t total, uint64_t* __restrict__ keys, int64_t* __restrict__ elements) {
  SIEVE_GRID_STRIDE(e, total) {
    const int64_t r = e / n, j = e - r * n;
    int64_t off[3];
    rows.offsets(r, off);
    keys[e] = sort_key(x[off[0] + j * x_ds], descending);
    elements[e] = e;
  }
}

// Between the passes: the key becomes the element's row.
__global__ void row_keys(const int64_t* __restrict__ elements, int64_t n, int64_t total, uint64_t* __restrict__ keys) {
  SIEVE_GRID_STRIDE(m, total) keys[m] = static_cast<uint64_t>(elements[m] / n);
}

// After both passes row r's elements sit at [r·n, r·n + n) in order; the first `count` are written.
template <typename T>
__global__ void write_sorted(Layout<3> rows, int64_t n, int64_t count, int64_t x_ds, int64_t values_ds,
                             int64_t indices_ds, const int64_t* __restrict__ elements, const T* __restrict__ x,
                             T* __restrict__ values, int64_t* __restrict__ indices, int64_t row_count) {
  SIEVE_GRID_STRIDE(q, row_count * count) {
    const int64_t r = q / count, i = q - r * count;
    const int64_t j = elements[r * n + i] - r * n;
    int64_t off[3];
    rows.offsets(r, off);
    if (values != nullptr) values[off[1] + i * values_ds] = x[off[0] + j * x_ds];
    indices[off[2] + i * indices_ds] = j;
  }
}

}  // namespace

// ---------------------------------------------------------------- launchers

void launch_find_bad_index(const TensorArg& index, int64_t size, const TensorArg& first_bad) {
  // All bits set: "none" (−1 as int64, the largest value for atomicMin).
  SIEVE_CUDA_CHECK(cudaMemsetAsync(first_bad.data, 0xFF, sizeof(int64_t), stream()));
  if (index.numel == 0) return;
  const int64_t* strides[1] = {index.strides};
  const Layout<1> layout = make_layout<1>(index.ndim, index.shape, strides);
  find_bad_index_kernel<<<grid_for(index.numel), kBlock, 0, stream()>>>(
      layout, as_const<int64_t>(index), index.numel, size, static_cast<unsigned long long*>(first_bad.data));
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_embedding(const TensorArg& weight, const TensorArg& ids, const TensorArg& out) {
  const int64_t N = ids.numel, C = weight.shape[1];
  if (N * C == 0) return;
  const int64_t si = ids.ndim > 0 ? ids.strides[0] : 0;
  with_dtype(weight.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      embedding_kernel<T><<<grid_for(N * C), kBlock, 0, stream()>>>(
          as_const<T>(weight), weight.strides[0], weight.strides[1], as_const<int64_t>(ids), si, as_mut<T>(out), N, C);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_embedding_backward(const TensorArg& g, const TensorArg& ids, const TensorArg& grad_weight) {
  const int64_t N = ids.numel, V = grad_weight.shape[0], C = grad_weight.shape[1];
  if (N * C == 0) return;
  const int64_t si = ids.ndim > 0 ? ids.strides[0] : 0;
  // keys, sorted keys, positions, sorted positions: N each
  DeviceBuffer pairs(static_cast<size_t>(4 * N) * sizeof(int64_t));
  uint64_t* keys = pairs.as<uint64_t>(0);
  uint64_t* sorted_keys = pairs.as<uint64_t>(N);
  int64_t* positions = pairs.as<int64_t>(2 * N);
  int64_t* sorted_positions = pairs.as<int64_t>(3 * N);
  ids_with_positions<<<grid_for(N), kBlock, 0, stream()>>>(as_const<int64_t>(ids), si, N, keys, positions);
  SIEVE_CUDA_CHECK_LAUNCH();
  sort_pairs(keys, sorted_keys, positions, sorted_positions, N, bits_for(static_cast<uint64_t>(V)));
  with_dtype(g.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_integral_v<T>)
      embedding_backward_runs<T><<<grid_for(N * C), kBlock, 0, stream()>>>(
          sorted_keys, sorted_positions, as_const<T>(g), g.strides[0], g.strides[1], as_mut<T>(grad_weight), N, C);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_gather(const TensorArg& x, int dim, const TensorArg& index, const TensorArg& out) {
  const int64_t n = index.numel;
  if (n == 0) return;
  int64_t x_strides[kMaxDims] = {};
  for (int d = 0; d < x.ndim; ++d) x_strides[d] = d == dim ? 0 : x.strides[d];
  const int64_t* strides[3] = {out.strides, index.strides, x_strides};
  const Layout<3> layout = make_layout<3>(index.ndim, index.shape, strides);
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<grid_for(n), kBlock, 0, stream()>>>(layout, as_const<T>(x), x.strides[dim],
                                                           as_const<int64_t>(index), as_mut<T>(out), n);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_scatter_add(const TensorArg& out, int dim, const TensorArg& index, const TensorArg& src) {
  const int64_t total = index.numel;
  if (total == 0) return;
  const int64_t n = index.shape[dim], row_count = total / n, D = out.shape[dim];
  const TensorArg* operands[3] = {&out, &index, &src};
  const Layout<3> rows = rows_layout<3>(index, dim, operands);
  const int64_t out_ds = out.strides[dim], index_ds = index.strides[dim], src_ds = src.strides[dim];
  if (n <= kWalkMaxLength || row_count >= kWalkMinRows) {
    with_dtype(out.dtype, [&](auto tag) {
      using T = decltype(tag);
      scatter_add_walk<T><<<grid_for(row_count), kBlock, 0, stream()>>>(
          rows, row_count, n, out_ds, index_ds, src_ds, as_mut<T>(out), as_const<int64_t>(index), as_const<T>(src));
    });
    SIEVE_CUDA_CHECK_LAUNCH();
    return;
  }
  // Few long rows: a thread per row would add thousands of values serially; sort by destination.
  DeviceBuffer pairs(static_cast<size_t>(4 * total) * sizeof(int64_t));
  uint64_t* keys = pairs.as<uint64_t>(0);
  uint64_t* sorted_keys = pairs.as<uint64_t>(total);
  int64_t* elements = pairs.as<int64_t>(2 * total);
  int64_t* sorted_elements = pairs.as<int64_t>(3 * total);
  scatter_keys<<<grid_for(total), kBlock, 0, stream()>>>(rows, n, D, index_ds, as_const<int64_t>(index), total, keys,
                                                          elements);
  SIEVE_CUDA_CHECK_LAUNCH();
  sort_pairs(keys, sorted_keys, elements, sorted_elements, total, bits_for(static_cast<uint64_t>(row_count * D)));
  with_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_add_runs<T><<<grid_for(total), kBlock, 0, stream()>>>(rows, n, D, out_ds, src_ds, sorted_keys,
                                                                  sorted_elements, total, as_mut<T>(out),
                                                                  as_const<T>(src));
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_sort_rows(const TensorArg& x, int dim, int64_t count, bool descending, const TensorArg& values,
                      const TensorArg& indices) {
  const int64_t total = x.numel;
  if (total == 0 || count == 0) return;
  const int64_t n = x.shape[dim], row_count = total / n;
  // argsort has no values: its operand slot borrows indices' strides and is never written.
  const TensorArg& values_or_indices = values.data != nullptr ? values : indices;
  const TensorArg* operands[3] = {&x, &values_or_indices, &indices};
  const Layout<3> rows = rows_layout<3>(x, dim, operands);
  const int64_t x_ds = x.strides[dim], values_ds = values_or_indices.strides[dim], indices_ds = indices.strides[dim];
  int64_t* pi = as_mut<int64_t>(indices);
  if (n <= kSharedSortMax) {
    int P = 1;
    while (P < n) P *= 2;
    const int threads = P / 2 < 32 ? 32 : (P / 2 > kSortThreads ? kSortThreads : P / 2);
    const size_t shared_bytes = static_cast<size_t>(P) * (sizeof(uint64_t) + sizeof(int));
    with_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      sort_rows_shared<T><<<row_grid_for(row_count), threads, shared_bytes, stream()>>>(
          rows, row_count, n, P, count, descending, x_ds, values_ds, indices_ds, as_const<T>(x), as_mut<T>(values), pi);
    });
    SIEVE_CUDA_CHECK_LAUNCH();
    return;
  }
  // Long rows: a stable sort of all elements by key, then a stable sort by row keeps each row's order.
  DeviceBuffer pairs(static_cast<size_t>(4 * total) * sizeof(int64_t));
  uint64_t* keys_a = pairs.as<uint64_t>(0);
  uint64_t* keys_b = pairs.as<uint64_t>(total);
  int64_t* elements_a = pairs.as<int64_t>(2 * total);
  int64_t* elements_b = pairs.as<int64_t>(3 * total);
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    sort_keys<T><<<grid_for(total), kBlock, 0, stream()>>>(rows, n, x_ds, descending, as_const<T>(x), total, keys_a,
                                                           elements_a);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
  sort_pairs(keys_a, keys_b, elements_a, elements_b, total, 64);
  const int64_t* sorted = elements_b;
  if (row_count > 1) {
    row_keys<<<grid_for(total), kBlock, 0, stream()>>>(elements_b, n, total, keys_a);
    SIEVE_CUDA_CHECK_LAUNCH();
    sort_pairs(keys_a, keys_b, elements_b, elements_a, total, bits_for(static_cast<uint64_t>(row_count)));
    sorted = elements_a;
  }
  with_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    write_sorted<T><<<grid_for(row_count * count), kBlock, 0, stream()>>>(
        rows, n, count, x_ds, values_ds, indices_ds, sorted, as_const<T>(x), as_mut<T>(values), pi, row_count);
  });
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
