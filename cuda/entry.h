// cuda/entry.h — for the entry points in cuda/<family>.cpp (host C++, never nvcc): Tensor →
// TensorArg, with or without stretching the strides to a broadcast shape.
//
// Extend: nothing to extend.
#pragma once

#include "core/tensor.h"
#include "cuda/tensor_arg.h"

namespace sieve::cuda {

// t as it is. Throws when t is not a CUDA tensor (a kernel fed a host pointer would fault).
TensorArg tensor_arg(const Tensor& t, const char* op);

// t as it is, or a TensorArg with a null data pointer when t is undefined (an optional output or
// an absent weight: the kernel checks the pointer).
TensorArg optional_tensor_arg(const Tensor& t, const char* op);

// t read as if expanded to `shape` (right-aligned broadcasting; strides 0 along stretched dims).
TensorArg tensor_arg_as(const Tensor& t, const Shape& shape, const char* op);

}  // namespace sieve::cuda
