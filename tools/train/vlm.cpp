// tools/train/vlm.cpp — the small LLaVA's two-stage training and exact-match evaluation (see vlm.h).
#include "tools/train/vlm.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/vqa.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "ops/index.h"
#include "ops/profile.h"
#include "ops/shape.h"
#include "tools/train/metrics.h"
#include "tools/train/progress.h"

namespace sieve::tools {

namespace {

constexpr uint64_t kTestSeed = 1;  // every run and every projector is evaluated on the same questions

// A split's normalised images on the device and their labels (0–19) on the host.
struct Scenes {
  Tensor images;
  std::vector<int64_t> labels;
};

Scenes scenes_of(const ImageSet& set, const DatasetInfo& info, Device device) {
  return {normalised(set.images, info).to(device), set.labels.to_vector<int64_t>()};
}

// The cells of `batch`'s scenes, example by example: (Σ cells, C, H, W), and how many each has.
Tensor cells_of(const std::vector<VqaExample>& batch, const Scenes& scenes, std::vector<int64_t>& counts) {
  std::vector<int64_t> rows;
  counts.clear();
  for (const VqaExample& ex : batch) {
    rows.insert(rows.end(), ex.cells.begin(), ex.cells.end());
    counts.push_back(std::ssize(ex.cells));
  }
  return index_select(scenes.images, 0, from_vector<int64_t>(rows, {std::ssize(rows)}, scenes.images.device()));
}

std::vector<models::VlmText> texts_of(const std::vector<VqaExample>& batch) {
  std::vector<models::VlmText> texts;
  for (const VqaExample& ex : batch) texts.push_back({ex.question, ex.answer});
  return texts;
}

// The tower's keys of the VLM config from the CLIP checkpoint; a value given that differs is refused.
void take_tower(const models::ModelSpec& spec, models::ModelConfig& config, const nn::Checkpoint& clip) {
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"in_channels", "in_channels"}, {"image_size", "image_size"}, {"vision_patch", "patch"},
      {"vision_dim", "dim"},          {"vision_depth", "depth"},     {"vision_heads", "heads"},
      {"vision_mlp_hidden", "mlp_hidden"}, {"vision_embed", "embed_dim"}};
  for (const auto& [key, clip_key] : keys) {
    SIEVE_CHECK(clip.config.contains(clip_key) && clip.config[clip_key].is_number_integer(),
                "--vision {}: its config has no integer '{}'", clip.path, clip_key);
    const nlohmann::json& given = config.values()[key];
    nlohmann::json fallback;
    for (const models::ModelOption& o : spec.options)
      if (o.key == key) fallback = o.default_value;
    SIEVE_CHECK(given == fallback || given == clip.config[clip_key],
                "--{} {}: the tower's {} comes from --vision {} ({})", key, given.dump(), clip_key, clip.path,
                clip.config[clip_key].dump());
    config.values()[key] = clip.config[clip_key];
  }
}

struct Stage {
  nn::AdamW optimizer;
  nn::WarmupCosine schedule;
};

// Steps [begin, end) of a stage: batch `step` holds examples step·B … step·B + B − 1 of `seed`'s
// stream, asking `kinds` in turn. Stops early at --max-steps (counted over both stages).
double run_steps(models::VisionLanguageModel& model, Stage& stage, const Scenes& train,
                 const std::vector<std::string>& kinds, uint64_t seed, int64_t begin, int64_t end,
                 const RunOptions& options, const std::string& title, bool quiet, int64_t& global_step,
                 double* accuracy) {
  ProgressBar bar(title, end - begin, quiet);
  double loss_sum = 0, accuracy_sum = 0;
  const int64_t B = options.batch_size;
  for (int64_t step = begin; step < end; ++step) {
    std::vector<VqaExample> batch;
    for (int64_t j = 0; j < B; ++j) {
      const int64_t index = step * B + j;
      batch.push_back(draw_vqa(kinds[static_cast<size_t>(index) % kinds.size()], train.labels, seed, index, false));
    }
    std::vector<int64_t> counts;
    const Tensor cells = cells_of(batch, train, counts);
    stage.optimizer.set_lr(stage.schedule.lr(step));
    double step_accuracy = 0;
    const Tensor loss = model.loss(cells, counts, texts_of(batch), &step_accuracy);
    loss_sum += apply_gradients(loss, model, stage.optimizer, options.clip, global_step);
    accuracy_sum += step_accuracy;
    ++global_step;
    bar.update(step - begin + 1, {{"loss", fmt::format("{:.4f}", loss_sum / static_cast<double>(step - begin + 1))},
                                  {"answer tokens", fmt::format("{:.1f}%", 100.0 * accuracy_sum /
                                                                               static_cast<double>(step - begin + 1))}});
    if (options.max_steps > 0 && global_step >= options.max_steps) {
      end = step + 1;
      break;
    }
  }
  bar.finish();
  const double n = static_cast<double>(std::max<int64_t>(end - begin, 1));
  if (accuracy != nullptr) *accuracy = accuracy_sum / n;
  return loss_sum / n;
}

void write_answers_csv(const std::string& path, const std::vector<std::vector<double>>& rows) {
  std::ofstream out(path);
  SIEVE_CHECK(out.good(), "cannot write {}", path);
  out << "epoch";
  for (const std::string& kind : vlm_question_kinds()) out << ',' << kind;
  out << ",all\n";
  for (const std::vector<double>& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << row[i];
    out << '\n';
  }
}

}  // namespace

const std::vector<std::string>& vlm_question_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> questions;
    for (const std::string& kind : kVqaKinds)
      if (kind != "caption") questions.push_back(kind);
    return questions;
  }();
  return kinds;
}

double VlmEvalResult::accuracy() const {
  int64_t right = 0, asked = 0;
  for (const auto& [kind, counts] : per_kind) right += counts.first, asked += counts.second;
  return asked > 0 ? static_cast<double>(right) / static_cast<double>(asked) : 0.0;
}

VlmEvalResult evaluate_vlm(models::VisionLanguageModel& model, const Tensor& images, const Tensor& labels,
                           int64_t per_kind, uint64_t seed, bool quiet) {
  const auto start = std::chrono::steady_clock::now();
  const Scenes test{images, labels.to_vector<int64_t>()};
  const std::vector<std::string>& kinds = vlm_question_kinds();
  const std::vector<VqaExample> set =
      vqa_set(kinds, test.labels, seed, per_kind * std::ssize(kinds), /*held_out=*/true);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  VlmEvalResult r;
  ProgressBar bar("evaluate", std::ssize(set), quiet);
  double loss_sum = 0;
  int64_t loss_batches = 0;
  constexpr int64_t kLossBatch = 64;
  for (size_t i = 0; i < set.size(); ++i) {
    const VqaExample& ex = set[i];
    std::vector<int64_t> counts;
    const Tensor cells = cells_of({ex}, test, counts);
    const std::string answer = model.generate(cells, ex.question, /*max_new=*/16);
    auto& [right, asked] = r.per_kind[ex.kind];
    right += answer == ex.answer;
    ++asked;
    if ((i + 1) % kLossBatch == 0 || i + 1 == set.size()) {  // the answers' loss, teacher-forced
      const size_t first = i + 1 - ((i % kLossBatch) + 1);
      const std::vector<VqaExample> group(set.begin() + static_cast<std::ptrdiff_t>(first), set.begin() + static_cast<std::ptrdiff_t>(i + 1));
      loss_sum += model.loss(cells_of(group, test, counts), counts, texts_of(group)).item();
      ++loss_batches;
    }
    bar.update(static_cast<int64_t>(i) + 1, {{"exact", fmt::format("{:.1f}%", 100.0 * r.accuracy())}});
  }
  bar.finish();
  model.train(was_training);
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(loss_batches, 1));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

PrefillSplit measure_prefill(models::VisionLanguageModel& model, const Tensor& cells, const std::string& question,
                             int reps) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const Tensor features = model.vision_features(cells);
  const Tensor visual = model.mm_projector->forward(features).reshape({1, -1, model.config.dim});
  const std::vector<int64_t> prompt = models::vlm_prompt(question);
  const Tensor embedded =
      cat({visual, model.embed_text(from_vector<int64_t>(prompt, {1, std::ssize(prompt)}, visual.device()))}, 1);
  const auto flops_of = [](const auto& body) {
    profile::Profiler profiler;
    body();
    return profiler.total_flops();
  };
  const auto median_ms = [reps](const auto& body) {
    body();  // warm-up
    std::vector<double> ms;
    for (int i = 0; i < std::max(reps, 1); ++i) {
      const auto start = profile::Clock::now();
      body();
      ms.push_back(profile::seconds_since(start) * 1e3);
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
    return ms[ms.size() / 2];
  };
  const auto tower = [&] { model.vision_features(cells); };
  const auto projector = [&] { model.mm_projector->forward(features); };
  const auto language = [&] { model.language_logits(embedded); };
  PrefillSplit split{.tower_flops = flops_of(tower), .projector_flops = flops_of(projector),
                     .lm_flops = flops_of(language)};
  split.tower_ms = median_ms(tower);
  split.projector_ms = median_ms(projector);
  split.lm_ms = median_ms(language);
  split.prefill_ms = median_ms([&] { model.prefill_logits(cells, 1, question); });
  model.train(was_training);
  return split;
}

TrainResult train_vlm(const models::ModelSpec& spec, models::ModelConfig config, const RunOptions& options,
                      const std::string& out_dir, bool quiet, Device device) {
  const bool stage1_all = config.get_string("stage1_trains") == "all";
  SIEVE_CHECK(stage1_all || config.get_string("stage1_trains") == "projector",
              "--stage1_trains '{}': want projector or all", config.get_string("stage1_trains"));

  // 1. The tower: a CLIP checkpoint trained on mnist+fashion-mnist (the scenes' 20 classes).
  const std::string vision = config.get_string("vision");
  SIEVE_CHECK(!vision.empty(), "--vision: give the CLIP checkpoint whose image tower the VLM uses "
              "(sieve train clip --dataset mnist+fashion-mnist)");
  const nn::Checkpoint clip = nn::load_checkpoint(vision);
  SIEVE_CHECK(clip.model == "clip", "--vision {}: a clip checkpoint is needed, this one holds a '{}'", vision,
              clip.model);
  const DatasetInfo data = DatasetInfo::from_json(clip.data, vision);
  SIEVE_CHECK(data.name == "mnist+fashion-mnist", "--vision {}: its tower was trained on {}; the scenes need "
              "mnist+fashion-mnist (20 classes)", vision, data.name);
  take_tower(spec, config, clip);
  Generator gen(options.seed);
  models::ModelPtr built = spec.build(config, &gen);
  auto& model = dynamic_cast<models::VisionLanguageModel&>(*built);
  std::map<std::string, Tensor> tower;
  for (const auto& [name, tensor] : clip.weights)
    if (name.starts_with("visual.")) tower[name.substr(7)] = tensor;
  try {
    model.vision_tower->load_state_dict(tower);
  } catch (const Error& e) {
    fail("--vision {}: its image tower does not load: {}", vision, e.what());
  }
  model.to(device);
  std::filesystem::create_directories(out_dir);

  // 2. The data: both splits of mnist+fashion-mnist, normalised as the tower's training was.
  const LoadedData loaded = load_dataset(data.name, options.data_dir, options.image_size, options.channels);
  const Scenes train = scenes_of(loaded.train, data, device);
  const Tensor test_images = normalised(loaded.test.images, data).to(device);
  const int64_t stage1_steps = config.get_int("stage1_steps"), per_epoch = config.get_int("train_examples") / options.batch_size;
  const int64_t per_kind = config.get_int("test_examples");
  SIEVE_CHECK(per_epoch > 0, "--batch-size {} is larger than --train_examples {}", options.batch_size,
              config.get_int("train_examples"));
  if (!quiet)
    std::printf("vlm: %lld parameters, %lld trained (projector %s: %lld; language model %lld); tower from %s; "
                "%lld visual tokens per cell\n",
                static_cast<long long>(model.num_parameters()),
                static_cast<long long>(models::trainable_parameters(*model.mm_projector) +
                                       model.language_model->num_parameters()),
                config.get_string("projector").c_str(),
                static_cast<long long>(models::trainable_parameters(*model.mm_projector)),
                static_cast<long long>(model.language_model->num_parameters()), vision.c_str(),
                static_cast<long long>(model.visual_tokens_per_cell()));
  std::fflush(stdout);

  int64_t global_step = 0;
  nn::Checkpoint checkpoint;
  checkpoint.model = spec.name;
  checkpoint.config = config.values();
  checkpoint.constants = nlohmann::json::object();
  for (const auto& [module, text] : model.named_constants()) checkpoint.constants[module] = text;
  checkpoint.data = data.to_json();
  const std::string checkpoint_path = (std::filesystem::path(out_dir) / "checkpoint.safetensors").string();
  nlohmann::json exact_match = nlohmann::json::object();  // the last evaluation's, per kind and "all"
  int64_t epochs_done = 0;
  bool finished = false;  // true in the last save: every epoch ran, or --max-steps stopped the run
  auto save = [&] {
    checkpoint.weights = model.state_dict();
    checkpoint.training = {{"options", options.to_json()}, {"step", global_step}, {"epoch", epochs_done},
                           {"finished", finished}, {"exact_match", exact_match}};
    nn::save_checkpoint(checkpoint_path, checkpoint);
  };

  // 3. Stage 1 on captions: the projector alone (LLaVA's recipe, whose language model comes
  //    pretrained), or with the language model (`stage1_trains all`: ours starts from scratch).
  TrainResult result;
  model.train();
  if (stage1_steps > 0) {
    model.language_model->requires_grad_(stage1_all);
    Stage stage{nn::AdamW(nn::weight_decay_groups(model, options.weight_decay),
                          {.lr = options.lr, .weight_decay = options.weight_decay}),
                nn::WarmupCosine(options.lr, std::min(options.warmup_steps, stage1_steps - 1), stage1_steps)};
    const double loss = run_steps(model, stage, train, {"caption"}, 2 * options.seed, 0, stage1_steps, options,
                                  stage1_all ? "stage 1 (all)" : "stage 1 (projector)", quiet, global_step, nullptr);
    if (!quiet) std::printf("stage 1: %lld steps, caption loss %.4f\n", static_cast<long long>(global_step), loss);
    std::fflush(stdout);
    model.language_model->requires_grad_(true);
    save();
  }

  // 4. Stage 2: projector and language model on the questions, evaluated after every epoch.
  const int64_t total = options.epochs * per_epoch;
  Stage stage{nn::AdamW(nn::weight_decay_groups(model, options.weight_decay),
                        {.lr = options.lr, .weight_decay = options.weight_decay}),
              nn::WarmupCosine(options.lr, std::min(options.warmup_steps, total - 1), total)};
  MetricsLog metrics((std::filesystem::path(out_dir) / "metrics.csv").string(), 1);
  std::vector<std::vector<double>> answer_rows;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (options.max_steps > 0 && global_step >= options.max_steps) break;
    const auto start = std::chrono::steady_clock::now();
    double accuracy = 0;
    const int64_t before = global_step;
    const double loss = run_steps(model, stage, train, vlm_question_kinds(), 2 * options.seed + 1, epoch * per_epoch,
                                  (epoch + 1) * per_epoch, options,
                                  fmt::format("stage 2 epoch {}/{}", epoch + 1, options.epochs), quiet, global_step,
                                  &accuracy);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const VlmEvalResult eval = evaluate_vlm(model, test_images, loaded.test.labels, per_kind, kTestSeed, quiet);
    const int64_t steps = global_step - before;
    metrics.append({static_cast<double>(epoch + 1), static_cast<double>(global_step),
                    stage.schedule.lr(std::max<int64_t>(epoch * per_epoch + steps - 1, 0)), loss, accuracy, eval.loss,
                    eval.accuracy(), seconds, static_cast<double>(steps * options.batch_size) / seconds});
    std::vector<double> row = {static_cast<double>(epoch + 1)};
    std::string line;
    for (const std::string& kind : vlm_question_kinds()) {
      const auto [right, asked] = eval.per_kind.at(kind);
      row.push_back(static_cast<double>(right) / static_cast<double>(asked));
      line += fmt::format("  {} {:.1f}%", kind, 100.0 * row.back());
    }
    row.push_back(eval.accuracy());
    answer_rows.push_back(row);
    for (size_t k = 0; k < vlm_question_kinds().size(); ++k) exact_match[vlm_question_kinds()[k]] = row[k + 1];
    exact_match["all"] = eval.accuracy();
    epochs_done = epoch + 1;
    write_answers_csv((std::filesystem::path(out_dir) / "answers.csv").string(), answer_rows);
    plot_curves(metrics.path(), (std::filesystem::path(out_dir) / "curves.png").string(), "vlm");
    if (!quiet)
      std::printf("epoch %lld: loss %.4f  exact match %.2f%% (held-out wordings, test images):%s\n",
                  static_cast<long long>(epoch + 1), loss, 100.0 * eval.accuracy(), line.c_str());
    std::fflush(stdout);
    save();
    result.test = {.loss = eval.loss, .accuracy = eval.accuracy(),
                   .samples = per_kind * std::ssize(vlm_question_kinds()), .seconds = eval.seconds};
    result.test_epoch = epoch + 1;
  }
  finished = true;
  save();  // the weights again (stopped by --max-steps they are newer), marked finished
  result.steps = global_step;
  result.checkpoint = checkpoint_path;
  return result;
}

}  // namespace sieve::tools
