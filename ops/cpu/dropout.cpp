// ops/cpu/dropout.cpp — apply a Philox dropout mask: one Philox block gives four elements' bits.
//
// Each element finds its own random word from its index, so rows run in parallel and the mask is
// the same for any thread count (and, later, on CUDA).
#include "ops/cpu/dropout.h"

#include "core/random.h"
#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

void dropout(const Tensor& x, const Tensor& out, double p, uint64_t seed, uint64_t first) {
  dispatch_float(x.dtype(), Op::dropout, [&]<typename T>() {
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    auto apply = [&](T value, uint32_t word) { return uniform_from_word(word) >= p ? value * scale : T(0); };
    if (x.is_contiguous()) {  // one Philox block per four elements, blocks in parallel
      const int64_t n = x.numel(), blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
      for (int64_t block = 0; block < blocks; ++block) {
        const std::array<uint32_t, 4> words = philox4x32(seed, first + static_cast<uint64_t>(block));
        for (int64_t r = 0; r < 4 && block * 4 + r < n; ++r) op[block * 4 + r] = apply(xp[block * 4 + r], words[r]);
      }
      return;
    }
    // Any other layout: out is contiguous, so its offset of a row's first element is that element's index i.
    for_each_row<2>(x.shape(), {&out.strides(), &x.strides()},
                    [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                      const uint64_t base = static_cast<uint64_t>(off[0]);
                      std::array<uint32_t, 4> words{};
                      for (int64_t j = 0; j < n; ++j) {
                        const uint64_t i = base + static_cast<uint64_t>(j);
                        if (j == 0 || i % 4 == 0) words = philox4x32(seed, first + i / 4);
                        op[off[0] + j] = apply(xp[off[1] + j * step[1]], words[i % 4]);
                      }
                    });
  });
}

}  // namespace sieve::cpu
