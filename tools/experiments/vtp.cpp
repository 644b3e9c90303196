// tools/experiments/vtp.cpp — `sieve experiment vtp`: what vision-token pruning and merging cost a
// CLIP-style model in zero-shot accuracy, and whether the FLOPs they save become time.
//
//   sieve experiment vtp                   trains the CLIP of models/clip.h on mnist+fashion-mnist
//                                          (or reuses it), then measures every row
//   sieve experiment vtp --quick           a short baseline, short fine-tunes, 1000 test images: minutes
//   sieve experiment vtp --baseline runs/clip-12/checkpoint.safetensors   start from a trained model
//   sieve experiment vtp --keeps 0.7,0.5 --finetune evit,tome              fine-tune only those rows
//
// Rows (models/token_reduction.h): the baseline; evit at each --keeps, with and without the fused
// token; the study's l2 variant and svtr at the same keeps; tome at the r whose mean tokens per
// block come closest to svtr's at that keep (once per r). Each is measured "off the shelf" (the baseline's
// weights) and after pruning-aware fine-tuning (--finetune-epochs from the baseline, the reduction
// on, --finetune-lr 2e-4: EViT's recipe, shortened), on the MNIST and Fashion-MNIST test splits separately,
// each zero-shot over its own 10 classes from held-out captions. Columns:
//   tokens         what each block's attention sees, then what the head reads (tokens_per_block)
//   gflops         per image, counted by the profiler as executed over --timing-images images
//   latency_b1     ms per image, one at a time (after a warm-up image)
//   throughput     images/s at batch 256 (after one warm-up batch), and its ratio to the baseline
//   efficiency     that speed-up × the FLOP ratio: 1.0 = the saved FLOPs became time in full; the
//                  CLIP issue's target is ≥ 0.85
//   peak_mb        the allocator's peak over one batch-256 forward, above what was live before
//   mnist, fashion zero-shot accuracy; cosine: mean cosine of the image embeddings to the
//                  baseline's over both test splits (keep 1.0 must give exactly 1)
// Timing is of the image tower with the classes' text embeddings computed once (a deployment
// computes them once too): ToMe's benchmark protocol, model only. Speed columns are the same for
// the fine-tuned rows (same token counts), so they are measured once.
// Written to OUT/vtp.csv and OUT/vtp.png (zero-shot accuracy, mean of the two splits, against
// throughput; one line per method, off the shelf solid, fine-tuned dashed).
//
// What it is not: the reductions (models/token_reduction.h) or the training loop (trainer.h).
// Extend: a new method adds its rows in vtp_rows(); a new column goes in Row and the CSV header.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/grad_mode.h"
#include "core/allocator.h"
#include "core/error.h"
#include "datasets/captions.h"
#include "models/clip.h"
#include "models/token_reduction.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tools/cli/model_flags.h"
#include "tools/experiments/common.h"
#include "tools/train/metrics.h"

namespace sieve::tools {

namespace {

struct VtpFlags {
  std::string data_dir = "data", out, baseline;
  int64_t epochs = 0, finetune_epochs = 0, test_images = 0, timing_images = 0, latency_images = 0;
  double finetune_lr = 2e-4;
  std::vector<double> keeps;
  std::vector<std::string> finetune_methods;  // empty: every method
  bool quick = false, retrain = false, quiet = false, no_finetune = false;
  std::shared_ptr<ModelFlagTexts> model_flags = std::make_shared<ModelFlagTexts>();
};

// The reduction methods of the table's rows, in the plot's order.
constexpr const char* kMethods[] = {"evit", "evit+fuse", "l2", "svtr", "tome"};

// The flags' defaults, which --quick changes.
void resolve_defaults(VtpFlags& f) {
  if (f.epochs == 0) f.epochs = f.quick ? 1 : 12;
  if (f.finetune_epochs == 0) f.finetune_epochs = 1;
  if (f.test_images == 0) f.test_images = f.quick ? 1000 : 10000;
  if (f.timing_images == 0) f.timing_images = f.quick ? 512 : 2560;
  if (f.latency_images == 0) f.latency_images = f.quick ? 20 : 100;
  if (f.keeps.empty()) f.keeps = f.quick ? std::vector<double>{1.0, 0.7, 0.5} : std::vector<double>{1.0, 0.9, 0.7, 0.5};
  for (double k : f.keeps) SIEVE_CHECK(k > 0 && k <= 1, "--keeps: keep {} is outside (0, 1]", k);
  for (const std::string& m : f.finetune_methods)
    SIEVE_CHECK(std::find(std::begin(kMethods), std::end(kMethods), m) != std::end(kMethods),
                "--finetune: unknown method '{}' (known: {})", printable(m, 40), fmt::join(kMethods, ", "));
}

// One dataset's test images with the classes to tell apart.
struct ZeroShotSet {
  std::string name;
  DatasetInfo info;  // normalised as the model was trained (mnist+fashion-mnist's mean and std)
  ImageSet test = {};
  std::vector<std::vector<std::string>> texts = {};
};

// The image tower plus fixed class embeddings: what the speed columns time.
class ZeroShotImages : public nn::Module {
 public:
  ZeroShotImages(models::ClipModel& clip, Tensor classes)
      : Module("ZeroShotImages"), clip_(clip), classes_(std::move(classes)) {}
  Tensor forward(const Tensor& images) override {
    return matmul(models::l2_normalize(clip_.encode_images(images)), classes_.t()) * 100.0;
  }

 private:
  models::ClipModel& clip_;
  Tensor classes_;
};

// Zero-shot accuracy and the normalised image embeddings (N, E) of a set, batch 256, no gradients.
struct ZeroShot {
  double accuracy = 0;
  Tensor embeddings;
};

ZeroShot zero_shot(models::ClipModel& clip, const ZeroShotSet& set) {
  NoGradGuard no_grad;
  clip.eval();
  const Tensor classes = clip.class_embeddings(set.texts);
  const Tensor x = normalised(set.test.images, set.info);
  std::vector<Tensor> parts;
  int64_t correct = 0;
  for (int64_t start = 0; start < x.size(0); start += 256) {
    const int64_t b = std::min<int64_t>(256, x.size(0) - start);
    const Tensor e = models::l2_normalize(clip.encode_images(x.narrow(0, start, b)));
    int64_t counted = 0;
    correct += count_correct(matmul(e, classes.t()), set.test.labels.narrow(0, start, b), &counted);
    parts.push_back(e);
  }
  return {static_cast<double>(correct) / static_cast<double>(x.size(0)), cat(parts, 0)};
}

struct Lossiness {
  double mnist = 0, fashion = 0, cosine = 0;
};

// Accuracy on both sets and the mean cosine to the baseline's embeddings (base: empty = this is it).
Lossiness lossiness(models::ClipModel& clip, const std::vector<ZeroShotSet>& sets, std::vector<Tensor>* base) {
  Lossiness l;
  double cosine_sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < sets.size(); ++i) {
    const ZeroShot z = zero_shot(clip, sets[i]);
    (i == 0 ? l.mnist : l.fashion) = z.accuracy;
    if (base->size() < sets.size()) base->push_back(z.embeddings);
    cosine_sum += sum(z.embeddings * (*base)[i]).item();
    n += z.embeddings.size(0);
  }
  l.cosine = cosine_sum / static_cast<double>(n);
  return l;
}

struct Speed {
  std::vector<int64_t> tokens = {};
  double gflops = 0, latency_ms = 0, throughput = 0, peak_mb = 0;
};

Speed speed(models::ClipModel& clip, const ZeroShotSet& set, const VtpFlags& f) {
  Tensor classes;
  {
    NoGradGuard no_grad;
    classes = clip.class_embeddings(set.texts);
  }
  ZeroShotImages model(clip, classes);
  const int64_t n = std::min<int64_t>(f.timing_images, set.test.images.size(0));
  const ImageSet timed{set.test.images.narrow(0, 0, n), set.test.labels.narrow(0, 0, n)};
  // One warm-up batch first: the allocator's cache and the threads settle.
  {
    NoGradGuard no_grad;
    model.forward(normalised(timed.images.narrow(0, 0, std::min<int64_t>(256, n)), set.info));
  }
  const Measured m = measure_classifier(model, timed, set.info, {}, {.batch_size = 256, .latency_images = f.latency_images});
  Speed s{.gflops = m.gflops_per_image, .latency_ms = m.latency_ms, .throughput = m.throughput};
  {
    NoGradGuard no_grad;
    const Tensor batch = normalised(timed.images.narrow(0, 0, std::min<int64_t>(256, n)), set.info);
    reset_peak_memory(kCPU);
    const int64_t live = memory_stats(kCPU).live_bytes;
    model.forward(batch);
    s.peak_mb = static_cast<double>(memory_stats(kCPU).peak_bytes - live) / 1e6;
  }
  return s;
}

struct Row {
  std::string method, setting;  // "evit", "0.7"
  models::TokenReduction reduction = {};
  Speed speed = {};
  Lossiness off = {}, tuned = {};
  bool has_tuned = false;
};

double mean_tokens(const std::vector<int64_t>& tokens) {
  double s = 0;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) s += static_cast<double>(tokens[i]);
  return s / static_cast<double>(tokens.size() - 1);
}

// The rows' reductions: evit (plain and fused), l2, svtr at each keep (keep 1.0 for plain evit
// only: the bit-identity check), tome at the r closest to evit's mean tokens at that keep.
std::vector<Row> vtp_rows(const std::vector<double>& keeps, int64_t patches, int64_t depth) {
  std::vector<Row> rows = {{.method = "baseline", .setting = ""}};
  auto add = [&](const std::string& method, const std::string& setting, const std::string& spec) {
    rows.push_back({.method = method, .setting = setting, .reduction = models::parse_reduction(spec)});
  };
  for (double keep : keeps) {
    const std::string k = fmt::format("{}", keep);
    add("evit", k, "evit:" + k);
    if (keep == 1.0) continue;
    add("evit+fuse", k, "evit:" + k + ":fuse");
    add("l2", k, "l2:" + k);
    add("svtr", k, "svtr:" + k);
    const double target = mean_tokens(models::tokens_per_block(rows.back().reduction, patches, depth));
    int64_t best = 0;
    double best_gap = 1e300;
    for (int64_t r = 1;; ++r) {
      models::TokenReduction tome{.method = models::Reduction::tome, .merge = r};
      std::vector<int64_t> tokens;
      try {
        tokens = models::tokens_per_block(tome, patches, depth);
      } catch (const Error&) {
        break;  // r too large for some block
      }
      const double gap = std::abs(mean_tokens(tokens) - target);
      if (gap < best_gap) best = r, best_gap = gap;
    }
    const bool seen = std::any_of(rows.begin(), rows.end(), [&](const Row& r) {
      return r.reduction.method == models::Reduction::tome && r.reduction.merge == best;
    });
    if (best > 0 && !seen) add("tome", "r=" + std::to_string(best), "tome:" + std::to_string(best));
  }
  return rows;
}

std::string plot_script(const std::string& csv, const std::string& out) {
  // Columns of vtp.csv: 1 method, 2 setting, ..., 8 throughput_b256, 12 mnist_off, 13 fashion_off,
  // 15 mnist_ft, 16 fashion_ft. The baseline starts both lines (its off-the-shelf figures).
  std::string plots;
  for (int i = 0; i < static_cast<int>(std::size(kMethods)); ++i) {
    const std::string m = kMethods[i];
    plots += fmt::format(
        "'{0}' using (stringcolumn(1) eq '{1}' || stringcolumn(1) eq 'baseline' ? $8 : 1/0):(($12+$13)*50) "
        "with linespoints lw 2 lc {2} pt 7 title '{1}', "
        "'{0}' using (stringcolumn(1) eq '{1}' || stringcolumn(1) eq 'baseline' ? $8 : 1/0):(stringcolumn(1) eq 'baseline' ? ($12+$13)*50 : ($15+$16)*50) "
        "with linespoints lw 1 dt 2 lc {2} pt 6 title '{1}, fine-tuned', ",
        csv, m, i + 1);
  }
  plots.resize(plots.size() - 2);
  return fmt::format(R"(set terminal pngcairo size 900,560 font ",10"
set output '{0}'
set datafile separator ','
set title 'CLIP token reduction: zero-shot accuracy (mean of MNIST and Fashion-MNIST) vs throughput'
set grid
set key bottom left
set xlabel 'images/s at batch 256 (image tower)'
set ylabel 'zero-shot accuracy (%)'
plot {1}
)",
                     out, plots);
}

std::string pct(double v) { return fmt::format("{:.4f}", v); }

int run_vtp_study(VtpFlags f) {
  resolve_defaults(f);
  const std::string out = !f.out.empty() ? f.out : std::string("runs/experiment-vtp") + (f.quick ? "-quick" : "");
  make_study_dir(out);
  const models::ModelSpec& spec = models::find_model("clip");
  nlohmann::json config = parse_model_flags(spec, *f.model_flags);
  SIEVE_CHECK(!config.contains("reduce"), "--reduce: the study sets each row's reduction itself");

  // 1. The baseline: given, or trained (or reused) here.
  RunOptions run;
  run.dataset = "mnist+fashion-mnist";
  run.data_dir = f.data_dir;
  run.epochs = f.epochs;
  run.max_steps = f.quick ? 300 : 0;
  nn::Checkpoint base_ck;
  std::string base_path = f.baseline;
  if (!f.baseline.empty()) {
    base_ck = nn::load_checkpoint(f.baseline);
    SIEVE_CHECK(base_ck.model == "clip", "--baseline {}: holds a '{}' model, not clip", f.baseline, base_ck.model);
    SIEVE_CHECK(config.empty(), "--baseline: its model is configured already; give no model flags");
    for (const auto& [key, value] : base_ck.config.items())
      if (!is_data_key(key) && key != "reduce") config[key] = value;
  } else {
    base_ck = train_or_reuse(spec, config, run, out + "/baseline", f.retrain, f.quiet);
    base_path = out + "/baseline/checkpoint.safetensors";
  }
  std::printf("sieve experiment vtp — baseline %s, results in %s\n", base_path.c_str(), out.c_str());

  // 2. The test sets, each with its own classes, normalised as in training.
  const DatasetInfo trained_on = DatasetInfo::from_json(base_ck.data, base_path);
  std::vector<ZeroShotSet> sets;
  for (const char* name : {"mnist", "fashion-mnist"}) {
    ZeroShotSet s{.name = name, .info = find_dataset(name)};
    s.info.mean = trained_on.mean;
    s.info.std = trained_on.std;
    const ImageSet test = load_split(s.info, f.data_dir, /*train=*/false);
    const int64_t n = std::min<int64_t>(f.test_images, test.images.size(0));
    s.test = {test.images.narrow(0, 0, n), test.labels.narrow(0, 0, n)};
    s.texts = class_captions(concepts_of(name), /*held_out=*/true);
    sets.push_back(std::move(s));
  }

  // 3. Every row: off the shelf, then fine-tuned.
  auto base = std::dynamic_pointer_cast<models::ClipModel>(model_from_checkpoint(base_ck, base_path));
  SIEVE_CHECK(base != nullptr, "{}: not a clip checkpoint", base_path);
  const models::VitConfig& vision = base->config.vision;
  const int64_t patches = (vision.image_size / vision.patch) * (vision.image_size / vision.patch);
  std::vector<Row> rows = vtp_rows(f.keeps, patches, vision.depth);
  std::vector<Tensor> base_embeddings;
  RunOptions tune = run;
  tune.epochs = f.finetune_epochs;
  tune.lr = f.finetune_lr;
  tune.warmup_steps = 50;
  tune.max_steps = f.quick ? 30 : 0;
  for (Row& row : rows) {
    if (!f.quiet) std::fprintf(stderr, "measuring %s %s\n", row.method.c_str(), row.setting.c_str());
    base->visual->reduction = row.reduction;
    row.speed = speed(*base, sets[0], f);
    row.speed.tokens = models::tokens_per_block(row.reduction, patches, vision.depth);
    row.off = lossiness(*base, sets, &base_embeddings);
    const bool nothing_to_tune = row.method == "baseline" || (row.reduction.keep == 1.0 && row.method != "tome");
    const bool chosen = f.finetune_methods.empty() ||
                        std::find(f.finetune_methods.begin(), f.finetune_methods.end(), row.method) !=
                            f.finetune_methods.end();
    if (nothing_to_tune || f.no_finetune || !chosen) continue;
    nlohmann::json tuned_config = config;
    tuned_config["reduce"] = models::reduction_str(row.reduction);
    const std::string dir = out + "/finetune-" + row.method + "-" + row.setting;
    const nn::Checkpoint ck = train_or_reuse(spec, tuned_config, tune, dir, f.retrain, f.quiet, &base_ck);
    auto tuned = std::dynamic_pointer_cast<models::ClipModel>(model_from_checkpoint(ck, dir));
    row.tuned = lossiness(*tuned, sets, &base_embeddings);
    row.has_tuned = true;
  }
  base->visual->reduction = {};

  // 4. The table.
  const Speed& b = rows[0].speed;
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    const double flops = r.speed.gflops / b.gflops, speedup = r.speed.throughput / b.throughput;
    cells.push_back({r.method, r.setting, fmt::format("{}", fmt::join(r.speed.tokens, "-")),
                     fmt::format("{:.1f}", mean_tokens(r.speed.tokens)), fmt::format("{:.5f}", r.speed.gflops),
                     fmt::format("{:.3f}", flops), fmt::format("{:.3f}", r.speed.latency_ms),
                     fmt::format("{:.0f}", r.speed.throughput), fmt::format("{:.3f}", speedup),
                     fmt::format("{:.3f}", speedup * flops), fmt::format("{:.1f}", r.speed.peak_mb),
                     pct(r.off.mnist), pct(r.off.fashion), fmt::format("{:.6f}", r.off.cosine),
                     r.has_tuned ? pct(r.tuned.mnist) : "", r.has_tuned ? pct(r.tuned.fashion) : "",
                     r.has_tuned ? fmt::format("{:.6f}", r.tuned.cosine) : ""});
  }
  const std::string csv = out + "/vtp.csv";
  write_csv(csv, {"method", "setting", "tokens", "mean_tokens", "gflops_per_image", "flops_vs_base", "latency_b1_ms",
                  "throughput_b256", "speedup_b256", "efficiency", "peak_mb_b256", "mnist_off", "fashion_off",
                  "cosine_off", "mnist_ft", "fashion_ft", "cosine_ft"},
            cells);
  std::printf("\n%-10s %-6s %6s %7s %8s %8s %7s %6s %8s %8s %9s %8s %8s\n", "method", "keep", "tokens", "×FLOPs",
              "ms @ b1", "img/s", "×speed", "eff.", "MNIST", "Fashion", "cosine", "MNIST ft", "Fash. ft");
  for (const Row& r : rows) {
    const double flops = r.speed.gflops / b.gflops, speedup = r.speed.throughput / b.throughput;
    std::printf("%-10s %-6s %6.1f %7.3f %8.3f %8.0f %7.2f %6.2f %7.2f%% %7.2f%% %9.6f %s %s\n", r.method.c_str(),
                r.setting.c_str(), mean_tokens(r.speed.tokens), flops, r.speed.latency_ms, r.speed.throughput, speedup,
                speedup * flops, 100 * r.off.mnist, 100 * r.off.fashion, r.off.cosine,
                r.has_tuned ? fmt::format("{:7.2f}%", 100 * r.tuned.mnist).c_str() : "       -",
                r.has_tuned ? fmt::format("{:7.2f}%", 100 * r.tuned.fashion).c_str() : "       -");
  }
  std::printf("(%lld + %lld test images; speed over %lld images of MNIST; efficiency = speed-up × FLOP ratio, "
              "target ≥ 0.85)\n", static_cast<long long>(sets[0].test.images.size(0)),
              static_cast<long long>(sets[1].test.images.size(0)), static_cast<long long>(f.timing_images));
  const std::string png = out + "/vtp.png";
  const std::string note = run_gnuplot([&](const std::string& tmp) { return plot_script(csv, tmp); }, png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());
  return 0;
}

}  // namespace

void add_vtp_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "vtp", "CLIP with vision-token pruning and merging (EViT, L2, SVTR, ToMe): zero-shot accuracy, cosine to the "
             "baseline, measured GFLOPs, latency, throughput, memory; off the shelf and fine-tuned");
  auto f = std::make_shared<VtpFlags>();
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--out", f->out, "results and the runs (default: runs/experiment-vtp[-quick])");
  cmd->add_option("--baseline", f->baseline, "a trained clip checkpoint to start from (default: train one in OUT)");
  cmd->add_flag("--quick", f->quick, "300 baseline steps, 30 fine-tuning steps, 1000 test images, keeps 1,0.7,0.5");
  cmd->add_option("--epochs", f->epochs, "baseline epochs (default 12; 1 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--finetune-epochs", f->finetune_epochs, "pruning-aware fine-tuning epochs per row (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--finetune-lr", f->finetune_lr, "peak learning rate of the fine-tunes (50 warm-up steps, then "
                  "cosine)")->capture_default_str()->check(kPositive);
  cmd->add_flag("--no-finetune", f->no_finetune, "off-the-shelf rows only");
  cmd->add_option("--finetune", f->finetune_methods,
                  fmt::format("fine-tune only these methods' rows (default all: {})", fmt::join(kMethods, ",")))
      ->delimiter(',');
  cmd->add_option("--keeps", f->keeps, "keep rates (default 1,0.9,0.7,0.5)")->delimiter(',');
  cmd->add_option("--test-images", f->test_images, "test images per dataset (default all; 1000 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--timing-images", f->timing_images, "images timed at batch 256 (default 2560)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--latency-images", f->latency_images, "images timed one at a time (default 100)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  add_model_flags(cmd, models::find_model("clip"), f->model_flags);
  cmd->callback([run, f] { *run = [f] { return run_vtp_study(*f); }; });
}

}  // namespace sieve::tools
