// models/clip.cpp — ByteTextEncoder, clip_loss and ClipModel (see clip.h).
#include "models/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/captions.h"
#include "nn/init.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/softmax.h"

namespace sieve::models {

// ---------------------------------------------------------------- the text tower

ByteTextEncoder::ByteTextEncoder(int64_t context_, int64_t dim, int64_t depth, int64_t heads, int64_t mlp_hidden,
                                 int64_t embed_dim, Generator* gen)
    : Module("ByteTextEncoder"), context(context_) {
  SIEVE_CHECK(context >= 3 && dim > 0 && depth > 0 && heads > 0 && dim % heads == 0 && embed_dim > 0,
              "clip text encoder: context {} (≥ 3), dim {} (a multiple of heads {}), depth {}, embed_dim {}", context,
              dim, heads, depth, embed_dim);
  token_embed = register_module("token_embed", std::make_shared<nn::Embedding>(kTextVocab, dim, gen));
  nn::init::normal_(token_embed->weight, 0.0, 0.02, gen);  // open_clip's token embedding std
  Tensor pos = zeros({context, dim});
  nn::init::normal_(pos, 0.0, 0.01, gen);  // and its positional std
  pos_embed = register_parameter("pos_embed", pos, /*no_weight_decay=*/true);
  blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < depth; ++i)
    blocks->push_back(std::make_shared<nn::TransformerBlock>(dim, heads, mlp_hidden, 0.0, 1e-5, gen));
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(dim, 1e-5));
  proj = register_module("proj", std::make_shared<nn::Linear>(dim, embed_dim, /*bias=*/false, gen));
}

Tensor ByteTextEncoder::encode(const Tensor& tokens, const Tensor& ends) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(tokens.ndim() == 2 && tokens.size(1) <= context && ends.ndim() == 1 && ends.size(0) == tokens.size(0),
              "clip text encoder: tokens {} and ends {} (want (B, T ≤ {}) and (B))", shape_str(tokens.shape()),
              shape_str(ends.shape()), context);
  const int64_t B = tokens.size(0), T = tokens.size(1);
  Tensor x = token_embed->forward(tokens) + pos_embed.narrow(0, 0, T);  // (B, T, D)
  const AttentionOptions causal{.causal = true};
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->at<nn::TransformerBlock>(i)->forward(x, causal);
  // Each row's end token, picked out of the flattened (B·T, D) rows: row b's is b·T + ends[b].
  std::vector<int64_t> at = ends.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) at[static_cast<size_t>(b)] += b * T;
  const Tensor rows = from_vector<int64_t>(at, {B}, x.device());
  const Tensor pooled = index_select(x.reshape({B * T, x.size(2)}), 0, rows);  // (B, D)
  return proj->forward(norm->forward(pooled));
}

Tensor ByteTextEncoder::forward(const Tensor& tokens) {
  const std::vector<int64_t> t = tokens.to_vector<int64_t>();
  const int64_t B = tokens.size(0), T = tokens.size(1);
  std::vector<int64_t> ends(static_cast<size_t>(B), -1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T && ends[static_cast<size_t>(b)] < 0; ++i)
      if (t[static_cast<size_t>(b * T + i)] == kTextEnd) ends[static_cast<size_t>(b)] = i;
  for (int64_t b = 0; b < B; ++b) SIEVE_CHECK(ends[static_cast<size_t>(b)] >= 0, "clip text encoder: row {} has no end token", b);
  return encode(tokens, from_vector<int64_t>(ends, {B}, tokens.device()));
}

// ---------------------------------------------------------------- the loss

Tensor l2_normalize(const Tensor& x) { return x * rsqrt(sum(x * x, {-1}, true) + 1e-12); }

Tensor clip_loss(const Tensor& image_emb, const Tensor& text_emb, const Tensor& labels, const Tensor& logit_scale,
                 bool class_positives) {
  SIEVE_CHECK(image_emb.ndim() == 2 && image_emb.shape() == text_emb.shape() && labels.ndim() == 1 &&
                  labels.size(0) == image_emb.size(0),
              "clip_loss: image {} and text {} embeddings and labels {} must be (B, E), (B, E), (B)",
              shape_str(image_emb.shape()), shape_str(text_emb.shape()), shape_str(labels.shape()));
  const int64_t B = image_emb.size(0);
  const Tensor logits = exp(logit_scale) * matmul(l2_normalize(image_emb), l2_normalize(text_emb).t());  // (B, B)
  if (!class_positives) {
    const Tensor diagonal = arange(0, static_cast<double>(B), 1, {.dtype = DType::i64, .device = logits.device()});
    return (cross_entropy(logits, diagonal) + cross_entropy(logits.t(), diagonal)) * 0.5;
  }
  // targets[i][j] = 1 / (images of i's class) where j's class is i's: uniform over the positives.
  // The relation is symmetric, so the same matrix serves text → image.
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  std::vector<double> targets(static_cast<size_t>(B * B), 0.0);
  for (int64_t i = 0; i < B; ++i) {
    int64_t same = 0;
    for (int64_t j = 0; j < B; ++j) same += y[static_cast<size_t>(j)] == y[static_cast<size_t>(i)];
    for (int64_t j = 0; j < B; ++j)
      if (y[static_cast<size_t>(j)] == y[static_cast<size_t>(i)])
        targets[static_cast<size_t>(i * B + j)] = 1.0 / static_cast<double>(same);
  }
  const Tensor p = from_vector<double>(targets, {B, B}).to(logits.dtype()).to(logits.device());
  const Tensor image_to_text = sum(p * log_softmax(logits, 1)) * (-1.0 / static_cast<double>(B));
  const Tensor text_to_image = sum(p * log_softmax(logits.t(), 1)) * (-1.0 / static_cast<double>(B));
  return (image_to_text + text_to_image) * 0.5;
}

// ---------------------------------------------------------------- the model

ClipModel::ClipModel(const ClipConfig& c, Generator* gen) : Module("ClipModel"), config(c) {
  VitConfig vision = c.vision;
  vision.num_classes = c.embed_dim;  // the head is the image projection
  visual = register_module("visual", std::make_shared<VisionTransformer>(vision, gen));
  visual->reduction = c.reduction;
  text = register_module("text", std::make_shared<ByteTextEncoder>(c.context, c.text_dim, c.text_depth, c.text_heads,
                                                                   c.text_mlp_hidden, c.embed_dim, gen));
  logit_scale = register_parameter("logit_scale", scalar(std::log(1.0 / 0.07)), /*no_weight_decay=*/true);
}

Tensor ClipModel::encode_images(const Tensor& images) { return visual->forward(images); }

Tensor ClipModel::image_features(const Tensor& images) {
  const nn::ModuleScope scope(this);
  return l2_normalize(encode_images(images));
}

Tensor ClipModel::encode_texts(const std::vector<std::string>& texts) {
  const EncodedTexts enc = encode_texts_as_tokens(texts);
  return text->encode(enc.tokens, enc.ends);
}

EncodedTexts ClipModel::encode_texts_as_tokens(const std::vector<std::string>& texts) const {
  EncodedTexts enc = sieve::encode_texts(texts, config.context, "clip");
  const Device device = logit_scale.device();
  return {enc.tokens.to(device), enc.ends.to(device)};
}

Tensor ClipModel::class_embeddings(const std::vector<std::vector<std::string>>& texts) {
  SIEVE_CHECK(!texts.empty(), "clip: no classes to compare the images with (set_zero_shot_texts)");
  std::vector<std::string> all;
  for (const auto& class_texts : texts) {
    SIEVE_CHECK(!class_texts.empty(), "clip: a class without texts");
    all.insert(all.end(), class_texts.begin(), class_texts.end());
  }
  const Tensor each = l2_normalize(encode_texts(all));  // (Σ texts, E)
  std::vector<Tensor> rows;
  int64_t start = 0;
  for (const auto& class_texts : texts) {
    const int64_t n = static_cast<int64_t>(class_texts.size());
    rows.push_back(mean(each.narrow(0, start, n), {0}, true));
    start += n;
  }
  return l2_normalize(cat(rows, 0));  // (classes, E)
}

Tensor ClipModel::forward(const Tensor& images) {
  const nn::ModuleScope scope(this);
  const Tensor classes = class_embeddings(zero_shot_texts_);
  return matmul(l2_normalize(encode_images(images)), classes.t()) * 100.0;
}

StepOutput ClipModel::training_step(const Tensor& images, const Tensor& labels) {
  const nn::ModuleScope scope(this);
  SIEVE_CHECK(!training_texts_.empty(), "clip: no training captions (set_training_texts)");
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  const int64_t B = static_cast<int64_t>(y.size());
  // One caption per image, its template drawn from the default generator (saved in checkpoints).
  const std::vector<int64_t> draws = randint(0, 1 << 30, {B}, {.dtype = DType::i64}).to_vector<int64_t>();
  std::vector<std::string> captions;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t c = y[static_cast<size_t>(i)];
    SIEVE_CHECK(c >= 0 && c < static_cast<int64_t>(training_texts_.size()), "clip: label {} has no captions ({} classes)",
                c, training_texts_.size());
    const auto& options = training_texts_[static_cast<size_t>(c)];
    captions.push_back(options[static_cast<size_t>(draws[static_cast<size_t>(i)]) % options.size()]);
  }
  const Tensor image_emb = encode_images(images);
  const Tensor loss =
      clip_loss(image_emb, encode_texts(captions), labels, logit_scale, config.class_positives);
  // For the trainer's accuracy: the zero-shot logits of these images, without a graph.
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = matmul(l2_normalize(image_emb.detach()), class_embeddings(zero_shot_texts_).t()) * 100.0;
  }
  return {loss, logits};
}

void ClipModel::after_step() {
  const double v = logit_scale.item();  // a NaN is left as it is: the loss shows it
  NoGradGuard no_grad;
  if (v < 0.0 || v > kClipMaxLogitScale) fill_(logit_scale, v < 0.0 ? 0.0 : kClipMaxLogitScale);
}

std::vector<std::pair<std::string, double>> ClipModel::step_figures() { return {{"scale", std::exp(logit_scale.item())}}; }

void ClipModel::set_training_texts(std::vector<std::vector<std::string>> texts) { training_texts_ = std::move(texts); }
void ClipModel::set_zero_shot_texts(std::vector<std::vector<std::string>> texts) { zero_shot_texts_ = std::move(texts); }

}  // namespace sieve::models
