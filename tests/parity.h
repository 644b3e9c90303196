// tests/parity.h — the CUDA half of the one test rule (tests/README.md): check_parity runs one
// function on CPU leaves and on CUDA copies of them and compares the outputs and, after
// backpropagating the same upstream gradient on both devices, every input's gradient: float64
// within 1e-12 relative, float32 within 1e-5 (CUDA's float math functions are not the CPU's
// vectorised approximations, and sums add in another order). The CPU's gradients are the truth
// (float64 gradcheck tests them), so parity carries that truth over to the GPU.
//
// Each op family's tests/ops/test_<family>.cpp has one or more "parity:" cases that start with
// `if (!test::gpu_or_skip()) return;` and call check_parity on inputs reaching every layout of the
// family's CUDA kernels (contiguous, transposed, sliced, broadcast, float32 and float64, sizes past
// the block and tile sizes).
//
// Extend: a helper here only when two test files need it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "tests/helpers.h"

namespace sieve::test {

// True when a GPU is usable; otherwise the first call prints why the CUDA cases are skipped
// ("CUDA cases skipped: ...", the words tools/gpu-check looks for).
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
