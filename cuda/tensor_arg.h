// cuda/tensor_arg.h — how a Tensor reaches a CUDA launcher: TensorArg, a plain description (data
// pointer, dtype, shape, strides), and Layout<K>, the shape of an output plus K operands' strides
// along it, with mergeable dims collapsed. Plain C++ that nvcc compiles: the .cu files never
// include core/tensor.h (its fmt 9 headers use consteval that nvcc's front end rejects), so each
// family's entry points (cuda/<family>.cpp) convert Tensors with tensor_arg() (cuda/entry.h) and
// call the launchers in cuda/<family>.cu.
//
// Extend: nothing to extend; a launcher that needs more (a second shape) takes two TensorArgs.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/shape.h"

namespace sieve::cuda {

struct TensorArg {
  void* data = nullptr;  // the first element (storage + offset)
  DType dtype = DType::f32;
  int ndim = 0;
  int64_t numel = 1;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements; 0 along a broadcast dim

  bool is_contiguous() const {
    int64_t expected = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      if (shape[d] == 1) continue;
      if (strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }
};

// The output's shape (dims of size 1 dropped, neighbours merged where every operand allows) and
// each operand's strides along it. Operand 0 is usually the output. offsets() maps a row-major
// element index of the output to each operand's element offset.
template <int K>
struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};

#ifdef __CUDACC__
  __host__ __device__
#endif
  void offsets(int64_t index, int64_t (&off)[K]) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t size = shape[d];
      const int64_t i = d == 0 ? index : index % size;
      index = d == 0 ? 0 : index / size;
      for (int k = 0; k < K; ++k) off[k] += i * strides[k][d];
    }
  }
};

// operand_strides[k] points at kMaxDims strides of operand k along `shape` (ndim dims).
template <int K>
Layout<K> make_layout(int ndim, const int64_t* shape, const int64_t* const (&operand_strides)[K]) {
  Layout<K> out;
  // Walk from the innermost dim outwards, merging dim d into the current one when, for every
  // operand, stepping once along d equals stepping the current dim's full size.
  int64_t size_rev[kMaxDims];
  int64_t strides_rev[K][kMaxDims];
  int n = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (int k = 0; k < K && merge; ++k)
      merge = operand_strides[k][d] == strides_rev[k][n - 1] * size_rev[n - 1];
    if (merge) {
      size_rev[n - 1] *= shape[d];
    } else {
      size_rev[n] = shape[d];
      for (int k = 0; k < K; ++k) strides_rev[k][n] = operand_strides[k][d];
      ++n;
    }
  }
  out.ndim = n;
  for (int i = 0; i < n; ++i) {
    out.shape[i] = size_rev[n - 1 - i];
    for (int k = 0; k < K; ++k) out.strides[k][i] = strides_rev[k][n - 1 - i];
  }
  return out;
}

}  // namespace sieve::cuda
