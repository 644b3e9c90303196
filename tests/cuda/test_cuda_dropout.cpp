// tests/cuda/test_cuda_dropout.cpp — dropout's CUDA kernel (cuda/dropout.cu) against the CPU,
// bit for bit: the device Philox must give the same mask as core/random.cpp's for the same seed
// and counter, so outputs and gradients are compared with zero tolerance, in float32 and float64,
// for contiguous and strided inputs, sizes that are not multiples of 4 (a partial last Philox
// block) or of the block size, seeds and counters with high bits set (both key words, both
// counter words), and several p.
//
// Extend: another Philox consumer on the device adds its bit-for-bit cases here.
#include <string>

#include "ops/dropout.h"
#include "tests/parity.h"
#include "tests/helpers.h"

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

namespace {

// dropout with a fresh generator (seed, offset `first`) on each call, so both devices draw the
// same counters; `view` reads the input through a strided view on its own device.
test::Fn dropout_fn(double p, uint64_t seed, uint64_t first, bool transpose = false) {
  return [=](const std::vector<Tensor>& in) {
    Generator gen(seed);
    gen.advance(first);
    return dropout(transpose ? in[0].t() : in[0], p, true, &gen);
  };
}

}  // namespace

TEST_CASE("cuda: dropout masks equal the CPU's bit for bit") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // ones: the output is the mask times the scale, nothing else
    for (int64_t n : {1, 3, 4, 5, 255, 1000, (1 << 20) + 3}) {
      for (double p : {0.1, 0.5, 0.9}) {
        const std::string what = "ones(" + std::to_string(n) + "), p " + std::to_string(p);
        check_parity(what, dropout_fn(p, 1234, 5), {ones({n}, {.dtype = dt})}, false, 0, 0);
      }
    }
    // seeds and counters past 2^32: the high key word and the high counter word take part
    check_parity("seed and counter past 2^32", dropout_fn(0.3, 0x1234567890ABCDEFull, (uint64_t{1} << 33) + 7),
                 {ones({4099}, {.dtype = dt})}, false, 0, 0);
  }
}

TEST_CASE("cuda: dropout forward and backward, contiguous and strided") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    check_parity("dropout (3, 50)", dropout_fn(0.25, 77, 0), {leaf({3, 50}, 1, dt)}, true, 0, 0);
    check_parity("dropout (17, 33, 5)", dropout_fn(0.4, 5, 11), {leaf({17, 33, 5}, 2, dt)}, true, 0, 0);
    // a transposed input: element i counts the view's elements in row-major order
    check_parity("dropout of a transposed (6, 37)", dropout_fn(0.5, 7, 3, /*transpose=*/true),
                 {leaf({6, 37}, 3, dt)}, true, 0, 0);
    check_parity("dropout of a 0-d tensor", dropout_fn(0.5, 8, 0), {leaf({}, 4, dt)}, true, 0, 0);
    check_parity("dropout p = 1", dropout_fn(1.0, 9, 0), {leaf({5, 3}, 5, dt)}, true, 0, 0);
  }
}

}  // namespace sieve
