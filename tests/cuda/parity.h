// tests/cuda/parity.h — what every CUDA test file shares: the GPU-or-skip check and check_parity,
// which runs one function on CPU leaves and on CUDA copies of them and compares the outputs and,
// after backpropagating the same upstream gradient on both devices, every input's gradient:
// float64 within 1e-12 relative, float32 within 1e-5 (CUDA's float math functions are not the
// CPU's vectorised approximations, and sums add in another order).
//
// Extend: a family that gains CUDA kernels gets its own tests/cuda/test_cuda_<family>.cpp that
// includes this header and calls check_parity on inputs reaching each of its layouts.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "tests/helpers.h"

namespace sieve::test {

// True when a GPU is usable; otherwise the first call prints why the GPU cases are skipped.
bool gpu_or_skip();

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

double parity_rtol(DType dtype);
double parity_atol(DType dtype);

// fn on CPU leaves and on their CUDA copies: outputs and gradients must agree (within
// parity_atol/rtol unless atol/rtol are given, for kernels that sum in another order at length).
void check_parity(const std::string& what, const Fn& fn, const std::vector<Tensor>& cpu_inputs, bool backward = true,
                  double atol = -1, double rtol = -1);

// A leaf of N(0,1) values (randn_leaf); positive_leaf: |N(0,1)| + 0.5, inputs for log, sqrt, pow.
Tensor leaf(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad = true);
Tensor positive_leaf(const Shape& shape, uint64_t seed, DType dtype);

inline constexpr DType kFloatTypes[] = {DType::f32, DType::f64};

}  // namespace sieve::test
