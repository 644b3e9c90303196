// models/clip.h — a CLIP-style dual encoder (Radford et al. 2021, trained with open_clip's
// recipe), sized for MNIST-scale images, and its contrastive loss.
//
//   images (B, C, H, W) → visual: the ViT of models/vit.h at patch 2 (28×28: 196 patch tokens, as
//     ViT-B/16 at 224 px, plus CLS) whose head is the projection D → E → image embedding (B, E)
//   texts → byte tokens (B, T) (datasets/captions.h) → text: ByteTextEncoder → text embedding (B, E)
//   logits = exp(logit_scale) · normalize(images) · normalize(texts)ᵀ                     (B, B)
//
// ByteTextEncoder: token embedding (259 byte tokens) + learned positions (T, D) → depth × causal
// pre-LN TransformerBlock → LayerNorm → the end token's features (B, D) → proj (D → E, no bias).
// Causal attention is why the padding after the end token needs no mask: nothing reads forward.
//
// Training (training_step): each image gets a caption drawn from its class's training templates
// (the default generator, whose state a checkpoint saves: a resumed run draws the same ones) and
// the loss is clip_loss. A batch of 128 from 20 classes holds several images of each class whose
// captions name the same thing; plain CLIP would push those true pairs apart, so every pair of
// the same class counts as a positive (SupCon's multi-positive targets): image i's target over the
// batch's texts is uniform over the texts of its class, and the same for text → image. When the
// classes in a batch are all different this is exactly CLIP's loss (a test checks it); the option
// class_positives = false gives CLIP's loss always. Deduplicating the texts instead would still
// leave several images of a class each with only one positive among them.
// logit_scale starts at ln(1/0.07) and is clamped to [0, ln 100] after every optimizer step
// (after_step), as open_clip does; step_figures() reports it beside the loss.
//
// forward(images) = zero-shot logits over the classes set by set_zero_shot_texts: class c's
// embedding is the mean of its texts' normalised embeddings, normalised again (open_clip's
// template ensembling), and logits = 100 · normalize(image) · classesᵀ. So `sieve eval` and the
// trainer's test accuracy are zero-shot accuracies. set_training_texts gives the captions
// training draws from; the trainer sets both from the dataset (datasets/captions.h).
//
// config.reduction prunes or merges the image tower's tokens (models/token_reduction.h), at
// inference and in training (pruning-aware fine-tuning); visual->reduction may be changed at will.
// What it is not: a text generator.
// Extend: another pooling (mean of tokens) replaces ByteTextEncoder::pool; keep the names.
#pragma once

#include <string>
#include <vector>

#include "datasets/captions.h"
#include "models/registry.h"
#include "models/vit.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace sieve::models {

struct ClipConfig {
  VitConfig vision;  // num_classes is the embedding size E
  int64_t text_dim = 64, text_depth = 2, text_heads = 4, text_mlp_hidden = 128, context = 48;
  int64_t embed_dim = 64;
  bool class_positives = true;
  TokenReduction reduction;  // inside the image tower (models/token_reduction.h)
};

class ByteTextEncoder : public nn::Module {
 public:
  ByteTextEncoder(int64_t context, int64_t dim, int64_t depth, int64_t heads, int64_t mlp_hidden, int64_t embed_dim,
                  Generator* gen = nullptr);
  // tokens (B, T) int64 with T ≤ context, ends (B,) int64 → (B, E)
  Tensor encode(const Tensor& tokens, const Tensor& ends);
  Tensor forward(const Tensor& tokens) override;  // ends found from the tokens (kTextEnd)

  int64_t context;
  std::shared_ptr<nn::Embedding> token_embed;
  Tensor pos_embed;  // (context, D)
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> proj;
};

// The loss of a batch: image_emb (B, E), text_emb (B, E), labels (B) int64 (used when
// class_positives), logit_scale a 0-d tensor (its exp multiplies the cosine similarities).
Tensor clip_loss(const Tensor& image_emb, const Tensor& text_emb, const Tensor& labels, const Tensor& logit_scale,
                 bool class_positives);

// x (..., E) / ‖x‖ along the last dim.
Tensor l2_normalize(const Tensor& x);

class ClipModel : public nn::Module,
                  public HasTrainingLoss,
                  public HasStepHooks,
                  public HasTextClasses,
                  public HasImageFeatures {
 public:
  explicit ClipModel(const ClipConfig& config, Generator* gen = nullptr);

  Tensor forward(const Tensor& images) override;  // zero-shot logits (B, classes)
  StepOutput training_step(const Tensor& images, const Tensor& labels) override;
  void after_step() override;                                  // clamps logit_scale to [0, ln 100]
  std::vector<std::pair<std::string, double>> step_figures() override;  // {"scale", exp(logit_scale)}

  Tensor encode_images(const Tensor& images);                   // (B, E), not normalised
  Tensor image_features(const Tensor& images) override;        // (B, E), normalised: the probe's input
  Tensor encode_texts(const std::vector<std::string>& texts);  // (N, E), not normalised
  // (classes, E): per class the normalised mean of its texts' normalised embeddings.
  Tensor class_embeddings(const std::vector<std::vector<std::string>>& texts);

  void set_training_texts(std::vector<std::vector<std::string>> texts) override;
  void set_zero_shot_texts(std::vector<std::vector<std::string>> texts) override;

  ClipConfig config;
  std::shared_ptr<VisionTransformer> visual;
  std::shared_ptr<ByteTextEncoder> text;
  Tensor logit_scale;  // 0-d

 private:
  EncodedTexts encode_texts_as_tokens(const std::vector<std::string>& texts) const;  // on the model's device
  std::vector<std::vector<std::string>> training_texts_, zero_shot_texts_;
};

inline constexpr double kClipMaxLogitScale = 4.605170185988091;  // ln 100

}  // namespace sieve::models
