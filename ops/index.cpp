// ops/index.cpp — front ends and backwards of the index family: embedding, index_select, gather,
// scatter_add, topk, argsort.
//
// Legend: V vocabulary rows, C channels, N looked-up positions, K selected entries, k kept by topk.
// Every front end validates its indices (int64, in range) before a kernel runs, so an error names
// the op, the bad index and the size it had to fit, and kernels never read out of bounds.
// Backwards, in one line each:
//   embedding     gw = zeros(V, C); gw[ids[n]] += g[n]       (ids get no gradient)
//   index_select  gx = zeros; gx[.., index[k], ..] += g[.., k, ..]
//   gather        gx = zeros; gx[p | dim := index[p]] += g[p]  (a scatter_add of g)
//   scatter_add   gx = g; gsrc = gather(g, dim, index)
//   topk          gx = zeros; gx at the kept indices = g       (indices get no gradient)
//   argsort       no gradient (int64 output)
//
// Extend: a new indexing op checks its indices with check_indices() and keeps its kernels in
// ops/cpu/index.cpp.
#include "ops/index.h"

#include <bit>

#include "autograd/node.h"
#include "ops/cpu/copy.h"
#include "ops/cpu/index.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

// Throws naming the op, the first bad index and the size when any index is outside [0, size).
void check_indices(Op op, const Tensor& index, int64_t size, int dim, const Tensor& x) {
  const Tensor host = index.device().is_cpu() ? index : index.to(kCPU);
  const cpu::BadIndex bad = cpu::find_bad_index(host, size);
  SIEVE_CHECK(!bad.found, "{}: index {} is out of range for dim {} of size {} (input {})", op_name(op), bad.value,
              dim, size, x.describe());
}

// The index's shape must fit inside `other`'s (at every dim, or every dim but `skip`).
void check_index_fits(Op op, const Tensor& index, const Tensor& other, int skip, const char* what) {
  SIEVE_CHECK(index.ndim() == other.ndim(), "{}: index {} and {} {} must have the same number of dims", op_name(op),
              shape_str(index.shape()), what, other.describe());
  for (int d = 0; d < index.ndim(); ++d)
    SIEVE_CHECK(d == skip || index.shape()[d] <= other.shape()[d],
                "{}: index {} is larger than {} {} at dim {}", op_name(op), shape_str(index.shape()), what,
                other.describe(), d);
}

// A 1-D index of K entries seen as a tensor of `shape` (K at dim): stride 0 everywhere else, so
// index_select is a gather with this view as its index, and no index is copied.
Tensor index_along(const Tensor& index, const Shape& shape, int dim) {
  Tensor flat = index.detach().reshape({-1});
  Shape strides(shape.size(), 0);
  strides[dim] = flat.strides()[0];
  return make_view(flat, shape, strides, flat.offset());
}

// zeros of `shape` with src added at the index positions along dim: the backward of every
// gather-like op here.
Tensor scatter_into_zeros(const Shape& shape, int dim, const Tensor& index, const Tensor& src) {
  Tensor out = zeros(shape, {.dtype = src.dtype(), .device = src.device()});
  SIEVE_DISPATCH(Op::scatter_add, src.device(), /*flops=*/src.numel(), scatter_add, out, dim, index, src);
  return out;
}

}  // namespace

// weight: (V, C), ids: (...) int64 → (..., C)
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_defined(Op::embedding, {&weight, &ids});
  check_same_device(Op::embedding, {&weight, &ids});
  check_floating(Op::embedding, weight);
  check_ndim(Op::embedding, weight, 2, 2, "weight");
  check_dtype(Op::embedding, ids, DType::i64, "ids");
  check_indices(Op::embedding, ids, weight.size(0), 0, weight);

  const int64_t C = weight.size(1);
  Shape out_shape = ids.shape();
  out_shape.push_back(C);
  const Tensor flat = ids.detach().reshape({-1});  // (N)
  Tensor out = empty(out_shape, {.dtype = weight.dtype(), .device = weight.device()});
  SIEVE_DISPATCH(Op::embedding, weight.device(), /*flops=*/0, embedding, weight, flat, out.view({flat.numel(), C}));

  const Shape weight_shape = weight.shape();
  autograd::record(Op::embedding, out, {weight, ids}, [weight_shape, flat, C](const Tensor& g) {
    Tensor gw = zeros(weight_shape, {.dtype = g.dtype(), .device = g.device()});
    SIEVE_DISPATCH(Op::embedding, g.device(), /*flops=*/g.numel(), embedding_backward, g.reshape({-1, C}), flat, gw);
    return Grads{gw, Tensor()};
  });
  return out;
}

// x: (..., D, ...), index: (K) → (..., K, ...)
Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  check_defined(Op::index_select, {&x, &index});
  check_same_device(Op::index_select, {&x, &index});
  check_ndim(Op::index_select, x, 1, kMaxDims, "x");
  check_dtype(Op::index_select, index, DType::i64, "index");
  check_ndim(Op::index_select, index, 0, 1, "index");
  const int d = normalize_dim(dim, x.ndim(), "index_select");
  check_indices(Op::index_select, index, x.size(d), d, x);

  Shape out_shape = x.shape();
  out_shape[d] = index.numel();
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  const Tensor expanded = index_along(index, out_shape, d);
  SIEVE_DISPATCH(Op::index_select, x.device(), /*flops=*/0, gather, x, d, expanded, out);

  const Shape x_shape = x.shape();
  autograd::record(Op::index_select, out, {x, index}, [x_shape, d, expanded](const Tensor& g) {
    return Grads{scatter_into_zeros(x_shape, d, expanded, g), Tensor()};
  });
  return out;
}

// x: (..., D, ...), index: same ndim, size ≤ x's outside dim → index's shape
Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  check_defined(Op::gather, {&x, &index});
  check_same_device(Op::gather, {&x, &index});
  check_ndim(Op::gather, x, 1, kMaxDims, "x");
  check_dtype(Op::gather, index, DType::i64, "index");
  const int d = normalize_dim(dim, x.ndim(), "gather");
  check_index_fits(Op::gather, index, x, d, "x");
  check_indices(Op::gather, index, x.size(d), d, x);

  Tensor out = empty(index.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(Op::gather, x.device(), /*flops=*/0, gather, x, d, index, out);

  const Shape x_shape = x.shape();
  const Tensor idx = index.detach();
  autograd::record(Op::gather, out, {x, index}, [x_shape, d, idx](const Tensor& g) {
    return Grads{scatter_into_zeros(x_shape, d, idx, g), Tensor()};
  });
  return out;
}

// x: (..., D, ...), index: same ndim, ≤ src everywhere and ≤ x outside dim → x's shape
Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  check_defined(Op::scatter_add, {&x, &index, &src});
  check_same_device(Op::scatter_add, {&x, &index, &src});
  check_same_dtype(Op::scatter_add, {&x, &src});
  check_ndim(Op::scatter_add, x, 1, kMaxDims, "x");
  check_dtype(Op::scatter_add, index, DType::i64, "index");
  const int d = normalize_dim(dim, x.ndim(), "scatter_add");
  check_index_fits(Op::scatter_add, index, x, d, "x");
  check_index_fits(Op::scatter_add, index, src, -1, "src");
  check_indices(Op::scatter_add, index, x.size(d), d, x);

  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(Op::scatter_add, x.device(), /*flops=*/0, copy, x, out);  // out-of-place: out starts as x
  SIEVE_DISPATCH(Op::scatter_add, x.device(), /*flops=*/src.numel(), scatter_add, out, d, index, src);

  const Shape src_shape = src.shape();
  const Tensor idx = index.detach();
  const bool need_gsrc = src.requires_grad();
  autograd::record(Op::scatter_add, out, {x, index, src}, [d, idx, src_shape, need_gsrc](const Tensor& g) {
    if (!need_gsrc) return Grads{g, Tensor(), Tensor()};
    // gsrc = gather(g, dim, index) on index's positions, 0 where src reaches beyond the index.
    Tensor gsrc = idx.shape() == src_shape ? empty(src_shape, {.dtype = g.dtype(), .device = g.device()})
                                           : zeros(src_shape, {.dtype = g.dtype(), .device = g.device()});
    const Tensor covered = make_view(gsrc, idx.shape(), gsrc.strides(), 0);
    SIEVE_DISPATCH(Op::scatter_add, g.device(), /*flops=*/0, gather, g, d, idx, covered);
    return Grads{g, Tensor(), gsrc};
  });
  return out;
}

// x: (..., D, ...) → values, indices: (..., k, ...), sorted along dim
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int dim, bool largest) {
  check_defined(Op::topk, {&x});
  check_ndim(Op::topk, x, 1, kMaxDims, "x");
  const int d = normalize_dim(dim, x.ndim(), "topk");
  SIEVE_CHECK(k >= 0 && k <= x.size(d), "topk: k = {} is out of range for dim {} of size {} ({})", k, d, x.size(d),
              x.describe());

  Shape out_shape = x.shape();
  out_shape[d] = k;
  Tensor values = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  Tensor indices = empty(out_shape, {.dtype = DType::i64, .device = x.device()});
  SIEVE_DISPATCH(Op::topk, x.device(), /*flops=*/x.numel(), topk, x, k, d, largest, values, indices);  // a comparison each

  const Shape x_shape = x.shape();
  autograd::record(Op::topk, values, {x}, [x_shape, d, indices](const Tensor& g) {
    return Grads{scatter_into_zeros(x_shape, d, indices, g)};
  });
  return {values, indices};
}

// x: (..., D, ...) → int64, x's shape
Tensor argsort(const Tensor& x, int dim, bool descending) {
  check_defined(Op::argsort, {&x});
  check_ndim(Op::argsort, x, 1, kMaxDims, "x");
  const int d = normalize_dim(dim, x.ndim(), "argsort");
  Tensor out = empty(x.shape(), {.dtype = DType::i64, .device = x.device()});
  SIEVE_DISPATCH(Op::argsort, x.device(), /*flops=*/x.numel() * std::bit_width(static_cast<uint64_t>(x.size(d))),
                 argsort, x, d, descending, out);  // n·log₂n comparisons
  return out;
}

}  // namespace sieve
