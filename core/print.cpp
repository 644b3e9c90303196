// core/print.cpp — printing tensors the way PyTorch does.
//
//   tensor([[ 0.1000, -1.2000],
//           [ 3.0000,  4.5000]], shape=(2, 2), dtype=float32, device=cpu)
//
// Floats use 4 decimals (or scientific notation when the magnitudes call for it); tensors of
// more than 1000 elements show the first and last 3 entries of each dim with "..." between.
//
// Extend: printing options (precision, threshold) would be parameters of to_string.
#include <cmath>
#include <ostream>
#include <sstream>

#include "autograd/node.h"
#include "core/tensor.h"

namespace sieve {

namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  bool integer;
  bool scientific;
  bool summarize;
  int width = 0;

  std::string format_value(double v) const {
    if (integer) return fmt::format("{}", static_cast<int64_t>(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return scientific ? fmt::format("{:.4e}", v) : fmt::format("{:.4f}", v);
  }

  // Which indices of a dim of size n are shown (-1 marks the "..." gap).
  std::vector<int64_t> shown(int64_t n) const {
    std::vector<int64_t> idx;
    if (summarize && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }

  void print(std::ostream& os, size_t dim, int64_t base, int indent) const {
    if (dim == shape.size()) {
      os << fmt::format("{:>{}}", format_value(values[base]), width);
      return;
    }
    int64_t stride = 1;
    for (size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
    os << '[';
    const auto idx = shown(shape[dim]);
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) {
        os << ',';
        if (dim + 1 == shape.size())
          os << ' ';
        else
          os << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
      }
      if (idx[k] < 0)
        os << "...";
      else
        print(os, dim + 1, base + idx[k] * stride, indent + 1);
    }
    os << ']';
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const std::vector<double> values = t.to_vector<double>();
  const bool integer = t.dtype() == DType::i64;
  double max_abs = 0, min_abs = INFINITY;
  for (double v : values)
    if (std::isfinite(v) && v != 0) {
      max_abs = std::max(max_abs, std::abs(v));
      min_abs = std::min(min_abs, std::abs(v));
    }
  Printer p{values, t.shape(), integer, !integer && (max_abs >= 1e8 || (min_abs < 1e-4 && max_abs > 0)),
            t.numel() > kSummarizeAbove};
  for (double v : values) p.width = std::max<int>(p.width, static_cast<int>(p.format_value(v).size()));

  std::ostringstream os;
  os << "tensor(";
  if (t.numel() == 0)
    os << "[]";
  else
    p.print(os, 0, 0, 7);
  os << ", shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype()) << ", device=" << t.device().str();
  if (t.requires_grad()) os << (t.is_leaf() ? ", requires_grad=True" : ", grad_fn=<" + std::string(op_name(t.impl()->grad_fn->op)) + ">");
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace sieve
