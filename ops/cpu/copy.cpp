// ops/cpu/copy.cpp — strided copy with dtype conversion, and fill.
//
// One loop serves contiguous(), clone(), to(dtype), cat and copy_: walk dst's shape row by row,
// read src at its strides (0 along broadcast dims), convert, write dst at its strides.
#include "ops/cpu/copy.h"

#include <cstring>

#include "ops/cpu/loops.h"
#include "ops/dispatch.h"

namespace sieve::cpu {

void copy(const Tensor& src, const Tensor& dst) {
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous() && src.shape() == dst.shape()) {
    const size_t bytes = static_cast<size_t>(dst.numel()) * dtype_size(dst.dtype());
    char* d = static_cast<char*>(dst.raw_data());
    const char* s = static_cast<const char*>(src.raw_data());
    const int64_t chunk = 1 << 20;  // split big copies so both cores stream memory
    const int64_t pieces = static_cast<int64_t>((bytes + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (pieces > 1)
    for (int64_t i = 0; i < pieces; ++i) {
      const size_t begin = static_cast<size_t>(i) * chunk;
      std::memcpy(d + begin, s + begin, std::min<size_t>(chunk, bytes - begin));
    }
    return;
  }
  dispatch_all(src.dtype(), Op::copy, [&]<typename S>() {
    dispatch_all(dst.dtype(), Op::copy, [&]<typename D>() {
      const S* s = src.data<S>();
      D* d = dst.data<D>();
      for_each_row<2>(dst.shape(), {&dst.strides(), &src.strides()},
                      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& step) {
                        D* drow = d + off[0];
                        const S* srow = s + off[1];
                        for (int64_t i = 0; i < n; ++i) drow[i * step[0]] = static_cast<D>(srow[i * step[1]]);
                      });
    });
  });
}

void fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), Op::copy, [&]<typename T>() {
    T* d = dst.data<T>();
    const T v = static_cast<T>(value);
    for_each_row<1>(dst.shape(), {&dst.strides()},
                    [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& step) {
                      T* row = d + off[0];
                      if (step[0] == 1) {
#pragma omp simd
                        for (int64_t i = 0; i < n; ++i) row[i] = v;
                      } else {
                        for (int64_t i = 0; i < n; ++i) row[i * step[0]] = v;
                      }
                    });
  });
}

}  // namespace sieve::cpu
