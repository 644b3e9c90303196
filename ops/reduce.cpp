// ops/reduce.cpp — reductions (sum, mean, max, min, argmax, var), cumsum and sum_to, with backward.
//
// Shapes: x: (d0, ..., dn); dims: any subset (negatives allowed, empty = all) →
//   out: x's shape without the reduced dims (keepdim: with them as size 1).
// The kernels always write the keepdim layout; without keepdim the output is a view of it that
// drops those dims. Backward expands g (reshaped to the keepdim layout) back over x's shape:
//   sum   dx = g                       mean  dx = g / n
//   max   dx = g · [x = max] / #ties   (min likewise; torch.amax/amin's even split)
//   var   dx = g · 2 (x − mean) / (n − correction)
//   cumsum dx = reverse cumsum of g    argmax: no gradient
//
// What it is not: the kernels (ops/cpu/reduce.cpp). Extend: a new reduction resolves its dims with
// resolve(), calls its kernel and records a backward written with sieve ops.
#include "ops/reduce.h"

#include <algorithm>

#include "autograd/node.h"
#include "ops/cpu/reduce.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"

namespace sieve {

namespace {

// The dims of one reduction, resolved against x.
struct Resolved {
  std::vector<bool> flags;  // per dim of x: reduced?
  std::vector<int> dims;    // the reduced dims, ascending, non-negative
  Shape keep_shape;         // x's shape with reduced dims set to 1
  Shape out_shape;          // the output's shape (keep_shape when keepdim)
  int64_t count = 1;        // elements folded into each output
};

Resolved resolve(Op op, const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  check_defined(op, {&x});
  check_floating(op, x);
  const int nd = x.ndim();
  Resolved r;
  r.flags.assign(nd, dims.empty());
  for (int d : dims) {
    const int w = normalize_dim(d, std::max(nd, 1), op_name(op));
    if (nd == 0) continue;  // dim 0 / -1 of a scalar names the scalar itself, as in PyTorch
    SIEVE_CHECK(!r.flags[w], "{}: dim {} appears more than once in ({}) for {}", op_name(op), d,
                fmt::join(dims, ", "), x.describe());
    r.flags[w] = true;
  }
  for (int d = 0; d < nd; ++d) {
    const int64_t size = x.shape()[d];
    if (r.flags[d]) {
      r.dims.push_back(d);
      r.count *= size;
      r.keep_shape.push_back(1);
      if (keepdim) r.out_shape.push_back(1);
    } else {
      r.keep_shape.push_back(size);
      r.out_shape.push_back(size);
    }
  }
  return r;
}

// The output tensor in keepdim layout, and the view the caller returns.
Tensor keep_output(const Tensor& x, const Resolved& r, DType dtype) {
  return empty(r.keep_shape, {.dtype = dtype, .device = x.device()});
}

Tensor drop_dims(const Tensor& out_keep, const Resolved& r) {
  if (r.out_shape.size() == r.keep_shape.size()) return out_keep;
  return make_view(out_keep, r.out_shape, contiguous_strides(r.out_shape), out_keep.offset());
}

// g (out_shape) spread back over x's shape, without copying.
Tensor spread(const Tensor& g, const Resolved& r, const Shape& x_shape) {
  return g.reshape(r.keep_shape).expand(x_shape);
}

Tensor reduce_op(Op op, cpu::ReduceKind kind, const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  Resolved r = resolve(op, x, dims, keepdim);
  if (kind != cpu::ReduceKind::sum)
    SIEVE_CHECK(r.count > 0, "{}: cannot reduce over an empty dim of {}",
                op_name(op), x.describe());
  Tensor out_keep = keep_output(x, r, x.dtype());
  const double scale = op == Op::mean ? 1.0 / static_cast<double>(r.count) : 1.0;
  SIEVE_DISPATCH(op, x.device(), /*flops=*/x.numel(), reduce, kind, x, r.flags, out_keep, scale);
  Tensor out = drop_dims(out_keep, r);

  const Shape x_shape = x.shape();
  switch (op) {
    case Op::sum:
      autograd::record(op, out, {x}, [r, x_shape](const Tensor& g) { return Grads{spread(g, r, x_shape)}; });
      break;
    case Op::mean:
      autograd::record(op, out, {x}, [r, x_shape](const Tensor& g) {
        return Grads{spread(g * (1.0 / static_cast<double>(r.count)), r, x_shape)};
      });
      break;
    default:  // max, min: the gradient goes to the elements equal to the result, split evenly
      autograd::record(op, out, {x}, [op, r, x, y = out_keep.detach()](const Tensor& g) {
        Tensor mask = empty_like(x);
        SIEVE_DISPATCH(op, x.device(), /*flops=*/x.numel(), equal_mask, x, y.expand(x.shape()), mask);
        Tensor ties = sum(mask, r.dims, /*keepdim=*/true);
        return Grads{mask * (g.reshape(r.keep_shape) / ties)};
      });
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce_op(Op::sum, cpu::ReduceKind::sum, x, dims, keepdim);
}

Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce_op(Op::mean, cpu::ReduceKind::sum, x, dims, keepdim);
}

Tensor max(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce_op(Op::max, cpu::ReduceKind::max, x, dims, keepdim);
}

Tensor min(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce_op(Op::min, cpu::ReduceKind::min, x, dims, keepdim);
}

Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  Resolved r = resolve(Op::argmax, x, {dim}, keepdim);
  SIEVE_CHECK(r.count > 0, "argmax: cannot take the argmax over an empty dim of {}", x.describe());
  Tensor out_keep = keep_output(x, r, DType::i64);
  const int d = x.ndim() > 0 ? normalize_dim(dim, x.ndim(), "argmax") : 0;  // resolve() checked it
  SIEVE_DISPATCH(Op::argmax, x.device(), /*flops=*/x.numel(), argmax, x, d, out_keep);
  return drop_dims(out_keep, r);  // indices: no gradient
}

Tensor var(const Tensor& x, const std::vector<int>& dims, int64_t correction, bool keepdim) {
  Resolved r = resolve(Op::var, x, dims, keepdim);
  SIEVE_CHECK(correction >= 0, "var: correction must be non-negative, got {}", correction);
  Tensor out_keep = keep_output(x, r, x.dtype());
  SIEVE_DISPATCH(Op::var, x.device(), /*flops=*/4 * x.numel(), var, x, r.flags, correction, out_keep);  // mean, then (x−μ)² summed
  Tensor out = drop_dims(out_keep, r);
  autograd::record(Op::var, out, {x}, [r, x, correction](const Tensor& g) {
    const double denom = std::max<double>(static_cast<double>(r.count - correction), 0.0);
    Tensor centred = x - mean(x, r.dims, /*keepdim=*/true);
    return Grads{centred * (g.reshape(r.keep_shape) * (2.0 / denom))};
  });
  return out;
}

Tensor cumsum(const Tensor& x, int dim) {
  check_defined(Op::cumsum, {&x});
  check_floating(Op::cumsum, x);
  const int d = normalize_dim(dim, std::max(x.ndim(), 1), "cumsum");
  // a 0-d x: dim 0 names the element itself, as in PyTorch
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  SIEVE_DISPATCH(Op::cumsum, x.device(), /*flops=*/x.numel(), cumsum, x.detach().contiguous(), d, /*reverse=*/false, out);
  autograd::record(Op::cumsum, out, {x}, [d](const Tensor& g) {
    Tensor gx = empty_like(g);
    SIEVE_DISPATCH(Op::cumsum, g.device(), /*flops=*/g.numel(), cumsum, g.contiguous(), d, /*reverse=*/true, gx);
    return Grads{gx};
  });
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  check_defined(Op::sum, {&g});
  if (g.shape() == shape) return g;
  SIEVE_CHECK(shape.size() <= g.shape().size() && broadcast_shapes(shape, g.shape(), "sum_to") == g.shape(),
              "sum_to: {} is not a broadcast of shape {}", g.describe(), shape_str(shape));
  const std::vector<int> dims = broadcast_reduce_dims(shape, g.shape());
  // dims is never empty here (equal shapes returned above); an empty list would mean "all dims".
  return sum(g, dims, /*keepdim=*/true).reshape(shape);
}

}  // namespace sieve
