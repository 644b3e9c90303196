// models/vlm.h — a small LLaVA (Liu et al. 2023): a frozen CLIP image tower, a projector, and a
// byte-level causal language model that answers questions about images.
//
// Legend: B examples, n cells of a scene (1, or 4 for a 2×2 grid), Tv visual tokens per cell, Dv
// the tower's width, D the language model's width, Lt text tokens, L = n·Tv + Lt, V = 259 bytes
// and specials (datasets/captions.h).
//
//   cells (n, 1, 28, 28) → vision_tower: the CLIP ViT's patch tokens after its penultimate block,
//     CLS dropped (LLaVA's choice) → (n, 196, Dv); "shuffle": 2×2 pixel-shuffle (nanoVLM) →
//     (n, 49, 4·Dv), a quarter of the tokens for the language model to read; "prune": EViT's rule
//     once (models/token_reduction.h), the 98 patch tokens the penultimate block's CLS row attends
//     to most, in grid order → (n, 98, Dv)
//   → mm_projector (models/projectors.h) → (n, Tv, D), the cells' tokens in reading order
//   → language_model, a CausalTransformer (or a Mamba: `lm`) over [visual tokens][start, question
//     bytes, '\n', answer bytes, end] → next-token logits (L, V)
// The loss is the cross-entropy of the answer's bytes and end token only (the image and the
// question are context, never targets). A batch's sequences are right-padded to the longest: with
// causal attention nothing real ever reads a pad, so no mask is needed and each sequence's
// positions start at 0 as they do when it is decoded alone.
//
// Each cell goes through the tower alone, as the tower was trained on single 28×28 images. The
// tower is frozen: it runs under NoGradGuard, its parameters do not require gradients, so no
// optimizer touches them (a test checks they stay bit for bit), and it is built without dropout,
// so its features are the same in training and inference.
// generate() answers greedily with the language model's cache (the Transformer's keys and values,
// models/transformer.h; Mamba's constant-size state, models/mamba.h): the prompt is one prefill,
// each new byte one position.
// Names as LLaVA's: vision_tower.*, mm_projector.*, language_model.*.
//
// What it is not: the training loop or its data (datasets/vqa.h makes the examples), a tokenizer
// (bytes), or batched generation. Extend: another visual-token reduction is a value of
// visual_tokens and a branch in vision_features; another language model needs an embed stem,
// forward_embeddings and decode as CausalTransformer's and MambaModel's, and a branch in the three
// language-model helpers of vlm.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/mamba.h"
#include "models/projectors.h"
#include "models/transformer.h"
#include "models/vit.h"

namespace sieve::models {

struct VlmConfig {
  VitConfig vision;                      // the CLIP image tower's (num_classes: its embedding size)
  std::string projector = "mlp";         // models/projectors.h kProjectorNames
  int64_t rank = 8;                      // lowrank and lora
  std::string visual_tokens = "shuffle";  // all (196 per cell), prune (98) or shuffle (49)
  std::string lm = "transformer";        // the language model: transformer or mamba
  int64_t dim = 128, depth = 4, heads = 4, mlp_hidden = 512;  // its width and depth (heads, mlp: transformer's)
  int64_t d_state = 16;                   // mamba's state size (expand 2, d_conv 4: Mamba's defaults)
};

// One example's text, for the loss: the question and the answer (datasets/vqa.h).
struct VlmText {
  std::string question, answer;
};

// The byte tokens of an example's text: start, question, '\n', answer, end; and where the answer
// begins (the index of its first byte). A text longer than `max_tokens` is an error naming it.
struct VlmTokens {
  std::vector<int64_t> ids;
  int64_t answer_start = 0;
};
VlmTokens vlm_tokens(const VlmText& text, int64_t max_tokens = 512);
// The prompt alone (start, question, '\n'): what generation starts from.
std::vector<int64_t> vlm_prompt(const std::string& question, int64_t max_tokens = 512);

class VisionLanguageModel : public nn::Module {
 public:
  explicit VisionLanguageModel(const VlmConfig& config, Generator* gen = nullptr);

  // cells (N, C, H, W), already normalised as the tower's training data → (N, Tv, Dv′), no gradient.
  Tensor vision_features(const Tensor& cells);
  int64_t visual_tokens_per_cell() const;

  // Mean cross-entropy over the answers' tokens. cells: every example's cells, example by example
  // (cells_per_example[b] of them for example b); texts: one per example.
  // answer_accuracy, when given, receives the share of answer tokens whose logits' argmax is right
  // (teacher-forced, so a guide, not the exact-match accuracy of generated answers).
  Tensor loss(const Tensor& cells, const std::vector<int64_t>& cells_per_example, const std::vector<VlmText>& texts,
              double* answer_accuracy = nullptr);

  // The language model's pieces, whichever it is: token embedding (B, L) → (B, L, D); logits of
  // embedded positions (B, L, D) → (B, L, V).
  Tensor embed_text(const Tensor& ids);
  Tensor language_logits(const Tensor& embedded);

  // The greedy answer to `question` about one scene's cells (n, C, H, W), at most max_new bytes;
  // on_byte, when given, sees each byte as it is decided (streaming). Stops at the end token,
  // unless !stop_at_end (then exactly max_new positions are decided; specials are fed back as they
  // come and left out of the answer).
  std::string generate(const Tensor& cells, const std::string& question, int64_t max_new = 32,
                       const std::function<void(char)>& on_byte = {}, bool stop_at_end = true);

  // Generation a position at a time, what generate() is made of: begin_answer reads one scene's
  // cells and the question (one prefill) and returns the logits for the first answer byte, (1, V);
  // continue_answer feeds a chosen token and returns the next logits. `state` holds the cache.
  struct Decoding {
    std::vector<nn::KVCache> kv;  // the Transformer's keys and values
    std::vector<MambaCache> ssm;  // or Mamba's conv inputs and states
  };
  Tensor begin_answer(Decoding& state, const Tensor& cells, const std::string& question);
  Tensor continue_answer(Decoding& state, int64_t token);

  // The prompt's logits without a cache, for `sieve bench vlm` and tests: cells of n scenes of
  // equal size (n·k, C, H, W), the same question for each → (n, L, V).
  Tensor prefill_logits(const Tensor& cells, int64_t scenes, const std::string& question);

  VlmConfig config;
  std::shared_ptr<VisionTransformer> vision_tower;  // frozen
  std::shared_ptr<nn::Module> mm_projector;
  std::shared_ptr<nn::Module> language_model;  // registered once; one of the two below is it

 private:
  Tensor decode(Decoding& state, const Tensor& x);  // the language model's cached positions
  std::shared_ptr<CausalTransformer> transformer_;
  std::shared_ptr<MambaModel> mamba_;
};

}  // namespace sieve::models
