// models/registry.cpp — the table of models (see registry.h) and typed config reads.
#include "models/registry.h"

#include <charconv>
#include <cmath>

#include "core/error.h"
#include "models/clip.h"
#include "models/ddvit.h"
#include "models/mamba.h"
#include "models/mlp.h"
#include "models/mrss.h"
#include "models/sequence.h"
#include "models/transformer.h"
#include "models/vim.h"
#include "models/vit.h"
#include "models/vlm.h"
#include "models/vmamba.h"

namespace sieve::models {

using nlohmann::json;

// ---- ModelConfig ----

const json& ModelConfig::at(const std::string& key) const {
  auto it = values_.find(key);
  SIEVE_CHECK(it != values_.end(), "model config: no value for '{}'", key);
  return *it;
}

int64_t ModelConfig::get_int(const std::string& key) const {
  const json& v = at(key);
  SIEVE_CHECK(v.is_number_integer(), "model config: '{}' must be an integer, got {}", key, v.dump());
  return v.get<int64_t>();
}

double ModelConfig::get_float(const std::string& key) const {
  const json& v = at(key);
  SIEVE_CHECK(v.is_number(), "model config: '{}' must be a number, got {}", key, v.dump());
  return v.get<double>();
}

bool ModelConfig::get_bool(const std::string& key) const {
  const json& v = at(key);
  SIEVE_CHECK(v.is_boolean(), "model config: '{}' must be true or false, got {}", key, v.dump());
  return v.get<bool>();
}

std::string ModelConfig::get_string(const std::string& key) const {
  const json& v = at(key);
  SIEVE_CHECK(v.is_string(), "model config: '{}' must be a string, got {}", key, v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> ModelConfig::get_ints(const std::string& key) const {
  const std::string text = get_string(key);
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + end, value);
    SIEVE_CHECK(ec == std::errc() && ptr == text.data() + end && value > 0,
                "model config: '{}' must be a comma-separated list of positive integers, got '{}'", key, text);
    out.push_back(value);
    start = end + 1;
  }
  return out;
}

std::string ModelOption::out_of_range(const json& value) const {
  if (value.is_string() && has_range()) {  // a list of widths ("512,256"): each lies in the range
    std::vector<int64_t> widths;
    try {
      widths = ModelConfig(json{{key, value}}).get_ints(key);
    } catch (const Error&) {
      return fmt::format("'{}' is not a comma-separated list of positive integers", printable(value.get<std::string>(), 64));
    }
    for (const int64_t width : widths)
      if (std::string why = out_of_range(json(width)); !why.empty()) return why;
    return "";
  }
  if (!value.is_number()) return "";
  const double v = value.get<double>();
  if (v < min) return fmt::format("{} is below the smallest allowed, {}", value.dump(), min);
  if (v > max) return fmt::format("{} is above the largest allowed, {}", value.dump(), max);
  return "";
}

// ---- the table ----

// Bounds "out of reason" for the options (ModelOption::min/max): far beyond anything this library
// trains (the largest study model has width 64 and 12 blocks), yet small enough that a typo is
// refused before it builds gigabytes of layers. What fits in memory is checked while building.
constexpr double kMaxWidth = 1 << 16, kMaxHidden = 1 << 18, kMaxDepth = 4096;

// The keys every image classifier gets from its data (the trainer fills them in).
static std::vector<ModelOption> image_data_options() {
  return {
      {"in_channels", 1, "input channels (set from the dataset)", 1, 1024},
      {"image_size", 28, "input height = width (set from the dataset)", 1, 4096},
      {"num_classes", 10, "classes (set from the dataset)", 1, 1 << 20},
  };
}

static std::vector<ModelOption> with_data_options(std::vector<ModelOption> own) {
  std::vector<ModelOption> all = image_data_options();
  all.insert(all.end(), own.begin(), own.end());
  return all;
}

// The ViT's own keys, shared by the ViT variants.
static std::vector<ModelOption> vit_options() {
  return {
      {"patch", 4, "patch side in pixels (image_size must be a multiple)", 1, 4096},
      {"dim", 64, "token width", 1, kMaxWidth},
      {"depth", 4, "transformer blocks", 1, kMaxDepth},
      {"heads", 4, "attention heads (dim must be a multiple)", 1, kMaxWidth},
      {"mlp_hidden", 128, "hidden width of each block's MLP", 1, kMaxHidden},
      {"dropout", 0.0, "dropout after attention and in the MLPs", 0, 1},
  };
}

static VitConfig vit_config(const ModelConfig& c) {
  return VitConfig{.in_channels = c.get_int("in_channels"), .image_size = c.get_int("image_size"),
                   .patch = c.get_int("patch"), .dim = c.get_int("dim"), .depth = c.get_int("depth"),
                   .heads = c.get_int("heads"), .mlp_hidden = c.get_int("mlp_hidden"),
                   .num_classes = c.get_int("num_classes"), .dropout = c.get_float("dropout")};
}

// A sequence model's options: its own keys, then the data keys of models/sequence.h.
static std::vector<ModelOption> with_sequence_options(std::vector<ModelOption> own) {
  std::vector<ModelOption> all = std::move(own);
  for (ModelOption& option : sequence_data_options()) all.push_back(std::move(option));
  return all;
}

static std::vector<ModelOption> ddvit_options() {
  std::vector<ModelOption> all = vit_options();
  all.push_back({"policy", "exit",
                 "depth per sample at inference: exit (leave when the top softmax probability ≥ threshold), "
                 "entropy (token-entropy rule) or full (every block)"});
  all.push_back({"threshold", 0.9, "τ of the exit policy", 0, 1});
  return all;
}

// CLIP: the ViT's keys for the image tower (patch 2: 196 tokens at 28×28), the text tower's, the
// joint embedding's. num_classes is the data's (the zero-shot classes); the towers ignore it.
static std::vector<ModelOption> clip_options() {
  std::vector<ModelOption> all = vit_options();
  all[0].default_value = 2;  // patch
  all.push_back({"text_dim", 64, "text tower: token width", 1, kMaxWidth});
  all.push_back({"text_depth", 2, "text tower: causal transformer blocks", 1, kMaxDepth});
  all.push_back({"text_heads", 4, "text tower: attention heads (text_dim must be a multiple)", 1, kMaxWidth});
  all.push_back({"text_mlp_hidden", 128, "text tower: hidden width of each block's MLP", 1, kMaxHidden});
  all.push_back({"context", 48, "text tower: tokens per caption (UTF-8 bytes + start and end)", 3, 1 << 16});
  all.push_back({"embed_dim", 64, "joint embedding size E of both projections", 1, kMaxWidth});
  all.push_back({"class_positives", true,
                 "count every image-caption pair of the same class as a positive (false: CLIP's one positive)"});
  all.push_back({"reduce", "none",
                 "vision-token reduction: none, evit:KEEP[:fuse], l2:KEEP, svtr:KEEP or tome:R "
                 "(models/token_reduction.h)"});
  return all;
}

// Mamba's own keys, shared by MRSS.
static std::vector<ModelOption> mamba_options() {
  return {
      {"dim", 64, "model width D", 1, kMaxWidth},
      {"depth", 4, "residual Mamba blocks", 1, kMaxDepth},
      {"d_state", 16, "SSM state size N per channel", 1, 4096},
      {"expand", 2, "channels E·D inside a block", 1, 256},
      {"d_conv", 4, "taps of the causal depthwise conv", 1, 1024},
      {"dt_rank", 0, "rank R of the Δ projection (0 = ceil(dim / 16))", 0, kMaxWidth},
  };
}

// Vim: the patch side, then Mamba's keys (its blocks are bidirectional Mamba blocks).
static std::vector<ModelOption> vim_options() {
  std::vector<ModelOption> all{{"patch", 4, "patch side in pixels (image_size must be a multiple)", 1, 4096}};
  for (ModelOption& option : mamba_options()) all.push_back(std::move(option));
  return all;
}

static MambaConfig mamba_config(const ModelConfig& c) {
  return MambaConfig{.io = sequence_io(c), .dim = c.get_int("dim"), .depth = c.get_int("depth"),
                     .d_state = c.get_int("d_state"), .expand = c.get_int("expand"), .d_conv = c.get_int("d_conv"),
                     .dt_rank = c.get_int("dt_rank")};
}

static std::vector<ModelOption> mrss_options() {
  std::vector<ModelOption> all = mamba_options();
  all.push_back({"stride", 4, "r: the slow branch runs on means of r-step windows (the study: 2, 4 or 8)", 2, 4096});
  all.push_back({"fast_fraction", 0.5, "share of the E·D channels scanned at full rate; the rest go slow", 0, 1});
  return all;
}

const std::vector<ModelSpec>& model_specs() {
  static const std::vector<ModelSpec> specs = {
      {
          .name = "mlp",
          .summary = "flatten → Linear+ReLU per hidden width → Linear head",
          .options = with_data_options({
              {"hidden", "512,256", "hidden widths, comma-separated", 1, kMaxHidden},
              {"dropout", 0.0, "dropout after each hidden layer", 0, 1},
          }),
          .head_prefix = "head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                const int64_t side = c.get_int("image_size");
                return std::make_shared<MlpClassifier>(c.get_int("in_channels") * side * side, c.get_ints("hidden"),
                                                       c.get_int("num_classes"), c.get_float("dropout"), gen);
              },
      },
      {
          .name = "vit",
          .summary = "Vision Transformer: patches → CLS + positions → pre-LN blocks → head on CLS",
          .options = with_data_options(vit_options()),
          .head_prefix = "head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                return std::make_shared<VisionTransformer>(vit_config(c), gen);
              },
      },
      {
          .name = "ddvit",
          .summary = "dynamic-depth ViT: an exit classifier per block, depth chosen per sample at inference",
          .options = with_data_options(ddvit_options()),
          .head_prefix = "exits.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                const DepthPolicy policy = parse_depth_policy(c.get_string("policy"));
                const double threshold = c.get_float("threshold");
                SIEVE_CHECK(std::isfinite(threshold), "ddvit: threshold must be finite, got {}", threshold);
                auto model = std::make_shared<DynamicDepthViT>(vit_config(c), gen);
                model->policy = policy;
                model->threshold = threshold;
                return model;
              },
      },
      {
          .name = "clip",
          .summary = "CLIP-style dual encoder: ViT images and byte-level causal-transformer captions, "
                     "contrastive loss; classifies zero-shot",
          .options = with_data_options(clip_options()),
          .head_prefix = "visual.head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                ClipConfig config{.vision = vit_config(c), .text_dim = c.get_int("text_dim"),
                                  .text_depth = c.get_int("text_depth"), .text_heads = c.get_int("text_heads"),
                                  .text_mlp_hidden = c.get_int("text_mlp_hidden"), .context = c.get_int("context"),
                                  .embed_dim = c.get_int("embed_dim"),
                                  .class_positives = c.get_bool("class_positives"),
                                  .reduction = parse_reduction(c.get_string("reduce"))};
                tokens_per_block(config.reduction, (config.vision.image_size / config.vision.patch) *
                                                       (config.vision.image_size / config.vision.patch),
                                 config.vision.depth);  // an r or block the encoder cannot take: now
                return std::make_shared<ClipModel>(config, gen);
              },
      },
      {
          .name = "vlm",
          .summary = "a small LLaVA: a frozen CLIP image tower → a projector → a byte-level causal transformer "
                     "that answers questions about images (two stages; sieve train vlm --vision CLIP_CKPT)",
          .options = {
              {"vision", "", "the CLIP checkpoint (sieve train clip --dataset mnist+fashion-mnist) whose image tower "
                             "is used, frozen; its keys below are taken from it"},
              {"projector", "mlp", "linear, lowrank, mlp (LLaVA-1.5's mlp2x_gelu), gated or lora (models/projectors.h)"},
              {"rank", 8, "rank of the lowrank and lora projectors", 1, kMaxWidth},
              {"visual_tokens", "shuffle", "visual tokens per cell: all (196), prune (EViT's rule: the 98 the tower's CLS "
                                          "attends to most) or shuffle (2×2 pixel shuffle: 49)"},
              {"lm", "transformer", "language model: transformer (causal, key/value-cached decoding) or mamba "
                                    "(constant-time decoding)"},
              {"dim", 128, "language model: token width", 1, kMaxWidth},
              {"depth", 4, "language model: blocks", 1, kMaxDepth},
              {"heads", 4, "language model (transformer): attention heads (dim must be a multiple)", 1, kMaxWidth},
              {"mlp_hidden", 512, "language model (transformer): hidden width of each block's MLP", 1, kMaxHidden},
              {"d_state", 16, "language model (mamba): SSM state size per channel", 1, 4096},
              {"stage1_steps", 300, "stage 1: steps on captions", 0, 1e7},
              {"stage1_trains", "projector", "stage 1 trains the projector alone (LLaVA's recipe, made for a "
                                             "pretrained language model) or all (projector and language model)"},
              {"train_examples", 24000, "stage 2: question-answer examples per epoch (fresh each epoch)", 1, 1e9},
              {"test_examples", 200, "evaluation: held-out questions per kind", 1, 1e6},
              {"in_channels", 1, "tower (from --vision): image channels", 1, 4},
              {"image_size", 28, "tower (from --vision): image side", 1, 4096},
              {"vision_patch", 2, "tower (from --vision): patch side", 1, 4096},
              {"vision_dim", 64, "tower (from --vision): token width", 1, kMaxWidth},
              {"vision_depth", 4, "tower (from --vision): blocks", 1, kMaxDepth},
              {"vision_heads", 4, "tower (from --vision): attention heads", 1, kMaxWidth},
              {"vision_mlp_hidden", 128, "tower (from --vision): MLP width", 1, kMaxHidden},
              {"vision_embed", 64, "tower (from --vision): its head's width (CLIP's embedding)", 1, kMaxWidth},
          },
          .head_prefix = "language_model.head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                VlmConfig config;
                config.vision = {.in_channels = c.get_int("in_channels"), .image_size = c.get_int("image_size"),
                                 .patch = c.get_int("vision_patch"), .dim = c.get_int("vision_dim"),
                                 .depth = c.get_int("vision_depth"), .heads = c.get_int("vision_heads"),
                                 .mlp_hidden = c.get_int("vision_mlp_hidden"), .num_classes = c.get_int("vision_embed")};
                config.projector = c.get_string("projector");
                config.rank = c.get_int("rank");
                config.visual_tokens = c.get_string("visual_tokens");
                config.lm = c.get_string("lm");
                config.d_state = c.get_int("d_state");
                config.dim = c.get_int("dim"), config.depth = c.get_int("depth");
                config.heads = c.get_int("heads"), config.mlp_hidden = c.get_int("mlp_hidden");
                return std::make_shared<VisionLanguageModel>(config, gen);
              },
      },
      {
          .name = "vmamba",
          .summary = "VMamba: patches → stages of VSS blocks (SS2D: selective scans along K routes of the map, "
                     "one scan call) with patch merging between → mean → head",
          .options = with_data_options({
              {"patch", 2, "patch side in pixels (image_size must be a multiple)", 1, 4096},
              {"dim", 32, "width of the first stage (doubles at every merge)", 1, kMaxWidth},
              {"depths", "2,2", "VSS blocks per stage, comma-separated (a 2×2 patch merging between stages)", 1,
               kMaxDepth},
              {"d_state", 8, "SSM state size N per channel", 1, 4096},
              {"ssm_ratio", 2, "channels Ci = ssm_ratio · width inside a block", 1, 64},
              {"dt_rank", 0, "rank R of the Δ projections (0 = ceil(width / 16))", 0, kMaxWidth},
              {"routes", 4, "K: scan routes over the map: 4 (rows, columns, both reversed), 2 (rows, columns) or 1 "
                            "(rows)", 1, 4},
              {"mlp_ratio", 0, "hidden width of each block's MLP as a multiple of its width (0 = no MLP)", 0, 64},
          }),
          .head_prefix = "classifier.head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                return std::make_shared<VMamba>(
                    VMambaConfig{.in_channels = c.get_int("in_channels"), .image_size = c.get_int("image_size"),
                                 .num_classes = c.get_int("num_classes"), .patch = c.get_int("patch"),
                                 .depths = c.get_ints("depths"), .dim = c.get_int("dim"),
                                 .d_state = c.get_int("d_state"), .ssm_ratio = c.get_int("ssm_ratio"),
                                 .dt_rank = c.get_int("dt_rank"), .routes = c.get_int("routes"),
                                 .mlp_ratio = c.get_int("mlp_ratio")},
                    gen);
              },
      },
      {
          .name = "vim",
          .summary = "Vision Mamba: patches + a middle class token + positions → bidirectional Mamba blocks (both "
                     "directions in one scan call) → RMSNorm → head on the class token",
          .options = with_data_options(vim_options()),
          .head_prefix = "head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                return std::make_shared<Vim>(
                    VimConfig{.in_channels = c.get_int("in_channels"), .image_size = c.get_int("image_size"),
                              .num_classes = c.get_int("num_classes"), .patch = c.get_int("patch"),
                              .dim = c.get_int("dim"), .depth = c.get_int("depth"), .d_state = c.get_int("d_state"),
                              .expand = c.get_int("expand"), .d_conv = c.get_int("d_conv"),
                              .dt_rank = c.get_int("dt_rank")},
                    gen);
              },
      },
      {
          .name = "transformer",
          .summary = "causal pre-LN Transformer: embed + sinusoidal positions → causal attention blocks → head",
          .options = with_sequence_options({
              {"dim", 64, "token width", 1, kMaxWidth},
              {"depth", 2, "transformer blocks", 1, kMaxDepth},
              {"heads", 4, "attention heads (dim must be a multiple)", 1, kMaxWidth},
              {"mlp_hidden", 0, "hidden width of each block's MLP (0 = 4 × dim)", 0, kMaxHidden},
              {"dropout", 0.0, "dropout after attention and in the MLPs", 0, 1},
          }),
          .head_prefix = "head.",
          .build =
              [](const ModelConfig& c, Generator* gen) -> ModelPtr {
                const int64_t dim = c.get_int("dim"), mlp_hidden = c.get_int("mlp_hidden");
                SIEVE_CHECK(mlp_hidden >= 0, "transformer: mlp_hidden must be ≥ 0, got {}", mlp_hidden);
                return std::make_shared<CausalTransformer>(
                    TransformerConfig{.io = sequence_io(c), .dim = dim, .depth = c.get_int("depth"),
                                      .heads = c.get_int("heads"), .mlp_hidden = mlp_hidden > 0 ? mlp_hidden : 4 * dim,
                                      .dropout = c.get_float("dropout")},
                    gen);
              },
          .default_task = "induction",
      },
      {
          .name = "mamba",
          .summary = "Mamba (selective SSM): embed → pre-RMSNorm residual Mamba blocks → head",
          .options = with_sequence_options(mamba_options()),
          .head_prefix = "head.",
          .build = [](const ModelConfig& c, Generator* gen) -> ModelPtr {
            return std::make_shared<MambaModel>(mamba_config(c), gen);
          },
          .default_task = "majority",
      },
      {
          .name = "mrss",
          .summary = "multi-resolution selective scan: a full-rate Mamba mixer and one on r-step window means, gated",
          .options = with_sequence_options(mrss_options()),
          .head_prefix = "head.",
          .build = [](const ModelConfig& c, Generator* gen) -> ModelPtr {
            return std::make_shared<MrssModel>(
                MrssConfig{.mamba = mamba_config(c), .stride = c.get_int("stride"),
                           .fast_fraction = c.get_float("fast_fraction")},
                gen);
          },
          .default_task = "majority",
      },
  };
  return specs;
}

const ModelSpec& find_model(const std::string& name) {
  std::string known;
  for (const ModelSpec& spec : model_specs()) {
    if (spec.name == name) return spec;
    known += (known.empty() ? "" : ", ") + spec.name;
  }
  fail("unknown model '{}' (known: {})", printable(name, 64), known);
}

ModelConfig complete_config(const ModelSpec& spec, const json& given) {
  SIEVE_CHECK(given.is_object(), "model config for '{}' must be a JSON object", spec.name);
  json config = json::object();
  for (const ModelOption& option : spec.options) config[option.key] = option.default_value;
  for (const auto& [key, value] : given.items()) {
    auto declared = config.find(key);
    SIEVE_CHECK(declared != config.end(), "model '{}' has no option '{}'", spec.name, printable(key, 64));
    // Integers are numbers too: a float option accepts 1 as well as 1.0.
    const bool same_kind = declared->type() == value.type() || (declared->is_number() && value.is_number());
    SIEVE_CHECK(same_kind, "model '{}': option '{}' expects {} (like {}), got {}", spec.name, key,
                declared->type_name(), declared->dump(), value.dump());
    // Keep the declared type: a float option given as 1 is stored as 1.0.
    *declared = declared->is_number_float() ? json(value.get<double>()) : value;
    for (const ModelOption& option : spec.options)
      if (option.key == key) {
        const std::string why = option.out_of_range(*declared);
        SIEVE_CHECK(why.empty(), "model '{}': option '{}': {} ({})", spec.name, key, why, option.help);
      }
  }
  return ModelConfig(std::move(config));
}

}  // namespace sieve::models
