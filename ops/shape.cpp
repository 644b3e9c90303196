// ops/shape.cpp — cat (an op of the closed list) and the composites stack, split and chunk.
//
// Shapes (legend: n tensors, S_i the size of tensor i at dim):
//   cat:   n tensors equal except at dim → out with Σ S_i at dim
//   stack: n tensors of one shape        → out with a new dim of size n (unsqueeze, then cat)
//   split / chunk: x → views of x along dim (narrow), so gradients come from the slice op
// cat copies each input into a narrow() view of its output with the copy kernel; its backward
// hands every input the matching narrow() view of g — no data moves in the backward.
//
// What it is not: views that keep one tensor (reshape, permute, ...: ops/view.cpp).
// Extend: a new joining op with its own data movement is an Op here; anything expressible as
// views and cat stays a composite.
#include "ops/shape.h"

#include "autograd/node.h"
#include "ops/cpu/copy.h"
#include "ops/dispatch.h"

namespace sieve {

Tensor cat(const std::vector<Tensor>& tensors, int dim) {
  SIEVE_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors.front();
  SIEVE_CHECK(first.defined(), "cat: tensor 0 is an undefined tensor");
  SIEVE_CHECK(first.ndim() >= 1, "cat: cannot concatenate 0-d tensors ({})", first.describe());
  const int d = normalize_dim(dim, first.ndim(), "cat");

  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    SIEVE_CHECK(t.defined(), "cat: tensor {} is an undefined tensor", i);
    SIEVE_CHECK(t.dtype() == first.dtype() && t.device() == first.device(),
                "cat: tensor {} is {} but tensor 0 is {}; all must share dtype and device", i, t.describe(),
                first.describe());
    SIEVE_CHECK(t.ndim() == first.ndim(), "cat: tensor {} {} has {} dims, tensor 0 {} has {}", i,
                shape_str(t.shape()), t.ndim(), shape_str(first.shape()), first.ndim());
    for (int k = 0; k < t.ndim(); ++k)
      SIEVE_CHECK(k == d || t.shape()[k] == first.shape()[k],
                  "cat: tensor {} {} differs from tensor 0 {} at dim {} (only dim {} may differ)", i,
                  shape_str(t.shape()), shape_str(first.shape()), k, d);
    out_shape[d] += t.shape()[d];
  }

  Tensor out = empty(out_shape, {.dtype = first.dtype(), .device = first.device()});
  std::vector<int64_t> starts, sizes;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    const int64_t size = t.shape()[d];
    if (size > 0) SIEVE_DISPATCH(Op::cat, out.device(), /*flops=*/0, copy, t, out.narrow(d, start, size));
    starts.push_back(start);
    sizes.push_back(size);
    start += size;
  }

  autograd::record(Op::cat, out, tensors, [d, starts, sizes](const Tensor& g) {
    Grads grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(g.narrow(d, starts[i], sizes[i]));
    return grads;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int dim) {
  SIEVE_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  check_defined(Op::cat, {&tensors.front()});
  const Shape& shape = tensors.front().shape();
  const int d = normalize_dim(dim, static_cast<int>(shape.size()) + 1, "stack");
  std::vector<Tensor> expanded;
  expanded.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    SIEVE_CHECK(tensors[i].defined(), "stack: tensor {} is an undefined tensor", i);
    SIEVE_CHECK(tensors[i].shape() == shape, "stack: tensor {} has shape {} but tensor 0 has {}; all must be equal",
                i, shape_str(tensors[i].shape()), shape_str(shape));
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int dim) {
  check_defined(Op::slice, {&x});
  SIEVE_CHECK(x.ndim() >= 1, "split: cannot split a 0-d tensor");
  SIEVE_CHECK(split_size > 0, "split: split_size must be positive, got {}", split_size);
  const int d = normalize_dim(dim, x.ndim(), "split");
  const int64_t size = x.shape()[d];
  std::vector<Tensor> pieces;
  if (size == 0) pieces.push_back(x.narrow(d, 0, 0));
  for (int64_t start = 0; start < size; start += split_size)
    pieces.push_back(x.narrow(d, start, std::min(split_size, size - start)));
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int dim) {
  check_defined(Op::slice, {&x});
  SIEVE_CHECK(x.ndim() >= 1, "chunk: cannot chunk a 0-d tensor");
  SIEVE_CHECK(chunks > 0, "chunk: the number of chunks must be positive, got {}", chunks);
  const int64_t size = x.shape()[normalize_dim(dim, x.ndim(), "chunk")];
  // As torch.chunk: pieces of ceil(size / chunks), so there may be fewer than `chunks` of them.
  return split(x, std::max<int64_t>((size + chunks - 1) / chunks, 1), dim);
}

}  // namespace sieve
