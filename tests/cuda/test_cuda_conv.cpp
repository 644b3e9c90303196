// tests/cuda/test_cuda_conv.cpp — the conv family's CUDA kernels (cuda/conv.cu) against the CPU:
// causal depthwise conv1d forward and backward (gx, gw, gb) and patch unfold / fold, in float32
// and float64.
//
// Inputs reach each path: with and without bias; K = 1, 3, 4 (Mamba's), K > L, and K = 9 (two
// groups of 8 gradient slots); channel counts that are not multiples of the 32-channel tile;
// B·L rows spanning many 64-row chunks; a channel slice (batch and time strides not contiguous)
// and a transposed weight read in place; only some inputs requiring gradients. unfold/fold move
// values without arithmetic, so they are compared bit for bit.
//
// Extend: a new conv kernel adds its check_parity cases here, one per layout it reads.
#include <string>

#include "ops/conv.h"
#include "tests/parity.h"
#include "tests/helpers.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

namespace {

// The weight and bias gradients sum over all B·L rows, on the GPU in double in another order than
// the CPU's running sum in T; over a few thousand float32 rows the CPU's own rounding reaches
// ~1e-5 of sums of size ~50, so long sums get looser bounds.
double long_sum_tol(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-4; }

}  // namespace

TEST_CASE("cuda: conv1d_causal_depthwise forward and backward") {
  if (!gpu_or_skip()) return;
  auto with_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return conv1d_causal_depthwise(in[0], in[1], Tensor()); };
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_parity("conv (2, 5, 3) K 3", with_bias, {leaf({2, 5, 3}, 1, dt), leaf({3, 3}, 2, dt), leaf({3}, 3, dt)});
    check_parity("conv K 1", with_bias, {leaf({2, 6, 4}, 4, dt), leaf({4, 1}, 5, dt), leaf({4}, 6, dt)});
    check_parity("conv K > L, no bias", no_bias, {leaf({1, 3, 5}, 7, dt), leaf({5, 6}, 8, dt)});
    check_parity("conv K 4, 40 channels", with_bias, {leaf({2, 7, 40}, 9, dt), leaf({40, 4}, 10, dt), leaf({40}, 11, dt)});
    check_parity("conv K 9 (two slot groups), 33 channels", with_bias,
                 {leaf({3, 20, 33}, 12, dt), leaf({33, 9}, 13, dt), leaf({33}, 14, dt)});
    // only the weight requires grad; only x requires grad
    check_parity("conv, weight grad only", with_bias,
                 {leaf({2, 9, 5}, 15, dt, false), leaf({5, 4}, 16, dt), leaf({5}, 17, dt, false)});
    check_parity("conv, x grad only", no_bias, {leaf({2, 9, 5}, 18, dt), leaf({5, 4}, 19, dt, false)});
    // a channel slice of a wider tensor (read in place, row stride 10) and a transposed weight
    check_parity("conv of a channel slice, transposed weight",
                 [](const std::vector<Tensor>& in) {
                   return conv1d_causal_depthwise(in[0].narrow(2, 3, 4), in[1].t(), in[2]);
                 },
                 {leaf({2, 7, 10}, 20, dt), leaf({3, 4}, 21, dt), leaf({4}, 22, dt)});
    // a transposed x (channel stride ≠ 1: the front end copies it) with a large batch·time
    check_parity("conv of a transposed x",
                 [](const std::vector<Tensor>& in) {
                   return conv1d_causal_depthwise(in[0].transpose(1, 2), in[1], Tensor());
                 },
                 {leaf({3, 45, 70}, 23, dt), leaf({45, 4}, 24, dt)}, true, long_sum_tol(dt), long_sum_tol(dt));
    // 3·700 rows (33 chunks), 70 channels (3 tiles, the last partial)
    check_parity("conv (3, 700, 70) K 4", with_bias,
                 {leaf({3, 700, 70}, 25, dt), leaf({70, 4}, 26, dt), leaf({70}, 27, dt)}, true, long_sum_tol(dt),
                 long_sum_tol(dt));
  }
}

TEST_CASE("cuda: unfold_patches and its backward, bit for bit") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    for (int64_t p : {1, 2, 3, 4}) {
      const std::string what = "unfold p " + std::to_string(p);
      check_parity(what, [p](const std::vector<Tensor>& in) { return unfold_patches(in[0], p); },
                   {leaf({2, 3, 12, 24}, 30 + p, dt)}, true, 0, 0);
    }
    // channels-last storage seen as (B, C, H, W): strided reads
    check_parity("unfold of an NHWC view",
                 [](const std::vector<Tensor>& in) { return unfold_patches(in[0].permute({0, 3, 1, 2}), 4); },
                 {leaf({2, 8, 16, 5}, 40, dt)}, true, 0, 0);
    // larger than a block: ViT-like 32×32 images of 3 channels, p = 4
    check_parity("unfold (4, 3, 32, 32) p 4", [](const std::vector<Tensor>& in) { return unfold_patches(in[0], 4); },
                 {leaf({4, 3, 32, 32}, 41, dt)}, true, 0, 0);
  }
}

}  // namespace sieve
