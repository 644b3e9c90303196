// ops/view.cpp — views: new shape, strides or offset over the same storage, no data moved.
//
// Four ops of the closed list live here, and every view method is one of them:
//   view     view, reshape (when no copy is needed), squeeze, unsqueeze, flatten
//            backward: g.reshape(input shape)
//   permute  permute, transpose          backward: g.permute(inverse permutation)
//   slice    slice, narrow, select       backward: zeros of the input's shape with g copied in
//   expand   expand (broadcast)          backward: sum_to(g, input shape)
//
// Extend: a new view computes its shape/strides/offset and records one of these four ops.
#include <algorithm>
#include <numeric>
#include <optional>

#include "autograd/node.h"
#include "ops/copy.h"
#include "ops/reduce.h"

namespace sieve {

namespace {

// Replaces a single -1 in `shape` so the element count equals numel.
Shape infer_size(Shape shape, int64_t numel, const char* op) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SIEVE_CHECK(infer < 0, "{}: only one dim can be -1 in {}", op, shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      SIEVE_CHECK(shape[i] >= 0, "{}: invalid size in {}", op, shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    SIEVE_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for {} elements", op, shape_str(shape),
                numel);
    shape[infer] = numel / known;
  }
  SIEVE_CHECK(numel_of(shape) == numel, "{}: shape {} is invalid for {} elements", op, shape_str(shape), numel);
  return shape;
}

// Strides that let `new_shape` view memory laid out as (shape, strides), or nothing when the
// layout forbids it. Groups of old dims that are contiguous with each other can be split and
// merged freely; a new dim may not straddle a gap between groups.
std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape) {
  Shape new_strides(new_shape.size());
  if (numel_of(shape) == 0 || shape.empty()) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    // End of a contiguous chunk of old dims: the new dims covering it get strides from its base.
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        new_strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

Tensor record_view(Tensor out, const Tensor& in) {
  const Shape in_shape = in.shape();
  autograd::record(Op::view, out, {in}, [in_shape](const Tensor& g) { return Grads{g.reshape(in_shape)}; });
  return out;
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  const Shape target = infer_size(requested, numel(), "view");
  auto strides_for_view = view_strides(shape(), strides(), target);
  SIEVE_CHECK(strides_for_view.has_value(),
              "view: cannot view {} (strides {}) as {} without a copy; use reshape()", describe(),
              shape_str(strides()), shape_str(target));
  return record_view(make_view(*this, target, *strides_for_view, offset()), *this);
}

Tensor Tensor::reshape(const Shape& requested) const {
  const Shape target = infer_size(requested, numel(), "reshape");
  if (view_strides(shape(), strides(), target)) return view(target);
  return contiguous().view(target);
}

Tensor Tensor::squeeze(int dim) const {
  const int d = normalize_dim(dim, ndim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return record_view(make_view(*this, s, st, offset()), *this);
}

Tensor Tensor::unsqueeze(int dim) const {
  const int d = normalize_dim(dim, ndim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t stride = d < ndim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return record_view(make_view(*this, s, st, offset()), *this);
}

Tensor Tensor::flatten(int start_dim, int end_dim) const {
  if (ndim() == 0) return reshape({1});
  const int start = normalize_dim(start_dim, ndim(), "flatten");
  const int end = normalize_dim(end_dim, ndim(), "flatten");
  SIEVE_CHECK(start <= end, "flatten: start_dim {} is after end_dim {}", start_dim, end_dim);
  Shape s(shape().begin(), shape().begin() + start);
  s.push_back(-1);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  if (numel() == 0) s[start] = numel_of(Shape(shape().begin() + start, shape().begin() + end + 1));
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  SIEVE_CHECK(static_cast<int>(dims.size()) == ndim(), "permute: {} dims given for {}", dims.size(), describe());
  Shape s(dims.size()), st(dims.size());
  std::vector<int> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int d = normalize_dim(dims[i], ndim(), "permute");
    SIEVE_CHECK(inverse[d] < 0, "permute: dim {} repeated in ({})", d, fmt::join(dims, ", "));
    inverse[d] = static_cast<int>(i);
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, s, st, offset());
  autograd::record(Op::permute, out, {*this}, [inverse](const Tensor& g) { return Grads{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
  std::vector<int> order(ndim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_dim(dim0, ndim(), "transpose")], order[normalize_dim(dim1, ndim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end, int64_t step) const {
  const int d = normalize_dim(dim, ndim(), "slice");
  const int64_t size = shape()[d];
  SIEVE_CHECK(step > 0, "slice: step must be positive, got {}", step);
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[d]);
  const Shape in_shape = shape();
  autograd::record(Op::slice, out, {*this}, [in_shape, d, start, end, step](const Tensor& g) {
    Tensor gx = zeros(in_shape, {.dtype = g.dtype(), .device = g.device()});
    copy_(gx.slice(d, start, end, step), g);
    return Grads{gx};
  });
  return out;
}

Tensor Tensor::narrow(int dim, int64_t start, int64_t length) const {
  const int d = normalize_dim(dim, ndim(), "narrow");
  SIEVE_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d],
              "narrow: [{}, {}) is out of range for dim {} of {}", start, start + length, dim, describe());
  return slice(d, start, start + length);
}

Tensor Tensor::select(int dim, int64_t index) const {
  const int d = normalize_dim(dim, ndim(), "select");
  const int64_t size = shape()[d];
  SIEVE_CHECK(index >= -size && index < size, "select: index {} is out of range for dim {} of {}", index, dim,
              describe());
  if (index < 0) index += size;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& requested) const {
  SIEVE_CHECK(static_cast<int>(requested.size()) >= ndim(), "expand: cannot expand {} to fewer dims {}", describe(),
              shape_str(requested));
  const size_t lead = requested.size() - shape().size();
  Shape s(requested.size()), st(requested.size(), 0);
  for (size_t i = 0; i < requested.size(); ++i) {
    if (i < lead) {
      SIEVE_CHECK(requested[i] >= 0, "expand: size -1 not allowed in a new leading dim ({})", shape_str(requested));
      s[i] = requested[i];
      continue;
    }
    const int64_t have = shape()[i - lead];
    const int64_t want = requested[i] == -1 ? have : requested[i];
    SIEVE_CHECK(have == want || have == 1, "expand: cannot expand {} to {}", describe(), shape_str(requested));
    s[i] = want;
    st[i] = have == want ? strides()[i - lead] : 0;
  }
  if (s == shape()) return *this;
  Tensor out = make_view(*this, s, st, offset());
  const Shape in_shape = shape();
  autograd::record(Op::expand, out, {*this}, [in_shape](const Tensor& g) { return Grads{sum_to(g, in_shape)}; });
  return out;
}

}  // namespace sieve
