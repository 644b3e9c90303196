// ops/dispatch.cpp — the shared input checks and the missing-kernel error.
#include "ops/dispatch.h"

namespace sieve {

void no_kernel_for_device(Op op, Device device) {
  fail("{}: no {} kernel (sieve has this op on cpu only so far)", op_name(op), device.str());
}

void check_defined(Op op, std::initializer_list<const Tensor*> tensors) {
  int i = 0;
  for (const Tensor* t : tensors) {
    SIEVE_CHECK(t->defined(), "{}: input {} is an undefined tensor", op_name(op), i);
    ++i;
  }
}

void check_same_device(Op op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = *tensors.begin();
  for (const Tensor* t : tensors)
    SIEVE_CHECK(t->device() == first->device(), "{}: inputs on different devices: {} and {}", op_name(op),
                first->describe(), t->describe());
}

void check_same_dtype(Op op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = *tensors.begin();
  for (const Tensor* t : tensors)
    SIEVE_CHECK(t->dtype() == first->dtype(), "{}: dtype mismatch: {} and {}", op_name(op), first->describe(),
                t->describe());
}

void check_floating(Op op, const Tensor& t) {
  SIEVE_CHECK(is_floating(t.dtype()), "{}: expected a floating-point tensor, got {}", op_name(op), t.describe());
}

void check_dtype(Op op, const Tensor& t, DType expected, const char* what) {
  SIEVE_CHECK(t.dtype() == expected, "{}: {} must be {}, got {}", op_name(op), what, dtype_name(expected),
              t.describe());
}

void check_ndim(Op op, const Tensor& t, int min_ndim, int max_ndim, const char* what) {
  SIEVE_CHECK(t.ndim() >= min_ndim && t.ndim() <= max_ndim, "{}: {} must have {} to {} dims, got {}", op_name(op),
              what, min_ndim, max_ndim, t.describe());
}

}  // namespace sieve
