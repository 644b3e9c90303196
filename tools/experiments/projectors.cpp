// tools/experiments/projectors.cpp — `sieve experiment projectors`: the LLaVA study's five projectors
// (models/projectors.h) inside a whole small LLaVA (models/vlm.h, tools/train/vlm.h) that answers
// questions, so the study's claims are checked on answers and not only on its proxy.
//
//   sieve experiment projectors --vision runs/clip-12/checkpoint.safetensors
//   sieve experiment projectors --quick      a short CLIP (300 steps) and short VLM runs: minutes
//
// Rows: each of --projectors (the study's five) with the same tower, language model, data and
// budget, their visual tokens as --visual_tokens says (default shuffle: 49 per image); then the
// projector with the best exact match again with each --token-rows count (default: all, 196 per
// image, and prune, the 98 by EViT's rule). Columns of projectors.csv:
//   row, projector, visual_tokens, tokens_per_image      what the row is
//   projector_params, trained_params    the projector's trained parameters; all trained ones
//                                       (projector + language model; the tower is frozen)
//   proxy_mse       the study's proxy: a fresh projector of the row's kind trained alone (AdamW lr
//                   1e-3, batch 256, --proxy-steps) to map an image's visual tokens, mean-pooled, to
//                   the frozen CLIP embedding of that image (L2-normalised); its MSE per element on
//                   test images. The study did this on CIFAR-10 and stopped there
//   tower_mflops, projector_mflops, lm_mflops   the profiler's count for one 2×2 grid scene (four
//                   test images) and the question "what is the sum of the digits?"
//   tower_ms, projector_ms, lm_ms, prefill_ms   medians of --timing-reps at batch 1, the same scene
//                   (tools/train/vlm.h measure_prefill); projector_share: its part of the three
//   what, even, corner, count, sum, bag    exact match per question kind, held-out wordings about
//                   test images (the run's last evaluation); single: what + even (one image); grid:
//                   the four grid kinds; all
// projectors.png: each row's exact match on single and grid questions, and its proxy MSE.
// The last lines: the best projector against the LLaVA issue's target (≥ 97% single, ≥ 90% grid),
// and the study's ranking by its proxy (MLP > LowRank > Linear > Gated > LoRA) beside ours, ranked
// by the proxy and by answers.
//
// Runs live in OUT/<row>/ (sieve train vlm's files); a finished one with the same settings is reused,
// an interrupted one resumed (to the bit), other settings are refused unless --retrain. Without --vision the tower is a CLIP trained (or reused) in OUT/clip.
//
// What it is not: the VLM's training (tools/train/vlm.cpp) or its bench (`sieve bench vlm`, which
// sets the prefill beside PyTorch). Extend: a new column is a field of Result, filled in measure_row.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "models/clip.h"
#include "models/projectors.h"
#include "models/registry.h"
#include "models/vlm.h"
#include "nn/optim.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tools/cli/model_flags.h"
#include "tools/experiments/common.h"
#include "tools/train/metrics.h"
#include "tools/train/vlm.h"

namespace sieve::tools {

namespace {

struct ProjectorFlags {
  std::string data_dir = "data", out, device = "cpu";
  std::vector<std::string> projectors, token_rows;
  int64_t epochs = 0, batch_size = 32, warmup_steps = 0, max_steps = -1, clip_epochs = 12;
  int64_t proxy_steps = 0, proxy_images = 0, timing_reps = 0;
  double lr = 1e-3;
  uint64_t seed = 0;
  bool quick = false, retrain = false, quiet = false;
  std::shared_ptr<ModelFlagTexts> model_flags = std::make_shared<ModelFlagTexts>();
};

// The flags' defaults, which --quick changes.
void resolve_defaults(ProjectorFlags& f) {
  if (f.epochs == 0) f.epochs = f.quick ? 1 : 3;
  if (f.warmup_steps == 0) f.warmup_steps = f.quick ? 10 : 100;
  if (f.max_steps < 0) f.max_steps = f.quick ? 150 : 0;
  if (f.proxy_steps == 0) f.proxy_steps = f.quick ? 100 : 1000;
  if (f.proxy_images == 0) f.proxy_images = f.quick ? 1024 : 10000;
  if (f.timing_reps == 0) f.timing_reps = f.quick ? 3 : 20;
  if (f.projectors.empty()) f.projectors = models::kProjectorNames;
}

constexpr const char* kQuestion = "what is the sum of the digits?";
const std::vector<std::string> kSingleKinds = {"what", "even"};

struct Result {
  std::string row, projector, visual_tokens;
  int64_t tokens_per_image = 0, projector_params = 0, trained_params = 0;
  double proxy_mse = 0;
  PrefillSplit split;
  std::map<std::string, double> exact;  // per kind, and single, grid, all
};

// The proxy's training and test images, normalised as the tower's training data; the test set's
// first four are also the timed grid scene.
struct Images {
  Tensor train, test;
};

// ---- the study's proxy ----

// Pooled visual tokens (N, 1, F) and the frozen CLIP embedding, L2-normalised (N, E), of `images`.
std::pair<Tensor, Tensor> proxy_pairs(models::VisionLanguageModel& model, const Tensor& images) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<Tensor> xs, ys;
  for (int64_t start = 0; start < images.size(0); start += 256) {
    const Tensor batch = images.narrow(0, start, std::min<int64_t>(256, images.size(0) - start));
    xs.push_back(mean(model.vision_features(batch), {1}, /*keepdim=*/true));
    ys.push_back(models::l2_normalize(model.vision_tower->forward(batch)));
  }
  return {cat(xs, 0), cat(ys, 0)};
}

double proxy_mse(const std::string& kind, int64_t rank, const std::pair<Tensor, Tensor>& train,
                 const std::pair<Tensor, Tensor>& test, int64_t steps, uint64_t seed) {
  const auto& [x, y] = train;
  const int64_t N = x.size(0), F = x.size(2), E = y.size(1), B = std::min<int64_t>(256, N);
  Generator gen(seed);
  const std::shared_ptr<nn::Module> projector =
      models::make_projector({.kind = kind, .in_dim = F, .out_dim = E, .rank = rank}, &gen);
  nn::AdamW optimizer(nn::weight_decay_groups(*projector, 0.0), {.lr = 1e-3, .weight_decay = 0.0});
  for (int64_t step = 0; step < steps; ++step) {
    const Tensor rows = randint(0, N, {B}, {.dtype = DType::i64}, &gen);
    const Tensor loss = mse_loss(projector->forward(index_select(x, 0, rows)).reshape({B, E}), index_select(y, 0, rows));
    apply_gradients(loss, *projector, optimizer, /*clip=*/0.0, step);
  }
  NoGradGuard no_grad;
  return mse_loss(projector->forward(test.first).reshape({-1, E}), test.second).item();
}

// ---- the rows ----

// Trains the VLM of `config` into dir, or reuses the finished run there with the same settings.
nn::Checkpoint train_or_reuse_vlm(const models::ModelSpec& spec, const nlohmann::json& config,
                                  const RunOptions& options, const std::string& dir, const ProjectorFlags& f) {
  const std::string path = dir + "/checkpoint.safetensors";
  if (std::filesystem::exists(path) && !f.retrain) {
    const nn::Checkpoint previous = nn::load_checkpoint(path);
    check_same_run(previous, spec, config, options, path);
    if (previous.training.value("finished", false)) {
      std::printf("%s: reusing the finished run\n", dir.c_str());
      return previous;
    }
    std::printf("%s: finishing the interrupted run\n", dir.c_str());
    std::fflush(stdout);
    train_vlm(spec, models::complete_config(spec, previous.config), options, dir, f.quiet, parse_device(f.device),
              &previous);
    return nn::load_checkpoint(path);
  } else {
    std::printf("%s: training\n", dir.c_str());
  }
  std::fflush(stdout);
  train_vlm(spec, models::complete_config(spec, config), options, dir, f.quiet, parse_device(f.device));
  return nn::load_checkpoint(path);
}

Result measure_row(const std::string& name, const nn::Checkpoint& checkpoint, const std::string& path,
                   const Images& images, const ProjectorFlags& f) {
  const models::ModelPtr built = model_from_checkpoint(checkpoint, path);
  auto& model = dynamic_cast<models::VisionLanguageModel&>(*built);
  Result r;
  r.row = name;
  r.projector = model.config.projector;
  r.visual_tokens = model.config.visual_tokens;
  r.tokens_per_image = model.visual_tokens_per_cell();
  r.projector_params = models::trainable_parameters(*model.mm_projector);
  r.trained_params = r.projector_params + model.language_model->num_parameters();
  if (!f.quiet) std::fprintf(stderr, "%s: the proxy, then the prefill's parts\n", name.c_str());
  r.proxy_mse = proxy_mse(r.projector, model.config.rank, proxy_pairs(model, images.train),
                          proxy_pairs(model, images.test), f.proxy_steps, f.seed);
  r.split = measure_prefill(model, images.test.narrow(0, 0, 4), kQuestion, static_cast<int>(f.timing_reps));
  const nlohmann::json exact = checkpoint.training.value("exact_match", nlohmann::json::object());
  double single = 0, grid = 0;
  for (const std::string& kind : vlm_question_kinds()) {
    r.exact[kind] = exact.value(kind, 0.0);
    const bool one_image = std::ranges::find(kSingleKinds, kind) != kSingleKinds.end();
    (one_image ? single : grid) += r.exact[kind];
  }
  r.exact["single"] = single / static_cast<double>(kSingleKinds.size());
  r.exact["grid"] = grid / static_cast<double>(vlm_question_kinds().size() - kSingleKinds.size());
  r.exact["all"] = exact.value("all", 0.0);
  return r;
}

// ---- the table ----

std::vector<std::string> csv_header() {
  std::vector<std::string> h = {"row", "projector", "visual_tokens", "tokens_per_image", "projector_params",
                                "trained_params", "proxy_mse", "tower_mflops", "projector_mflops", "lm_mflops",
                                "tower_ms", "projector_ms", "lm_ms", "prefill_ms", "projector_share"};
  for (const std::string& kind : vlm_question_kinds()) h.push_back(kind);
  for (const char* k : {"single", "grid", "all"}) h.push_back(k);
  return h;
}

std::vector<std::string> csv_row(const Result& r) {
  const PrefillSplit& s = r.split;
  const auto mflops = [](int64_t flops) { return fmt::format("{:.3f}", static_cast<double>(flops) * 1e-6); };
  std::vector<std::string> c = {r.row, r.projector, r.visual_tokens, std::to_string(r.tokens_per_image),
                                std::to_string(r.projector_params), std::to_string(r.trained_params),
                                fmt::format("{:.6f}", r.proxy_mse), mflops(s.tower_flops), mflops(s.projector_flops),
                                mflops(s.lm_flops), fmt::format("{:.3f}", s.tower_ms), fmt::format("{:.3f}", s.projector_ms),
                                fmt::format("{:.3f}", s.lm_ms), fmt::format("{:.3f}", s.prefill_ms),
                                fmt::format("{:.4f}", s.projector_ms / (s.tower_ms + s.projector_ms + s.lm_ms))};
  for (const std::string& kind : vlm_question_kinds()) c.push_back(fmt::format("{:.4f}", r.exact.at(kind)));
  for (const char* k : {"single", "grid", "all"}) c.push_back(fmt::format("{:.4f}", r.exact.at(k)));
  return c;
}

void print_table(const std::vector<Result>& results) {
  std::printf("\n%-16s %6s %9s %9s %10s %8s %8s %8s %8s %7s %7s %7s\n", "row", "tokens", "proj par", "trained",
              "proxy MSE", "tower ms", "proj ms", "LM ms", "proj %", "single", "grid", "all");
  for (const Result& r : results) {
    const PrefillSplit& s = r.split;
    std::printf("%-16s %6lld %9lld %9lld %10.5f %8.2f %8.3f %8.2f %7.1f%% %6.1f%% %6.1f%% %6.1f%%\n", r.row.c_str(),
                static_cast<long long>(r.tokens_per_image), static_cast<long long>(r.projector_params),
                static_cast<long long>(r.trained_params), r.proxy_mse, s.tower_ms, s.projector_ms, s.lm_ms,
                100 * s.projector_ms / (s.tower_ms + s.projector_ms + s.lm_ms), 100 * r.exact.at("single"),
                100 * r.exact.at("grid"), 100 * r.exact.at("all"));
  }
  std::printf("(exact match on held-out wordings about test images; times: one 2×2 grid scene at batch 1; "
              "tokens: visual tokens per image)\n");
}

// The projectors' names best first — by lower proxy MSE, or by higher exact match over all kinds —
// joined by " > ", or " = " where two are level (as the CSV prints them).
std::string ranking(std::vector<Result> rows, bool by_mse) {
  const auto score = [by_mse](const Result& r) {
    return by_mse ? fmt::format("{:.6f}", r.proxy_mse) : fmt::format("{:.4f}", r.exact.at("all"));
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Result& a, const Result& b) {
    return by_mse ? a.proxy_mse < b.proxy_mse : a.exact.at("all") > b.exact.at("all");
  });
  std::string text = rows.empty() ? "" : rows[0].projector;
  for (size_t i = 1; i < rows.size(); ++i)
    text += (score(rows[i]) == score(rows[i - 1]) ? " = " : " > ") + rows[i].projector;
  return text;
}

std::string plot_script(const std::string& csv, const std::string& out) {
  // Columns of projectors.csv: 1 row, 7 proxy_mse, 22 single, 23 grid (after the six kinds at 16–21).
  return fmt::format(R"(set terminal pngcairo size 900,520 font ",10"
set output '{1}'
set datafile separator ','
set title 'LLaVA projectors: exact match (bars) and the study''s proxy MSE (points)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set ylabel 'exact match (%)'
set yrange [0:105]
set y2label 'proxy MSE'
set y2tics
set xtics rotate by -30
plot '{0}' using ($22*100):xtic(1) title 'single image', \
     '' using ($23*100) title '2x2 grid', \
     '' using 0:7 axes x1y2 with points pt 7 ps 1.5 title 'proxy MSE'
)",
                     csv, out);
}

int run_projectors_study(ProjectorFlags f) {
  resolve_defaults(f);
  parse_device(f.device);  // a GPU asked for and missing: refused before anything is trained
  const std::string out = !f.out.empty() ? f.out : std::string("runs/experiment-projectors") + (f.quick ? "-quick" : "");
  make_study_dir(out);
  const models::ModelSpec& spec = models::find_model("vlm");
  nlohmann::json config = parse_model_flags(spec, *f.model_flags);
  SIEVE_CHECK(!config.contains("projector"), "--projector: the study sets each row's projector (--projectors LIST)");
  for (const std::string& p : f.projectors)
    SIEVE_CHECK(std::ranges::find(models::kProjectorNames, p) != models::kProjectorNames.end(),
                "--projectors: unknown projector '{}' (want {})", p, fmt::join(models::kProjectorNames, ", "));
  const std::string base_tokens = config.value("visual_tokens", std::string("shuffle"));

  // 1. The tower: --vision, or a CLIP trained (or reused) here.
  if (!config.contains("vision")) {
    RunOptions clip_run;
    clip_run.dataset = "mnist+fashion-mnist";
    clip_run.data_dir = f.data_dir;
    clip_run.epochs = f.quick ? 1 : f.clip_epochs;
    clip_run.max_steps = f.quick ? 300 : 0;
    clip_run.seed = f.seed;
    train_or_reuse(models::find_model("clip"), nlohmann::json::object(), clip_run, out + "/clip", f.retrain, f.quiet);
    config["vision"] = out + "/clip/checkpoint.safetensors";
  }
  const std::string vision = config["vision"].get<std::string>();
  const nn::Checkpoint clip = nn::load_checkpoint(vision);
  SIEVE_CHECK(clip.model == "clip", "--vision {}: a clip checkpoint is needed, this one holds a '{}'", vision, clip.model);
  std::printf("sieve experiment projectors — tower %s, results in %s\n", vision.c_str(), out.c_str());

  // 2. The images: the tower's data, normalised as its training was (the proxy's pairs, the timed scene).
  const DatasetInfo data = DatasetInfo::from_json(clip.data, vision);
  const LoadedData loaded = load_dataset(data.name, f.data_dir, 28, 1);
  const Images images{
      normalised(loaded.train.images.narrow(0, 0, std::min(f.proxy_images, loaded.train.images.size(0))), data),
      normalised(loaded.test.images.narrow(0, 0, std::min(f.proxy_images / 5 + 4, loaded.test.images.size(0))), data)};
  SIEVE_CHECK(images.test.size(0) >= 4, "{}: its test split has {} images; the timed scene needs 4", data.name,
              images.test.size(0));

  // 3. Every projector, then the best one at the other visual-token counts.
  RunOptions run;
  run.dataset = "mnist+fashion-mnist";
  run.data_dir = f.data_dir;
  run.epochs = f.epochs;
  run.batch_size = f.batch_size;
  run.lr = f.lr;
  run.warmup_steps = f.warmup_steps;
  run.max_steps = f.max_steps;
  run.seed = f.seed;
  std::vector<Result> results;
  const auto row = [&](const std::string& name, const std::string& projector, const std::string& tokens) {
    nlohmann::json c = config;
    c["projector"] = projector;
    c["visual_tokens"] = tokens;
    const std::string dir = out + "/" + name;
    const nn::Checkpoint ck = train_or_reuse_vlm(spec, c, run, dir, f);
    results.push_back(measure_row(name, ck, dir + "/checkpoint.safetensors", images, f));
  };
  for (const std::string& p : f.projectors) row(p, p, base_tokens);
  const size_t best = static_cast<size_t>(
      std::ranges::max_element(results, {}, [](const Result& r) { return r.exact.at("all"); }) - results.begin());
  const std::string best_projector = results[best].projector;
  const int64_t side = clip.config.value("image_size", int64_t{28}) / clip.config.value("patch", int64_t{2});
  std::vector<std::string> token_rows = f.token_rows;
  if (token_rows.empty())
    for (const char* t : {"all", "prune", "shuffle"})
      if (t != base_tokens && (std::string(t) != "shuffle" || side % 2 == 0)) token_rows.emplace_back(t);
  for (const std::string& t : token_rows)
    if (t != "none") row(best_projector + "-" + t, best_projector, t);

  // 4. The table, the chart and the verdicts.
  std::vector<std::vector<std::string>> cells;
  for (const Result& r : results) cells.push_back(csv_row(r));
  const std::string csv = out + "/projectors.csv";
  write_csv(csv, csv_header(), cells);
  print_table(results);
  const std::vector<Result> projector_rows(results.begin(), results.begin() + std::ssize(f.projectors));
  const Result& b = projector_rows[best];
  const bool met = b.exact.at("single") >= 0.97 && b.exact.at("grid") >= 0.90;
  std::printf("best projector: %s, %.1f%% single-image and %.1f%% grid questions — %s (target ≥ 97%% and ≥ 90%%)\n",
              b.projector.c_str(), 100 * b.exact.at("single"), 100 * b.exact.at("grid"), met ? "met" : "not met");
  std::printf("ranking by the study's proxy — the study: mlp > lowrank > linear > gated > lora; here: %s\n",
              ranking(projector_rows, true).c_str());
  std::printf("ranking by exact match (answers):                                   %s\n",
              ranking(projector_rows, false).c_str());
  const std::string png = out + "/projectors.png";
  const std::string note = run_gnuplot([&](const std::string& tmp) { return plot_script(csv, tmp); }, png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());
  return 0;
}

}  // namespace

void add_projectors_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "projectors", "the LLaVA study's five projectors in a small VLM that answers questions: parameters, FLOPs, "
                    "prefill split, the study's MSE proxy and exact match per question kind; visual-token counts");
  auto f = std::make_shared<ProjectorFlags>();
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--out", f->out, "results and the runs (default: runs/experiment-projectors[-quick])");
  cmd->add_flag("--quick", f->quick, "a 300-step CLIP (without --vision), 150 steps a VLM, a smaller proxy: minutes");
  cmd->add_option("--projectors", f->projectors,
                  fmt::format("the projectors' rows (default all: {})", fmt::join(models::kProjectorNames, ",")))
      ->delimiter(',');
  cmd->add_option("--token-rows", f->token_rows,
                  "visual-token counts for the best projector's extra rows: all, prune, shuffle, or none (default: "
                  "those other than --visual_tokens that the tower can take)")
      ->delimiter(',')->check(CLI::IsMember({"all", "prune", "shuffle", "none"}));
  cmd->add_option("--epochs", f->epochs, "stage-2 epochs per VLM (default 3; 1 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--batch-size", f->batch_size, "examples per step")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--lr", f->lr, "peak learning rate of both stages")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup-steps", f->warmup_steps, "warm-up steps of each stage (default 100; 10 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd->add_option("--max-steps", f->max_steps, "stop each VLM after this many steps, both stages (default none; "
                  "150 with --quick)")->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  cmd->add_option("--clip-epochs", f->clip_epochs, "epochs of the CLIP trained when --vision is not given")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--proxy-steps", f->proxy_steps, "training steps of each proxy projector (default 1000; 100 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd->add_option("--proxy-images", f->proxy_images, "training images of the proxy, a fifth as many test images "
                  "(default 10000; 1024 with --quick)")->check(CLI::Range(int64_t{16}, int64_t{60000}));
  cmd->add_option("--timing-reps", f->timing_reps, "timed prefills per part (default 20; 3 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  cmd->add_option("--seed", f->seed, "seed of every run and of the proxies")->capture_default_str();
  cmd->add_option("--device", f->device, "where the VLMs train: cpu or cuda (the table's times and proxies are "
                                         "measured on the CPU either way)")->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  add_model_flags(cmd, models::find_model("vlm"), f->model_flags);
  cmd->callback([run, f] { *run = [f] { return run_projectors_study(*f); }; });
}

}  // namespace sieve::tools
