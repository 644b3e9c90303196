// ops/dispatch.h — the one place where an op picks its kernel: by device, then by dtype.
//
// A front end (ops/<family>.cpp) checks its inputs, makes the output and then calls
//
//   SIEVE_DISPATCH(Op::exp, x.device(), /*flops=*/x.numel(), unary, UnaryKind::exp, x, out);
//
// which runs sieve::cpu::unary(...) on CPU tensors and sieve::cuda::unary(...) (cuda/kernels.h,
// the same signature) on CUDA tensors, and, while a profiler is active, charges the kernel's time,
// FLOPs and bytes to the op (ops/profile.h). CUDA kernels are queued on a stream and return at
// once, so only while a profiler is active does the CUDA branch wait for the GPU before and after
// the kernel (its time is then the GPU's). Before a CPU kernel, the thread count may follow the
// machine's load (ops/cpu/threads.h). A kernel cuda/kernels.h lists as missing throws
// "<op>: no cuda:0 kernel" (no_kernel_for_device), as does every CUDA branch of a build without
// CUDA (SIEVE_CUDA undefined; no CUDA tensor can exist there anyway).
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
#include "ops/cpu/threads.h"  // adapt_threads(): the running thread count follows the machine's load
#include "ops/op_list.h"
#include "ops/profile.h"
#include "cuda/backend.h"  // plain declarations: synchronize() for the profiler
#ifdef SIEVE_CUDA
#include "cuda/kernels.h"
#endif

namespace sieve {

[[noreturn]] void no_kernel_for_device(Op op, Device device);

// Runs `call(args...)`, timed and charged to the active profiler when there is one. sync: wait
// for the GPU before starting the clock and after the call (CUDA kernels only).
#define SIEVE_RUN_KERNEL_(op, flops, sync, call, args)                                          \
  do {                                                                                         \
    if (::sieve::profile::Profiler* sieve_profiler_ = ::sieve::profile::active()) {            \
      const int64_t sieve_bytes_ = ::sieve::profile::bytes_of(args...);                        \
      if (sync) ::sieve::cuda::synchronize();                                                  \
      const auto sieve_start_ = ::sieve::profile::Clock::now();                                \
      call(args...);                                                                           \
      if (sync) ::sieve::cuda::synchronize();                                                  \
      sieve_profiler_->add((op), static_cast<int64_t>(flops), sieve_bytes_,                    \
                           ::sieve::profile::seconds_since(sieve_start_));                     \
    } else {                                                                                   \
      call(args...);                                                                           \
    }                                                                                          \
  } while (0)

#ifdef SIEVE_CUDA
#define SIEVE_DISPATCH_CUDA_(op, device, flops, kernel, args)                                   \
  do {                                                                                         \
    if constexpr (::sieve::cuda::is_missing<decltype(::sieve::cuda::kernel(args...))>)         \
      ::sieve::no_kernel_for_device((op), (device));                                           \
    else                                                                                       \
      SIEVE_RUN_KERNEL_(op, flops, true, ::sieve::cuda::kernel, args);                         \
  } while (0)
#else
#define SIEVE_DISPATCH_CUDA_(op, device, flops, kernel, args) ::sieve::no_kernel_for_device((op), (device))
#endif

// flops: the op's FLOP formula on these shapes (ops/README.md lists them). It is evaluated only
// while a profiler is active (ops/profile.h), which also times the kernel and counts its bytes.
// The arguments are evaluated once, before the clock starts (they become the lambda's parameters).
#define SIEVE_DISPATCH(op, device, flops, kernel, ...)                                              \
  [&](auto&&... sieve_args_) {                                                                     \
    if ((device).is_cpu()) {                                                                       \
      ::sieve::cpu::adapt_threads();                                                               \
      SIEVE_RUN_KERNEL_(op, flops, false, ::sieve::cpu::kernel, sieve_args_);                      \
    } else {                                                                                       \
      SIEVE_DISPATCH_CUDA_(op, device, flops, kernel, sieve_args_);                                \
    }                                                                                              \
  }(__VA_ARGS__)

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
