// cuda/index.cpp — the index family's CUDA entry points (cuda/kernels.h), called by
// SIEVE_DISPATCH from ops/index.cpp with the CPU kernels' signatures; the kernels are in
// cuda/index.cu. Here: the checks, the device-side index validation and its error, Tensor →
// TensorArg.
//
// Index validation: every entry that reads indices first runs a kernel recording the first index
// (row-major) outside [0, size) in a one-int64 device flag, reads the flag back and throws the
// same one-line error as ops/index.cpp's check_indices. That read waits for the GPU (a host sync
// per call), accepted for these ops: a bad index must be an error, never a wild read or write.
//
// Extend: see cuda/kernels.h; a new indexing entry validates with check_indices_on_device first.
#include "cuda/backend.h"
#include "cuda/entry.h"
#include "cuda/kernels.h"
#include "cuda/launchers.h"
#include "ops/dispatch.h"

namespace sieve::cuda {

namespace {

// Throws "<op>: index <v> is out of range for dim <dim> of size <size> (input <x>)" when an
// element of index (int64, any layout) is outside [0, size); v is the first such in row-major order.
void check_indices_on_device(Op op, const Tensor& index, int64_t size, int dim, const Tensor& x) {
  if (index.numel() == 0) return;
  const char* name = op_name(op);
  SIEVE_CHECK(index.dtype() == DType::i64, "{}: expected an int64 index, got {}", name, index.describe());
  const Tensor flag = empty({1}, {.dtype = DType::i64, .device = index.device()});
  launch_find_bad_index(tensor_arg(index, name), size, tensor_arg(flag, name));
  int64_t first = -1;
  cuda::memcpy(&first, flag.raw_data(), sizeof first, /*device→host*/ 1);  // the host sync
  if (first < 0) return;
  // The bad element's offset from its row-major position, then its value (a second small read).
  int64_t offset = 0, rest = first;
  for (int d = index.ndim() - 1; d >= 0; --d) {
    offset += (rest % index.shape()[d]) * index.strides()[d];
    rest /= index.shape()[d];
  }
  int64_t value = 0;
  cuda::memcpy(&value, static_cast<const int64_t*>(index.raw_data()) + offset, sizeof value, 1);
  fail("{}: index {} is out of range for dim {} of size {} (input {})", name, value, dim, size, x.describe());
}

}  // namespace

// weight: (V, C), ids: (N) int64 → out: (N, C) contiguous
void embedding(const Tensor& weight, const Tensor& ids, const Tensor& out) {
  check_floating(Op::embedding, weight);
  SIEVE_CHECK(out.is_contiguous(), "embedding: expected a contiguous output, got {}", out.describe());
  check_indices_on_device(Op::embedding, ids, weight.shape()[0], 0, weight);
  launch_embedding(tensor_arg(weight, "embedding"), tensor_arg(ids, "embedding"), tensor_arg(out, "embedding"));
}

// g: (N, C), ids: (N) → grad_weight: (V, C) contiguous, zeros on entry
void embedding_backward(const Tensor& g, const Tensor& ids, const Tensor& grad_weight) {
  check_floating(Op::embedding, g);
  SIEVE_CHECK(grad_weight.is_contiguous(), "embedding: backward expects a contiguous weight gradient, got {}",
              grad_weight.describe());
  check_indices_on_device(Op::embedding, ids, grad_weight.shape()[0], 0, grad_weight);
  launch_embedding_backward(tensor_arg(g, "embedding"), tensor_arg(ids, "embedding"),
                            tensor_arg(grad_weight, "embedding"));
}

void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) {
  check_indices_on_device(Op::gather, index, x.shape()[dim], dim, x);
  launch_gather(tensor_arg(x, "gather"), dim, tensor_arg(index, "gather"), tensor_arg(out, "gather"));
}

void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) {
  check_indices_on_device(Op::scatter_add, index, out.shape()[dim], dim, out);
  launch_scatter_add(tensor_arg(out, "scatter_add"), dim, tensor_arg(index, "scatter_add"),
                     tensor_arg(src, "scatter_add"));
}

void topk(const Tensor& x, int64_t k, int dim, bool largest, const Tensor& values, const Tensor& indices) {
  SIEVE_CHECK(k >= 0 && k <= x.shape()[dim], "topk: k = {} is out of range for dim {} of size {} ({})", k, dim,
              x.shape()[dim], x.describe());
  // largest-first with ties to the lower index is a stable descending sort, cut at k
  launch_sort_rows(tensor_arg(x, "topk"), dim, k, /*descending=*/largest, tensor_arg(values, "topk"),
                   tensor_arg(indices, "topk"));
}

void argsort(const Tensor& x, int dim, bool descending, const Tensor& indices) {
  launch_sort_rows(tensor_arg(x, "argsort"), dim, x.shape()[dim], descending, TensorArg{},
                   tensor_arg(indices, "argsort"));
}

}  // namespace sieve::cuda
