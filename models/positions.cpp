// models/positions.cpp — bilinear resizing of position-embedding grids (see positions.h).
#include "models/positions.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/matmul.h"

namespace sieve::models {

namespace {

// (T, S): row i holds the weights output i takes from inputs 0 … S−1 — its centre (i + ½)·S/T − ½
// in input coordinates, clamped to [0, S − 1], between the two nearest inputs.
std::vector<double> linear_weights(int64_t S, int64_t T) {
  std::vector<double> m(static_cast<size_t>(T * S), 0.0);
  for (int64_t i = 0; i < T; ++i) {
    const double src = std::clamp((static_cast<double>(i) + 0.5) * static_cast<double>(S) / static_cast<double>(T) - 0.5,
                                  0.0, static_cast<double>(S - 1));
    const auto lo = static_cast<int64_t>(std::floor(src));
    const int64_t hi = std::min(lo + 1, S - 1);
    const double w = src - static_cast<double>(lo);
    m[static_cast<size_t>(i * S + lo)] += 1.0 - w;
    m[static_cast<size_t>(i * S + hi)] += w;
  }
  return m;
}

}  // namespace

int64_t grid_side(int64_t n, const char* who) {
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  SIEVE_CHECK(side * side == n, "{}: {} patches do not form a square grid", who, n);
  return side;
}

Tensor resize_grid_positions(const Tensor& grid, int64_t T) {
  const int64_t S = grid_side(grid.size(1), "resize_grid_positions"), D = grid.size(2);
  SIEVE_CHECK(T >= 1, "resize_grid_positions: the new side must be positive, got {}", T);
  if (T == S) return grid;
  // The 2-D matrix is the 1-D one along rows times the 1-D one along columns: (T·T, S·S).
  const std::vector<double> m = linear_weights(S, T);
  std::vector<double> k(static_cast<size_t>(T * T * S * S));
  for (int64_t y = 0; y < T; ++y)
    for (int64_t x = 0; x < T; ++x)
      for (int64_t a = 0; a < S; ++a)
        for (int64_t b = 0; b < S; ++b)
          k[static_cast<size_t>((y * T + x) * S * S + a * S + b)] = m[y * S + a] * m[x * S + b];
  const Tensor weights = from_vector<double>(k, {T * T, S * S}).to(grid.dtype()).to(grid.device());
  return matmul(weights, grid.reshape({S * S, D})).view({1, T * T, D});
}

}  // namespace sieve::models
