// ops/kernel_list.h — how each op family names its kernels once, for every backend.
//
// A family's CPU header (ops/cpu/<family>.h) lists its kernels as an X-macro, one entry per
// kernel: the name and the parameter list, in parentheses.
//
//   #define SIEVE_COPY_KERNELS(X)  (each line but the last ends in a backslash)
//     X(copy, (const Tensor& src, const Tensor& dst))
//     X(fill, (const Tensor& dst, double value))
//
// and declares them in sieve::cpu with SIEVE_DECLARE_KERNEL; cuda/kernels.h declares the same
// list in sieve::cuda (or, for a family without CUDA kernels yet, as missing). So a kernel's
// signature is written once, and SIEVE_DISPATCH (ops/dispatch.h) calls cpu::name or cuda::name
// with the same arguments. Every kernel returns void and writes its outputs in place.
// Types in a parameter list are named so that they resolve in both namespaces: Tensor,
// UnaryKind, ... (namespace sieve), cpu::ReduceKind, cpu::AttentionMasks.
//
// What it is not: the op list (ops/op_list.h: what the autograd graph records); a kernel is what
// a backend runs, and one op may call several (attention and attention_backward).
// Extend: a new kernel is one X(...) line in its family's list; a new family is a new list in its
// new ops/cpu/<family>.h and one line in cuda/kernels.h (ops/README.md walks both).
#pragma once

#define SIEVE_DECLARE_KERNEL(name, params) void name params;
