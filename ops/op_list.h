// ops/op_list.h — the closed list of ops. Every op sieve has is named here, once.
//
// The autograd graph records an Op (not a free-form string), the profiler and FLOP counter key on
// it, and every backend implements exactly this list. The X-macro generates the enum and the name
// table; the static_assert keeps them in step (the ggml/tinygrad rule).
//
// Composite ops (stack, split, chunk, linear, ...) are not listed: they are built from these and
// get gradients and both backends for free.
//
// Extend: add `X(name)` in the right family below, then follow ops/README.md.
#pragma once

#include <cstddef>

namespace sieve {

#define SIEVE_OP_LIST(X)                                                                      \
  /* elementwise.cpp: binary with broadcasting */                                             \
  X(add) X(sub) X(mul) X(div)                                                                 \
  /* elementwise.cpp: unary */                                                                \
  X(neg) X(exp) X(log) X(sqrt) X(rsqrt) X(pow) X(abs) X(tanh) X(sigmoid) X(relu) X(gelu)      \
  X(gelu_tanh) X(silu) X(softplus)                                                            \
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
  X(conv1d_causal_depthwise) X(unfold_patches)                                                \
  /* view.cpp: no data moves */                                                               \
  X(view) X(permute) X(slice) X(expand)                                                       \
  /* copy.cpp */                                                                              \
  X(copy) X(cast) X(to_device)                                                               \
  /* optim.cpp: parameter updates, no autograd */                                             \
  X(adamw_step) X(sgd_step)

enum class Op {
#define SIEVE_OP_ENUM(name) name,
  SIEVE_OP_LIST(SIEVE_OP_ENUM)
#undef SIEVE_OP_ENUM
      count
};

inline constexpr const char* kOpNames[] = {
#define SIEVE_OP_NAME(name) #name,
    SIEVE_OP_LIST(SIEVE_OP_NAME)
#undef SIEVE_OP_NAME
};

static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(Op::count),
              "the op enum and the op name table must list the same ops");

constexpr const char* op_name(Op op) { return kOpNames[static_cast<size_t>(op)]; }
constexpr size_t kOpCount = static_cast<size_t>(Op::count);

}  // namespace sieve
