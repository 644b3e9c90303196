// ops/op_list.h — the closed list of ops. Every op sieve has is named here, once.
//
// The autograd graph records an Op (not a free-form string), the profiler and FLOP counter key on
// it, and every backend implements exactly this list. The X-macro generates the enum and the name
// table; the static_assert keeps them in step (the ggml/tinygrad rule).
//
// The elementwise family's kinds are sublists, so that what a backend needs to know about them
// is written here too: SIEVE_UNARY_OPS carries each unary op's FLOPs per element and whether it
// takes int64, and ops/elementwise_math.h turns the sublists into BinaryKind / UnaryKind, the
// FLOP table, and the switches both backends use. An X used with SIEVE_OP_LIST therefore takes
// (name, ...): the extra columns are there for the unary entries only.
//
// Composite ops (stack, split, chunk, linear, ...) are not listed: they are built from these and
// get gradients and both backends for free.
//
// This header is plain C++ that nvcc reads (cuda/*.cu include it through ops/elementwise_math.h).
// Extend: add `X(name)` in the right family below (a unary op: `X(name, flops, dtypes)` in
// SIEVE_UNARY_OPS), then follow ops/README.md.
#pragma once

#include <cstddef>

namespace sieve {

// elementwise.cpp: binary with broadcasting.
#define SIEVE_BINARY_OPS(X) X(add) X(sub) X(mul) X(div)

// elementwise.cpp: unary. Columns: name; FLOPs per element of the forward, each arithmetic
// operation and each exp/log/erf/tanh counting one (the backward counts two more: the derivative's
// extra product and g·f'); the dtypes it takes (any: int64 too; floats: float32 and float64).
#define SIEVE_UNARY_OPS(X)                                                                    \
  X(neg, 1, any) X(exp, 1, floats) X(log, 1, floats) X(sqrt, 1, floats)                       \
  X(rsqrt, 2, floats)     /* sqrt, divide */                                                  \
  X(pow, 1, floats) X(abs, 1, any) X(tanh, 1, floats)                                         \
  X(sigmoid, 3, floats)   /* exp, add, divide */                                              \
  X(relu, 1, floats)                                                                          \
  X(gelu, 5, floats)      /* 0.5·x·(1 + erf(x/√2)) */                                         \
  X(gelu_tanh, 9, floats) /* 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) */                     \
  X(silu, 4, floats)      /* sigmoid, multiply */                                             \
  X(softplus, 3, floats)  /* exp, log1p, compare */

#define SIEVE_OP_LIST(X)                                                                      \
  SIEVE_BINARY_OPS(X)                                                                         \
  SIEVE_UNARY_OPS(X)                                                                          \
  /* elementwise.cpp: selection */                                                            \
  X(where) X(masked_fill)                                                                     \
  /* reduce.cpp */                                                                            \
  X(sum) X(mean) X(max) X(min) X(argmax) X(var) X(cumsum)                                     \
  /* matmul.cpp */                                                                            \
  X(matmul)                                                                                   \
  /* softmax.cpp, loss.cpp */                                                                 \
  X(softmax) X(log_softmax) X(cross_entropy) X(mse_loss)                                      \
  /* norm.cpp */                                                                              \
  X(layer_norm) X(rms_norm)                                                                   \
  /* attention.cpp: fused softmax(q·kᵀ·scale + mask)·v */                                     \
  X(attention)                                                                                \
  /* scan.cpp: the selective scan of Mamba */                                                 \
  X(selective_scan)                                                                           \
  /* index.cpp */                                                                             \
  X(embedding) X(index_select) X(gather) X(scatter_add) X(topk) X(argsort)                    \
  /* shape.cpp */                                                                             \
  X(cat)                                                                                      \
  /* dropout.cpp */                                                                           \
  X(dropout)                                                                                  \
  /* conv.cpp */                                                                              \
  X(conv1d_causal_depthwise) X(conv2d_depthwise) X(unfold_patches)                            \
  /* view.cpp: no data moves */                                                               \
  X(view) X(permute) X(slice) X(expand)                                                       \
  /* copy.cpp */                                                                              \
  X(copy) X(cast) X(to_device)                                                               \
  /* optim.cpp: parameter updates, no autograd */                                             \
  X(adamw_step) X(sgd_step)

enum class Op {
#define SIEVE_OP_ENUM(name, ...) name,
  SIEVE_OP_LIST(SIEVE_OP_ENUM)
#undef SIEVE_OP_ENUM
      count
};

inline constexpr const char* kOpNames[] = {
#define SIEVE_OP_NAME(name, ...) #name,
    SIEVE_OP_LIST(SIEVE_OP_NAME)
#undef SIEVE_OP_NAME
};

static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(Op::count),
              "the op enum and the op name table must list the same ops");

constexpr const char* op_name(Op op) { return kOpNames[static_cast<size_t>(op)]; }
constexpr size_t kOpCount = static_cast<size_t>(Op::count);

}  // namespace sieve
