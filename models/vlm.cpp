// models/vlm.cpp — VisionLanguageModel (see vlm.h).
#include "models/vlm.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/captions.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "models/token_reduction.h"

namespace sieve::models {

namespace {

void append_bytes(std::vector<int64_t>& ids, const std::string& text) {
  for (unsigned char c : text) ids.push_back(c);
}

}  // namespace

std::vector<int64_t> vlm_prompt(const std::string& question, int64_t max_tokens) {
  std::vector<int64_t> ids = {kTextStart};
  append_bytes(ids, question);
  ids.push_back('\n');
  SIEVE_CHECK(std::ssize(ids) <= max_tokens, "vlm: the question '{}' takes {} tokens, more than the {} allowed",
              question.substr(0, 60), ids.size(), max_tokens);
  return ids;
}

VlmTokens vlm_tokens(const VlmText& text, int64_t max_tokens) {
  VlmTokens out;
  out.ids = vlm_prompt(text.question, max_tokens);
  out.answer_start = std::ssize(out.ids);
  append_bytes(out.ids, text.answer);
  out.ids.push_back(kTextEnd);
  SIEVE_CHECK(std::ssize(out.ids) <= max_tokens, "vlm: question and answer '{}' take {} tokens, more than the {} allowed",
              text.answer.substr(0, 60), out.ids.size(), max_tokens);
  return out;
}

VisionLanguageModel::VisionLanguageModel(const VlmConfig& c, Generator* gen) : Module("VisionLanguageModel"), config(c) {
  SIEVE_CHECK(c.visual_tokens == "all" || c.visual_tokens == "shuffle" || c.visual_tokens == "prune",
              "vlm: --visual_tokens '{}': want all, prune or shuffle", c.visual_tokens);
  vision_tower = register_module("vision_tower", std::make_shared<VisionTransformer>(c.vision, gen));
  vision_tower->requires_grad_(false);
  const int64_t side = c.vision.image_size / c.vision.patch;
  SIEVE_CHECK(c.visual_tokens != "prune" || c.vision.depth >= 2,
              "--visual_tokens prune: the tokens are scored by the penultimate block's attention; the tower has "
              "{} block", c.vision.depth);
  SIEVE_CHECK(c.visual_tokens != "shuffle" || side % 2 == 0,
              "--visual_tokens shuffle: 2×2 pixel shuffle needs an even grid of patches, the tower has {}×{} "
              "(use --visual_tokens all)", side, side);
  const int64_t feature = c.visual_tokens == "shuffle" ? 4 * c.vision.dim : c.vision.dim;
  mm_projector = register_module(
      "mm_projector", make_projector({.kind = c.projector, .in_dim = feature, .out_dim = c.dim, .rank = c.rank}, gen));
  SIEVE_CHECK(c.lm == "transformer" || c.lm == "mamba", "--lm '{}': want transformer or mamba", c.lm);
  const SequenceIO bytes{.vocab = kTextVocab, .in_channels = 1, .num_classes = kTextVocab, .per_token = true};
  if (c.lm == "transformer") {
    transformer_ = std::make_shared<CausalTransformer>(
        TransformerConfig{.io = bytes, .dim = c.dim, .depth = c.depth, .heads = c.heads, .mlp_hidden = c.mlp_hidden}, gen);
    language_model = register_module("language_model", std::shared_ptr<nn::Module>(transformer_));
  } else {
    mamba_ = std::make_shared<MambaModel>(MambaConfig{.io = bytes, .dim = c.dim, .depth = c.depth, .d_state = c.d_state},
                                          gen);
    language_model = register_module("language_model", std::shared_ptr<nn::Module>(mamba_));
  }
}

Tensor VisionLanguageModel::embed_text(const Tensor& ids) {
  return transformer_ ? transformer_->embed->forward(ids) : mamba_->embed->forward(ids);
}

Tensor VisionLanguageModel::language_logits(const Tensor& embedded) {
  return transformer_ ? transformer_->forward_embeddings(embedded) : mamba_->forward_embeddings(embedded);
}

int64_t VisionLanguageModel::visual_tokens_per_cell() const {
  const int64_t side = config.vision.image_size / config.vision.patch;
  if (config.visual_tokens == "prune") return (side * side + 1) / 2;  // ⌈N/2⌉, as keep_top_tokens' keep 0.5
  return config.visual_tokens == "shuffle" ? side * side / 4 : side * side;
}

Tensor VisionLanguageModel::vision_features(const Tensor& cells) {
  NoGradGuard no_grad;
  const nn::ModuleScope scope(vision_tower.get());
  Tensor x = vision_tower->embed(cells);
  // LLaVA reads hidden_states[-2]: the tokens after the penultimate block.
  const size_t last = vision_tower->blocks->size() - 1;
  for (size_t i = 0; i < last; ++i) {
    nn::TransformerBlock& block = *vision_tower->blocks->at<nn::TransformerBlock>(i);
    // prune: the penultimate block also hands back its CLS row's attention (EViT's token score).
    x = block.forward(x, AttentionOptions{.want_cls_probs = config.visual_tokens == "prune" && i + 1 == last});
  }
  const int64_t N = x.size(0), P = x.size(1) - 1, Dv = x.size(2);
  if (config.visual_tokens == "prune") {
    // EViT's rule, once: keep the half of the patch tokens CLS attends to most, in grid order.
    const Tensor& probs = vision_tower->blocks->at<nn::TransformerBlock>(last - 1)->attn->last_cls_probs;
    const Tensor kept = keep_top_tokens(x, probs.narrow(1, 1, P).to(DType::f64).to_vector<double>(),
                                        visual_tokens_per_cell(), Dropped::discard);
    return kept.narrow(1, 1, kept.size(1) - 1);  // CLS dropped
  }
  Tensor patches = x.narrow(1, 1, P);  // CLS dropped
  if (config.visual_tokens == "all") return patches;
  // 2×2 pixel shuffle: each 2×2 block of the grid becomes one token of its four tokens' features.
  const int64_t half = config.vision.image_size / config.vision.patch / 2;
  return patches.reshape({N, half, 2, half, 2, Dv}).permute({0, 1, 3, 2, 4, 5}).reshape({N, half * half, 4 * Dv});
}

Tensor VisionLanguageModel::loss(const Tensor& cells, const std::vector<int64_t>& cells_per_example,
                                 const std::vector<VlmText>& texts, double* answer_accuracy) {
  const nn::ModuleScope scope(this);
  const int64_t B = std::ssize(texts);
  SIEVE_CHECK(B > 0 && std::ssize(cells_per_example) == B, "vlm: {} texts for {} examples", B,
              cells_per_example.size());
  const int64_t total_cells = std::accumulate(cells_per_example.begin(), cells_per_example.end(), int64_t{0});
  SIEVE_CHECK(cells.ndim() == 4 && cells.size(0) == total_cells, "vlm: {} cells given, the examples have {}",
              cells.ndim() == 4 ? cells.size(0) : 0, total_cells);
  const Tensor visual = mm_projector->forward(vision_features(cells));  // (cells, Tv, D)
  const int64_t Tv = visual.size(1), D = config.dim;

  // Every example's byte tokens, embedded in one call.
  std::vector<VlmTokens> tokens;
  std::vector<int64_t> all_ids;
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    tokens.push_back(vlm_tokens(texts[static_cast<size_t>(b)]));
    all_ids.insert(all_ids.end(), tokens.back().ids.begin(), tokens.back().ids.end());
    longest = std::max(longest, cells_per_example[static_cast<size_t>(b)] * Tv + std::ssize(tokens.back().ids));
  }
  const Tensor text = embed_text(from_vector<int64_t>(all_ids, {1, std::ssize(all_ids)}, visual.device()));  // (1, ΣLt, D)

  // The sequences gathered from one table of rows — visual tokens, text tokens, a zero row for the
  // padding — by one index_select, so backward is one scatter into the projector's output.
  const int64_t visual_rows = total_cells * Tv, pad_row = visual_rows + std::ssize(all_ids);
  const Tensor table = cat({visual.reshape({visual_rows, D}), text.reshape({-1, D}),
                            zeros({1, D}, {.dtype = visual.dtype(), .device = visual.device()})},
                           0);
  std::vector<int64_t> rows(static_cast<size_t>(B * longest), pad_row), targets(static_cast<size_t>(B * longest), -100);
  int64_t cell = 0, text_row = visual_rows;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = cells_per_example[static_cast<size_t>(b)] * Tv;
    const VlmTokens& t = tokens[static_cast<size_t>(b)];
    int64_t* row = rows.data() + b * longest;
    std::iota(row, row + n, cell * Tv);
    std::iota(row + n, row + n + std::ssize(t.ids), text_row);
    // Position n + j reads token j and predicts token j + 1: a target where j + 1 is in the answer.
    for (int64_t j = t.answer_start - 1; j + 1 < std::ssize(t.ids); ++j)
      targets[static_cast<size_t>(b * longest + n + j)] = t.ids[static_cast<size_t>(j + 1)];
    cell += cells_per_example[static_cast<size_t>(b)];
    text_row += std::ssize(t.ids);
  }
  const Tensor x = index_select(table, 0, from_vector<int64_t>(rows, {B * longest}, visual.device()))
                       .view({B, longest, D});
  const Tensor logits = language_logits(x).reshape({B * longest, kTextVocab});
  if (answer_accuracy != nullptr) {
    const std::vector<int64_t> guess = argmax(logits.detach(), -1).to_vector<int64_t>();
    int64_t right = 0, counted = 0;
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i] != -100) right += guess[i] == targets[i], ++counted;
    *answer_accuracy = static_cast<double>(right) / static_cast<double>(std::max<int64_t>(counted, 1));
  }
  return cross_entropy(logits, from_vector<int64_t>(targets, {B * longest}, visual.device()));
}

Tensor VisionLanguageModel::prefill_logits(const Tensor& cells, int64_t scenes, const std::string& question) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(scenes > 0 && cells.size(0) % scenes == 0, "vlm: {} cells do not split into {} scenes", cells.size(0),
              scenes);
  const Tensor visual = mm_projector->forward(vision_features(cells)).reshape({scenes, -1, config.dim});
  const std::vector<int64_t> prompt = vlm_prompt(question);
  const Tensor ids = from_vector<int64_t>(prompt, {1, std::ssize(prompt)}, visual.device()).expand({scenes, std::ssize(prompt)});
  return language_logits(cat({visual, embed_text(ids.contiguous())}, 1));
}

Tensor VisionLanguageModel::begin_answer(Decoding& state, const Tensor& cells, const std::string& question) {
  const nn::ModuleScope scope(this);
  NoGradGuard no_grad;
  const Tensor visual = mm_projector->forward(vision_features(cells));  // (n, Tv, D)
  const std::vector<int64_t> prompt = vlm_prompt(question);
  const Tensor prompt_ids = from_vector<int64_t>(prompt, {1, std::ssize(prompt)}, visual.device());
  state = Decoding{};
  return decode(state, cat({visual.reshape({1, -1, config.dim}), embed_text(prompt_ids)}, 1)).select(1, -1);
}

Tensor VisionLanguageModel::continue_answer(Decoding& state, int64_t token) {
  const nn::ModuleScope scope(this);
  NoGradGuard no_grad;
  const Tensor id = from_vector<int64_t>({token}, {1, 1}, language_model->device());
  return decode(state, embed_text(id)).select(1, -1);
}

Tensor VisionLanguageModel::decode(Decoding& state, const Tensor& x) {
  return transformer_ ? transformer_->decode(x, state.kv) : mamba_->decode(x, state.ssm);
}

std::string VisionLanguageModel::generate(const Tensor& cells, const std::string& question, int64_t max_new,
                                          const std::function<void(char)>& on_byte, bool stop_at_end) {
  Decoding state;
  Tensor logits = begin_answer(state, cells, question);  // one prefill of the image and the question
  std::string answer;
  for (int64_t i = 0; i < max_new; ++i) {
    const int64_t token = argmax(logits, -1).to(kCPU).data<int64_t>()[0];
    if (token >= 256 && stop_at_end) break;  // the end token (or another special: nothing more to say)
    if (token < 256) {
      answer.push_back(static_cast<char>(token));
      if (on_byte) on_byte(static_cast<char>(token));
    }
    if (i + 1 < max_new) logits = continue_answer(state, token);
  }
  return answer;
}

}  // namespace sieve::models
