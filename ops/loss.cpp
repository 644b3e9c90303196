// ops/loss.cpp — cross_entropy (fused with log_softmax) and mse_loss, with their backward.
//
// cross_entropy: logits: (..., C); target: int64 (...) → a scalar (mean, sum) or (...) (none).
//   Every target must be in [0, C) or equal ignore_index (checked here, before any kernel runs).
//   mean divides by the number of non-ignored targets (NaN when there are none, as PyTorch).
//   Saved: logits and the per-row logsumexp; backward is one fused kernel:
//     dlogits = (softmax(logits) − (1 − ε)·onehot(t) − ε/C) · g / count
// mse_loss: input, target: same shape → scalar (mean, sum) or that shape (none).
//   d input = 2 (input − target) · g / n;  d target = −d input.
//
// What it is not: the kernels (ops/cpu/loss.cpp). Extend: a loss that is easy to write from ops
// belongs in nn/; one that needs fusing for speed or stability gets an Op and a kernel pair here.
#include "ops/loss.h"

#include "autograd/node.h"
#include "ops/cpu/loss.h"
#include "ops/dispatch.h"

namespace sieve {

namespace {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
    case Reduction::none: return "none";
  }
  return "?";
}

// Throws on a target outside [0, C) that is not ignore_index; returns how many are not ignored.
int64_t check_targets(const Tensor& target, int64_t classes, int64_t ignore_index) {
  const std::vector<int64_t> values = target.contiguous().to_vector<int64_t>();
  int64_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t t = values[i];
    if (t == ignore_index) continue;
    SIEVE_CHECK(t >= 0 && t < classes,
                "cross_entropy: target {} (at flat position {}) is out of range for {} classes (valid: 0..{}, or "
                "ignore_index {})",
                t, i, classes, classes - 1, ignore_index);
    ++count;
  }
  return count;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Reduction reduction) {
  constexpr Op op = Op::cross_entropy;
  check_defined(op, {&logits, &target});
  check_floating(op, logits);
  check_dtype(op, target, DType::i64, "target");
  check_same_device(op, {&logits, &target});
  SIEVE_CHECK(logits.ndim() >= 1 && logits.shape().back() > 0,
              "cross_entropy: logits must be (..., C) with C ≥ 1, got {}", logits.describe());
  const Shape rows_shape(logits.shape().begin(), logits.shape().end() - 1);
  SIEVE_CHECK(target.shape() == rows_shape,
              "cross_entropy: target {} must have the logits' shape without the class dim, {} for logits {}",
              target.describe(), shape_str(rows_shape), logits.describe());
  SIEVE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
              "cross_entropy: label_smoothing must be in [0, 1], got {}", label_smoothing);
  const int64_t classes = logits.shape().back();
  const int64_t count = check_targets(target, classes, ignore_index);

  const Options opts{.dtype = logits.dtype(), .device = logits.device()};
  const bool reduce = reduction != Reduction::none;
  const double divisor = reduction == Reduction::mean ? static_cast<double>(count) : 1.0;
  Tensor x = logits.detach().contiguous();
  Tensor t = target.contiguous();
  Tensor out = empty(reduce ? Shape{} : rows_shape, opts);
  Tensor lse = empty({target.numel()}, opts);
  SIEVE_DISPATCH(op, x.device(), /*flops=*/5 * x.numel(), cross_entropy, x, t, ignore_index, label_smoothing, reduce, divisor, out, lse);

  autograd::record(op, out, {logits, target}, [=](const Tensor& g) {
    Tensor dlogits = empty_like(x);
    SIEVE_DISPATCH(op, x.device(), /*flops=*/4 * x.numel(), cross_entropy_backward, x, t, lse, g.contiguous(),
                   ignore_index, label_smoothing, divisor, dlogits);
    return Grads{dlogits, Tensor()};
  });
  return out;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  constexpr Op op = Op::mse_loss;
  check_defined(op, {&input, &target});
  check_floating(op, input);
  check_same_dtype(op, {&input, &target});
  check_same_device(op, {&input, &target});
  SIEVE_CHECK(input.shape() == target.shape(), "mse_loss: input {} and target {} must have the same shape ({})",
              input.describe(), target.describe(), reduction_name(reduction));
  const bool reduce = reduction != Reduction::none;
  const double scale = reduction == Reduction::mean ? 1.0 / static_cast<double>(input.numel()) : 1.0;
  Tensor a = input.detach().contiguous();
  Tensor b = target.detach().contiguous();
  Tensor out = empty(reduce ? Shape{} : input.shape(), {.dtype = input.dtype(), .device = input.device()});
  SIEVE_DISPATCH(op, a.device(), /*flops=*/3 * a.numel(), mse_loss, a, b, reduce, scale, out);

  const bool want_a = input.requires_grad(), want_b = target.requires_grad();
  autograd::record(op, out, {input, target}, [=](const Tensor& g) {
    Tensor da = want_a ? empty_like(a) : Tensor();
    Tensor db = want_b ? empty_like(b) : Tensor();
    SIEVE_DISPATCH(op, a.device(), /*flops=*/3 * a.numel(), mse_loss_backward, a, b, g.contiguous(), scale, da, db);
    return Grads{da, db};
  });
  return out;
}

}  // namespace sieve
