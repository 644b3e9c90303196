// ops/dispatch.h — the one place where an op picks its kernel: by device, then by dtype.
//
// A front end (ops/<family>.cpp) checks its inputs, makes the output and then calls
//
//   SIEVE_DISPATCH(Op::exp, x.device(), /*flops=*/x.numel(), unary, UnaryKind::exp, x, out);
//
// which runs sieve::cpu::unary(...) on CPU tensors, and, while a profiler is active, charges the
// kernel's time, FLOPs and bytes to the op (ops/profile.h). Without a CUDA kernel the CUDA branch throws
// "no CUDA kernel for exp"; the CUDA backend issue fills that branch with sieve::cuda::<kernel>.
// Inside a kernel, dispatch_float / dispatch_all turn the runtime dtype into a C++ type:
//
//   dispatch_float(x.dtype(), Op::exp, [&]<typename T>() { ...T is float or double... });
//
// Also here: the input checks every front end shares, so their error messages read alike.
//
// Extend: a new backend adds its branch to SIEVE_DISPATCH; a new dtype adds a case below.
#pragma once

#include <initializer_list>

#include "core/tensor.h"
#include "ops/op_list.h"
#include "ops/profile.h"

namespace sieve {

[[noreturn]] void no_kernel_for_device(Op op, Device device);

// flops: the op's FLOP formula on these shapes (ops/README.md lists them). It is evaluated only
// while a profiler is active (ops/profile.h), which also times the kernel and counts its bytes.
// The arguments are evaluated once, before the clock starts.
#define SIEVE_DISPATCH(op, device, flops, kernel, ...)                                              \
  do {                                                                                             \
    if (!(device).is_cpu()) ::sieve::no_kernel_for_device((op), (device));                        \
    if (::sieve::profile::Profiler* sieve_profiler_ = ::sieve::profile::active()) {                \
      [&](auto&&... sieve_args_) {                                                                 \
        const int64_t sieve_bytes_ = ::sieve::profile::bytes_of(sieve_args_...);                   \
        const auto sieve_start_ = ::sieve::profile::Clock::now();                                  \
        ::sieve::cpu::kernel(sieve_args_...);                                                      \
        sieve_profiler_->add((op), static_cast<int64_t>(flops), sieve_bytes_,                      \
                             ::sieve::profile::seconds_since(sieve_start_));                       \
      }(__VA_ARGS__);                                                                              \
    } else {                                                                                       \
      ::sieve::cpu::kernel(__VA_ARGS__);                                                           \
    }                                                                                              \
  } while (0)

template <typename F>
void dispatch_float(DType dtype, Op op, F&& body) {
  switch (dtype) {
    case DType::f32: body.template operator()<float>(); return;
    case DType::f64: body.template operator()<double>(); return;
    default: fail("{}: expected a float32 or float64 tensor, got {}", op_name(op), dtype_name(dtype));
  }
}

template <typename F>
void dispatch_all(DType dtype, Op op, F&& body) {
  switch (dtype) {
    case DType::f32: body.template operator()<float>(); return;
    case DType::f64: body.template operator()<double>(); return;
    case DType::i64: body.template operator()<int64_t>(); return;
  }
  fail("{}: unsupported dtype", op_name(op));
}

// ---- checks shared by the front ends; each throws a sieve::Error naming the op ----
void check_defined(Op op, std::initializer_list<const Tensor*> tensors);
void check_same_device(Op op, std::initializer_list<const Tensor*> tensors);
void check_same_dtype(Op op, std::initializer_list<const Tensor*> tensors);
void check_floating(Op op, const Tensor& t);
void check_dtype(Op op, const Tensor& t, DType expected, const char* what);  // what: "index"
void check_ndim(Op op, const Tensor& t, int min_ndim, int max_ndim, const char* what);

}  // namespace sieve
