// core/shape.cpp — shape arithmetic shared by every op.
#include "core/shape.h"

#include <fmt/format.h>

#include "core/error.h"

namespace sieve {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

int normalize_dim(int dim, int ndim, const char* op) {
  int wrapped = dim < 0 ? dim + ndim : dim;
  SIEVE_CHECK(wrapped >= 0 && wrapped < std::max(ndim, 1), "{}: dim {} out of range for a {}-d tensor", op, dim,
              ndim);
  return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t sa = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t sb = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SIEVE_CHECK(sa == sb || sa == 1 || sb == 1, "{}: shapes {} and {} do not broadcast", op, shape_str(a),
                shape_str(b));
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

std::vector<int> broadcast_reduce_dims(const Shape& small, const Shape& full) {
  std::vector<int> dims;
  const size_t lead = full.size() - small.size();
  for (size_t i = 0; i < full.size(); ++i)
    if (i < lead || (small[i - lead] == 1 && full[i] != 1)) dims.push_back(static_cast<int>(i));
  return dims;
}

}  // namespace sieve
