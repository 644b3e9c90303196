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

// Where a run stands: what its checkpoint's "training" holds besides the options, and what a
// resumed run starts from. The sums are those of the stage-2 epoch under way (or of stage 1), so a
// run stopped inside an epoch and resumed logs the same epoch row as one that never stopped.
struct Progress {
  int64_t step = 0;                        // steps done, both stages
  double loss_sum = 0, accuracy_sum = 0;   // over the steps of the epoch (stage) under way
  int64_t summed = 0;                      // how many steps those sums hold
  double seconds = 0;                      // the epoch's training time so far
  nlohmann::json answers = nlohmann::json::array();         // answers.csv's rows so far
  nlohmann::json exact_match = nlohmann::json::object();    // the last evaluation's, per kind and "all"

  nlohmann::json to_json() const {
    return {{"step", step},           {"loss_sum", loss_sum}, {"accuracy_sum", accuracy_sum}, {"summed", summed},
            {"seconds", seconds},     {"answers", answers},   {"exact_match", exact_match}};
  }
  static Progress from_json(const nlohmann::json& j, const std::string& path) {
    try {
      Progress p{.step = j.at("step").get<int64_t>(), .loss_sum = j.at("loss_sum").get<double>(),
                 .accuracy_sum = j.at("accuracy_sum").get<double>(), .summed = j.at("summed").get<int64_t>(),
                 .seconds = j.at("seconds").get<double>(), .answers = j.at("answers"),
                 .exact_match = j.at("exact_match")};
      SIEVE_CHECK(p.step >= 0 && p.summed >= 0 && p.summed <= p.step && p.answers.is_array() &&
                      p.exact_match.is_object() && std::isfinite(p.loss_sum) && std::isfinite(p.accuracy_sum),
                  "values out of range");
      for (const nlohmann::json& row : p.answers)
        SIEVE_CHECK(row.is_array() && row.size() == vlm_question_kinds().size() + 2, "an answers row of the wrong size");
      return p;
    } catch (const nlohmann::json::exception& e) {
      fail("--resume {}: its training state is not a vlm run's: {}", path, e.what());
    } catch (const Error& e) {
      fail("--resume {}: its training state is not a vlm run's: {}", path, e.what());
    }
  }
  void start_epoch() { loss_sum = accuracy_sum = seconds = 0, summed = 0; }
};

// Steps [p.step − offset, end) of a stage (offset: the steps of the stages before it): batch `s`
// holds examples s·B … s·B + B − 1 of `seed`'s stream, asking `kinds` in turn. Stops early at
// `stop` (a step count over both stages: --max-steps); checkpoints every --checkpoint-every steps.
void run_steps(models::VisionLanguageModel& model, Stage& stage, const Scenes& train,
               const std::vector<std::string>& kinds, uint64_t seed, int64_t offset, int64_t end, int64_t stop,
               const RunOptions& options, const std::string& title, bool quiet, Progress& p,
               const std::function<void(const nn::Optimizer*)>& save) {
  const int64_t begin = p.step - offset;
  end = std::min(end, stop - offset);
  ProgressBar bar(title, end - begin, quiet);
  const int64_t B = options.batch_size;
  const auto start = std::chrono::steady_clock::now();
  const double seconds_before = p.seconds;
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
    p.loss_sum += apply_gradients(loss, model, stage.optimizer, options.clip, p.step);
    p.accuracy_sum += step_accuracy;
    ++p.summed, ++p.step;
    p.seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double n = static_cast<double>(p.summed);
    bar.update(step - begin + 1, {{"loss", fmt::format("{:.4f}", p.loss_sum / n)},
                                  {"answer tokens", fmt::format("{:.1f}%", 100.0 * p.accuracy_sum / n)}});
    if (options.checkpoint_every > 0 && p.step % options.checkpoint_every == 0 && step + 1 < end) save(&stage.optimizer);
  }
  bar.finish();
}

void write_answers_csv(const std::string& path, const nlohmann::json& rows) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "epoch";
    for (const std::string& kind : vlm_question_kinds()) out << ',' << kind;
    out << ",all\n";
    for (const nlohmann::json& row : rows) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << row[i].get<double>();
      out << '\n';
    }
    out.flush();
    SIEVE_CHECK(out.good(), "cannot write {}", tmp);
  }
  std::filesystem::rename(tmp, path);
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
                      const std::string& out_dir, bool quiet, Device device, const nn::Checkpoint* resume) {
  const bool stage1_all = config.get_string("stage1_trains") == "all";
  SIEVE_CHECK(stage1_all || config.get_string("stage1_trains") == "projector",
              "--stage1_trains '{}': want projector or all", config.get_string("stage1_trains"));

  // 1. The model: a new one with the tower of a CLIP checkpoint trained on mnist+fashion-mnist (the
  //    scenes' 20 classes), or the resumed run's, weights and position.
  DatasetInfo data;
  Generator gen(options.seed);
  models::ModelPtr built;
  Progress p;
  if (resume == nullptr) {
    const std::string vision = config.get_string("vision");
    SIEVE_CHECK(!vision.empty(), "--vision: give the CLIP checkpoint whose image tower the VLM uses "
                "(sieve train clip --dataset mnist+fashion-mnist)");
    const nn::Checkpoint clip = nn::load_checkpoint(vision);
    SIEVE_CHECK(clip.model == "clip", "--vision {}: a clip checkpoint is needed, this one holds a '{}'", vision,
                clip.model);
    data = DatasetInfo::from_json(clip.data, vision);
    SIEVE_CHECK(data.name == "mnist+fashion-mnist", "--vision {}: its tower was trained on {}; the scenes need "
                "mnist+fashion-mnist (20 classes)", vision, data.name);
    take_tower(spec, config, clip);
    built = spec.build(config, &gen);
    std::map<std::string, Tensor> tower;
    for (const auto& [name, tensor] : clip.weights)
      if (name.starts_with("visual.")) tower[name.substr(7)] = tensor;
    try {
      dynamic_cast<models::VisionLanguageModel&>(*built).vision_tower->load_state_dict(tower);
    } catch (const Error& e) {
      fail("--vision {}: its image tower does not load: {}", vision, e.what());
    }
  } else {  // the tower is in the checkpoint: the CLIP file is not needed again
    data = DatasetInfo::from_json(resume->data, resume->path);
    built = spec.build(config, &gen);
    nn::check_constants(*resume, *built, resume->path);
    try {
      built->load_state_dict(resume->weights);
    } catch (const Error& e) {
      fail("--resume {}: does not fit the model it describes: {}", resume->path, e.what());
    }
    p = Progress::from_json(resume->training, resume->path);
  }
  auto& model = dynamic_cast<models::VisionLanguageModel&>(*built);
  model.to(device);
  std::filesystem::create_directories(out_dir);

  // 2. The data: both splits of mnist+fashion-mnist, normalised as the tower's training was.
  const LoadedData loaded = load_dataset(data.name, options.data_dir, options.image_size, options.channels);
  const Scenes train = scenes_of(loaded.train, data, device);
  const Tensor test_images = normalised(loaded.test.images, data).to(device);
  const int64_t stage1_steps = config.get_int("stage1_steps");
  const int64_t per_epoch = config.get_int("train_examples") / options.batch_size;
  const int64_t per_kind = config.get_int("test_examples");
  SIEVE_CHECK(per_epoch > 0, "--batch-size {} is larger than --train_examples {}", options.batch_size,
              config.get_int("train_examples"));
  const int64_t total = stage1_steps + options.epochs * per_epoch;
  const int64_t stop = options.max_steps > 0 ? std::min(options.max_steps, total) : total;
  SIEVE_CHECK(p.step <= total, "--resume {}: it stands at step {}, past this run's {} steps ({} epochs)",
              resume ? resume->path : "", p.step, total, options.epochs);
  if (!quiet)
    std::printf("vlm: %lld parameters, %lld trained (projector %s: %lld; language model %lld); tower from %s; "
                "%lld visual tokens per cell%s\n",
                static_cast<long long>(model.num_parameters()),
                static_cast<long long>(models::trainable_parameters(*model.mm_projector) +
                                       model.language_model->num_parameters()),
                config.get_string("projector").c_str(),
                static_cast<long long>(models::trainable_parameters(*model.mm_projector)),
                static_cast<long long>(model.language_model->num_parameters()), config.get_string("vision").c_str(),
                static_cast<long long>(model.visual_tokens_per_cell()),
                resume ? fmt::format("; resumed at step {}", p.step).c_str() : "");
  std::fflush(stdout);

  nn::Checkpoint checkpoint;
  checkpoint.model = spec.name;
  checkpoint.config = config.values();
  checkpoint.constants = nlohmann::json::object();
  for (const auto& [module, text] : model.named_constants()) checkpoint.constants[module] = text;
  checkpoint.data = data.to_json();
  const std::string checkpoint_path = (std::filesystem::path(out_dir) / "checkpoint.safetensors").string();
  bool saved = false;
  auto write = [&] {
    checkpoint.weights = model.state_dict();
    checkpoint.training = p.to_json();
    checkpoint.training["options"] = options.to_json();
    checkpoint.training["finished"] = p.step >= stop;  // every step ran, or --max-steps stopped it
    nn::save_checkpoint(checkpoint_path, checkpoint);
    saved = true;
  };
  // optimizer: the state of the stage under way (none at stage 1's end: stage 2 starts afresh).
  auto save = [&](const nn::Optimizer* optimizer) {
    checkpoint.optimizer = optimizer != nullptr ? optimizer->state_tensors() : std::map<std::string, Tensor>{};
    write();
  };
  // A stage resumed after its first step takes back its optimizer's state; at a stage's start
  // (step 0, stage 1's end) the checkpoint holds none. A file that says otherwise is refused.
  const bool in_stage1 = p.step > 0 && p.step < stage1_steps, in_stage2 = p.step > stage1_steps;
  if (resume != nullptr)
    SIEVE_CHECK(resume->optimizer.empty() != (in_stage1 || in_stage2), "--resume {}: at step {} (stage 1: {} steps) "
                "it should hold {} optimizer state, it holds {}", resume->path, p.step, stage1_steps,
                in_stage1 || in_stage2 ? "its stage's" : "no", resume->optimizer.empty() ? "none" : "some");
  auto restore = [&](Stage& stage) {
    try {
      stage.optimizer.load_state_tensors(resume->optimizer);
    } catch (const Error& e) {
      fail("--resume {}: its optimizer state does not fit: {}", resume->path, e.what());
    }
  };

  // 3. Stage 1 on captions: the projector alone (LLaVA's recipe, whose language model comes
  //    pretrained), or with the language model (`stage1_trains all`: ours starts from scratch).
  TrainResult result;
  model.train();
  if (p.step < stage1_steps && p.step < stop) {
    model.language_model->requires_grad_(stage1_all);
    Stage stage{nn::AdamW(nn::weight_decay_groups(model, options.weight_decay),
                          {.lr = options.lr, .weight_decay = options.weight_decay}),
                nn::WarmupCosine(options.lr, std::min(options.warmup_steps, stage1_steps - 1), stage1_steps)};
    if (resume != nullptr && in_stage1) restore(stage);
    run_steps(model, stage, train, {"caption"}, 2 * options.seed, 0, stage1_steps, stop, options,
              stage1_all ? "stage 1 (all)" : "stage 1 (projector)", quiet, p, save);
    model.language_model->requires_grad_(true);
    if (!quiet)
      std::printf("stage 1: %lld steps, caption loss %.4f\n", static_cast<long long>(p.step),
                  p.loss_sum / static_cast<double>(std::max<int64_t>(p.summed, 1)));
    std::fflush(stdout);
    const bool done = p.step == stage1_steps;
    if (done) p.start_epoch();
    save(done ? nullptr : &stage.optimizer);
  }

  // 4. Stage 2: projector and language model on the questions, evaluated after every epoch (and
  //    where --max-steps stops inside one).
  const int64_t stage2_steps = options.epochs * per_epoch;
  Stage stage{nn::AdamW(nn::weight_decay_groups(model, options.weight_decay),
                        {.lr = options.lr, .weight_decay = options.weight_decay}),
              nn::WarmupCosine(options.lr, std::min(options.warmup_steps, stage2_steps - 1), stage2_steps)};
  if (resume != nullptr && in_stage2) restore(stage);
  const int64_t first_epoch = std::max<int64_t>(p.step - stage1_steps, 0) / per_epoch;
  MetricsLog metrics((std::filesystem::path(out_dir) / "metrics.csv").string(), first_epoch + 1);
  for (int64_t epoch = first_epoch; epoch < options.epochs && p.step < stop; ++epoch) {
    run_steps(model, stage, train, vlm_question_kinds(), 2 * options.seed + 1, stage1_steps, (epoch + 1) * per_epoch,
              stop, options, fmt::format("stage 2 epoch {}/{}", epoch + 1, options.epochs), quiet, p, save);
    const VlmEvalResult eval = evaluate_vlm(model, test_images, loaded.test.labels, per_kind, kTestSeed, quiet);
    const double steps = static_cast<double>(std::max<int64_t>(p.summed, 1));
    const double loss = p.loss_sum / steps;
    const int64_t in_epoch = p.step - stage1_steps - epoch * per_epoch;
    metrics.append({static_cast<double>(epoch + 1), static_cast<double>(p.step),
                    stage.schedule.lr(std::max<int64_t>(p.step - stage1_steps - 1, 0)), loss, p.accuracy_sum / steps,
                    eval.loss, eval.accuracy(), p.seconds,
                    static_cast<double>(in_epoch * options.batch_size) / std::max(p.seconds, 1e-9)});
    nlohmann::json row = nlohmann::json::array({epoch + 1});
    std::string line;
    for (const std::string& kind : vlm_question_kinds()) {
      const auto [right, asked] = eval.per_kind.at(kind);
      const double share = static_cast<double>(right) / static_cast<double>(asked);
      row.push_back(share);
      p.exact_match[kind] = share;
      line += fmt::format("  {} {:.1f}%", kind, 100.0 * share);
    }
    row.push_back(eval.accuracy());
    p.exact_match["all"] = eval.accuracy();
    while (!p.answers.empty() && p.answers.back()[0].get<int64_t>() >= epoch + 1) p.answers.erase(p.answers.size() - 1);
    p.answers.push_back(row);
    write_answers_csv((std::filesystem::path(out_dir) / "answers.csv").string(), p.answers);
    plot_curves(metrics.path(), (std::filesystem::path(out_dir) / "curves.png").string(), "vlm");
    if (!quiet)
      std::printf("epoch %lld: loss %.4f  exact match %.2f%% (held-out wordings, test images):%s\n",
                  static_cast<long long>(epoch + 1), loss, 100.0 * eval.accuracy(), line.c_str());
    std::fflush(stdout);
    if (in_epoch == per_epoch) p.start_epoch();
    save(&stage.optimizer);  // one optimizer through every epoch of stage 2
    result.test = {.loss = eval.loss, .accuracy = eval.accuracy(),
                   .samples = per_kind * std::ssize(vlm_question_kinds()), .seconds = eval.seconds};
    result.test_epoch = epoch + 1;
  }
  if (!saved) {  // a resumed run with nothing left to do: its checkpoint, in --out
    checkpoint.optimizer = resume != nullptr ? resume->optimizer : std::map<std::string, Tensor>{};
    write();
  }
  result.steps = p.step;
  result.checkpoint = checkpoint_path;
  return result;
}

}  // namespace sieve::tools
