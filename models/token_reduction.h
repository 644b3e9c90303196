// models/token_reduction.h — fewer vision tokens inside a ViT: EViT-style pruning (VTP), the
// study's L2 pruning, ToMe merging and SVTR's summary token, at inference and in training.
//
// Legend: B batch, T tokens now (CLS first), N = T − 1 patch tokens, D width, Dh head size,
// K = ⌈keep·N⌉ patch tokens kept, r tokens merged per block.
//
//   evit:K[:fuse]  after the attention of chosen blocks (EViT's blocks 4, 7, 10 of 12, scaled to
//                  the depth: evit_blocks), keep CLS and the K patch tokens with the largest CLS
//                  attention (the head mean of query row 0's probabilities, which the fused
//                  attention op hands back). fuse: the dropped tokens become one more token,
//                  Σ a_j·x_j over them with a_j their CLS attention — not renormalised, as EViT's
//                  code. A fused token is a token like any other at the next pruning.
//   l2:K           once, before the first block: keep the K patch tokens of largest ‖x_j‖ (the
//                  course study's variant).
//   svtr:K         as evit, and the dropped tokens become one summary token, their plain mean.
//   tome:r         in every block between attention and MLP (ToMe, Bolya et al. 2023): tokens
//                  split alternately into sets A (even positions, CLS among them) and B (odd);
//                  each A token finds its most similar B token (cosine of the head-averaged keys);
//                  the r most similar pairs merge into the B token by size-weighted average. Each
//                  token carries its size (patches it stands for), and attention adds log(size) to
//                  every key's score (proportional attention, ops/attention.h key_bias). CLS never
//                  merges.
//
// Each sample keeps its own tokens: the choice is made per sample on the host from scores of
// (B, T) or (B, T/2) values, and the tokens move with index_select / scatter_add on the flattened
// (B·T, D) rows — gathers, not masks, so the later blocks really run on fewer tokens. Every step
// is differentiable in x (the scores and sizes carry no gradient), so pruning-aware fine-tuning
// trains through it. keep 1.0 / r 0 changes nothing: the same ops as the plain ViT, bit for bit
// (a test checks it).
//
// What it is not: a new op (all of it composes index_select, scatter_add, matmul and attention)
// or a learned token scorer (DynamicViT). Extend: a new method is a Reduction value, a case in
// parse_reduction and a step in run_reduced_blocks; its token choice is a host function like
// keep_top_tokens.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace sieve::models {

class VisionTransformer;  // models/vit.h, whose forward calls run_reduced_blocks

enum class Reduction { none, evit, l2, svtr, tome };

struct TokenReduction {
  Reduction method = Reduction::none;
  double keep = 1.0;            // evit, l2, svtr: the share of patch tokens each pruning keeps
  bool fuse = false;            // evit: the dropped tokens become one attention-weighted token
  int64_t merge = 0;            // tome: r, tokens merged in every block
  std::vector<int64_t> blocks = {};  // evit, svtr: prune after the attention of these (0-based); empty: evit_blocks
};

// "none", "evit:0.7", "evit:0.7:fuse", "l2:0.5", "svtr:0.7", "tome:8"; evit and svtr take "@1,2,3"
// at the end for their blocks (0-based). A bad text is an error naming `flag` and the problem.
TokenReduction parse_reduction(const std::string& text, const std::string& flag = "--reduce");
std::string reduction_str(const TokenReduction& r);  // the text parse_reduction reads back

// EViT's pruning blocks for a ViT of `depth`: its 0-based blocks 3, 6, 9 of 12 scaled, ⌊i·depth/12⌋,
// duplicates removed.
std::vector<int64_t> evit_blocks(int64_t depth);

// The tokens each block's attention sees and, last, the tokens the head reads: depth + 1 counts,
// the same for every sample. An r or block index the model cannot take is an error naming it.
std::vector<int64_t> tokens_per_block(const TokenReduction& r, int64_t patches, int64_t depth);

// How a pruning treats the tokens it drops.
enum class Dropped { discard, weighted_sum, mean };

// x (B, T, D) with CLS at 0, scores: B·(T − 1) importances of the patch tokens, row-major →
// (B, 1 + K [+ 1], D): CLS, then each sample's K best patch tokens in their original order, then
// (unless discard) one token made of the dropped ones (weighted_sum: Σ score·x; mean).
Tensor keep_top_tokens(const Tensor& x, const std::vector<double>& scores, int64_t keep, Dropped dropped);

// ToMe's bipartite merge of r tokens. x (B, T, D), key_mean (B, T, Dh), sizes (B, T) or undefined
// (every size 1) → {x (B, T − r, D), sizes (B, T − r)}: A's unmerged tokens (CLS first) in order,
// then B's tokens.
struct Merged {
  Tensor x, sizes;
};
Merged tome_merge(const Tensor& x, const Tensor& key_mean, const Tensor& sizes, int64_t r);

// The ViT's blocks over tokens (B, 1 + N, D) from vit.embed(), with the reduction → the final
// tokens (B, T', D), CLS first (vit.classify reads it).
Tensor run_reduced_blocks(VisionTransformer& vit, Tensor tokens, const TokenReduction& r);

}  // namespace sieve::models
