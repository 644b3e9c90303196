// tools/experiments/vmamba.cpp — `sieve experiment vmamba`: do VMamba's four scan routes beat two,
// and what do the state-space image models cost against a ViT?
//
//   sieve experiment vmamba                 MNIST and Fashion-MNIST: trains every row (or reuses it)
//   sieve experiment vmamba --quick         300 steps a run, 1000 test images, 2 seeds: minutes
//
// Part 1, on each dataset: the ViT (models/vit.h defaults), VMamba with K = 4, 2 and 1 routes and
// Vim, each trained with the same run (AdamW, warmup + cosine, batch 128). Per row, on the test
// split: top-1 and top-5, parameters, GFLOPs per image counted by the profiler as executed,
// throughput at batch 256, the training step's time (forward + backward, batch 128), and the scan
// routes that actually ran: the profiler's selective_scan FLOPs per image divided by one route's
// (so a route that silently went missing — the course study's fallback — shows as 2.0, not 4).
// Part 2, the route ablation: VMamba at K = 4, 2, 1 with --seeds seeds each, top-1 mean ± std.
// Part 3, the study's head-stripping fine-tune: each model trained on MNIST, its head stripped,
// fine-tuned on Fashion-MNIST (`sieve train --init`'s path), and evaluated on Fashion-MNIST test
// images resized to 28, 56 and 14 pixels (ViT and Vim positions interpolated, models/positions.h),
// beside the same model trained from scratch on Fashion-MNIST (Part 1's run). A size the model's
// patch does not divide (14 px at patch 4) is reported as n/a.
// Written to OUT/vmamba.csv, OUT/vmamba-sizes.csv and OUT/vmamba.png (top-1 against throughput).
//
// What it is not: the models (models/vmamba.h, models/vim.h). Extend: a row is an entry in kRows.
#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/image_folder.h"
#include "models/registry.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/profile.h"
#include "ops/shape.h"
#include "tools/cli/commands.h"
#include "tools/experiments/common.h"
#include "tools/train/metrics.h"

namespace sieve::tools {

namespace {

struct VMambaStudyFlags {
  std::string data_dir = "data", out;
  int64_t epochs = 0, finetune_epochs = 0, seeds = 0, test_images = 0;  // 0: the defaults below
  int64_t max_steps = -1;  // −1: 300 with --quick, else none
  bool quick = false, retrain = false, quiet = false;
};

struct ModelRow {
  const char* name;   // the row and its run folder
  const char* model;  // registry name
  nlohmann::json config;
};

const std::vector<ModelRow>& rows_of_the_study() {
  static const std::vector<ModelRow> rows = {
      {"vit", "vit", nlohmann::json::object()},     {"vmamba-k4", "vmamba", {{"routes", 4}}},
      {"vmamba-k2", "vmamba", {{"routes", 2}}},    {"vmamba-k1", "vmamba", {{"routes", 1}}},
      {"vim", "vim", nlohmann::json::object()},
  };
  return rows;
}

const std::vector<std::string> kDatasets = {"mnist", "fashion-mnist"};
const std::vector<int64_t> kSizes = {28, 56, 14};

RunOptions study_run(const VMambaStudyFlags& f, const std::string& dataset, uint64_t seed, int64_t epochs) {
  RunOptions o;
  o.dataset = dataset;
  o.data_dir = f.data_dir;
  o.epochs = epochs;
  o.batch_size = 128;
  o.lr = 1e-3;
  o.weight_decay = 0.05;
  o.warmup_steps = f.quick ? 30 : 200;
  o.seed = seed;
  o.max_steps = f.max_steps >= 0 ? f.max_steps : (f.quick ? 300 : 0);
  return o;
}

// One route's selective_scan FLOPs per image, from a checkpoint's config: what K = 1 executes.
// VMamba: Σ over stages of blocks · L · Ci · (6N + 8); Vim (one direction): depth · (N + 1) · C · (6N + 8).
double one_route_scan_flops(const std::string& model, const models::ModelConfig& c) {
  if (model == "vmamba") {
    const int64_t n = c.get_int("d_state");
    int64_t side = c.get_int("image_size") / c.get_int("patch"), inner = c.get_int("ssm_ratio") * c.get_int("dim");
    double flops = 0;
    for (const int64_t blocks : c.get_ints("depths")) {
      flops += static_cast<double>(blocks * side * side * inner * (6 * n + 8));
      side = (side + 1) / 2, inner *= 2;
    }
    return flops;
  }
  if (model == "vim") {
    const int64_t side = c.get_int("image_size") / c.get_int("patch"), n = c.get_int("d_state");
    return static_cast<double>(c.get_int("depth") * (side * side + 1) * c.get_int("expand") * c.get_int("dim") *
                               (6 * n + 8));
  }
  return 0;
}

// The study's figures for one row: measure_classifier's, the parameters and the training step.
struct Figures {
  Measured m;
  int64_t params = 0;
  double step_ms = 0;
};

// Top-1 (and, when `timed`, throughput at batch 256) of `model` on `test`; top-5 and executed FLOPs alike.
Measured measure(nn::Module& model, const ImageSet& test, const DatasetInfo& data, bool timed) {
  return measure_classifier(model, test, data, {}, {.batch_size = 256, .latency_images = 0, .timed = timed});
}

// Median ms of forward + cross-entropy + backward at batch 128 (3 after 1 warm-up).
double training_step_ms(nn::Module& model, const ImageSet& train, const DatasetInfo& data) {
  model.train();
  const int64_t b = std::min<int64_t>(128, train.images.size(0));
  const Tensor x = normalised(train.images.narrow(0, 0, b), data), y = train.labels.narrow(0, 0, b);
  std::vector<double> ms;
  for (int i = 0; i < 4; ++i) {
    const auto start = profile::Clock::now();
    cross_entropy(model.forward(x), y).backward();
    model.zero_grad();
    if (i > 0) ms.push_back(profile::seconds_since(start) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  model.eval();
  return ms[ms.size() / 2];
}

// Test images resized to side × side (bilinear), as a model trained at 28 sees another size.
Tensor resized(const Tensor& images, int64_t side) {
  if (images.size(2) == side) return images;
  std::vector<Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) out.push_back(resize_image(images.select(0, i), side, side));
  return stack(out, 0);
}

std::string pct(double v) { return fmt::format("{:.2f}", 100 * v); }

std::string plot_script(const std::string& csv, const std::string& out) {
  // Columns of vmamba.csv: 1 dataset, 2 row, ..., 6 top1, 10 throughput.
  return fmt::format(R"(set terminal pngcairo size 800,520 font ",10"
set output '{1}'
set datafile separator ','
set title 'VMamba, Vim and ViT: test top-1 against throughput'
set grid
set key bottom left
set xlabel 'images/s at batch 256'
set ylabel 'top-1 (%)'
plot '{0}' using ($10):(stringcolumn(1) eq 'mnist' ? $6*100 : 1/0):2 with labels point pt 7 offset 1,0 title 'MNIST', \
     '' using ($10):(stringcolumn(1) eq 'fashion-mnist' ? $6*100 : 1/0):2 with labels point pt 5 offset 1,0 title 'Fashion-MNIST'
)",
                     csv, out);
}

int run_vmamba_study(VMambaStudyFlags f) {
  if (f.epochs == 0) f.epochs = f.quick ? 1 : 10;
  if (f.finetune_epochs == 0) f.finetune_epochs = f.quick ? 1 : 3;
  if (f.seeds == 0) f.seeds = f.quick ? 2 : 3;
  if (f.test_images == 0) f.test_images = f.quick ? 1000 : 10000;
  const std::string out = !f.out.empty() ? f.out : std::string("runs/experiment-vmamba") + (f.quick ? "-quick" : "");
  make_study_dir(out);
  std::printf("sieve experiment vmamba — %lld epochs a run, %lld seeds for the route ablation, results in %s\n",
              static_cast<long long>(f.epochs), static_cast<long long>(f.seeds), out.c_str());

  struct Result {
    std::string dataset, row;
    int64_t routes_config = 0;
    double routes_ran = 0;
    Figures fig;
    std::vector<double> seed_top1;  // the ablation's seeds (seed 0 first)
  };
  std::vector<Result> results;
  std::map<std::string, nn::Checkpoint> mnist_runs, fashion_runs;
  for (const std::string& dataset : kDatasets) {
    const LoadedData data = load_dataset(dataset, f.data_dir, 28, 1);
    const int64_t n = std::min<int64_t>(f.test_images, data.test.images.size(0));
    const ImageSet test{data.test.images.narrow(0, 0, n), data.test.labels.narrow(0, 0, n)};
    for (const ModelRow& row : rows_of_the_study()) {
      const models::ModelSpec& spec = models::find_model(row.model);
      const std::string dir = out + "/" + dataset + "/" + row.name;
      const nn::Checkpoint ck =
          train_or_reuse(spec, row.config, study_run(f, dataset, 0, f.epochs), dir, f.retrain, f.quiet);
      (dataset == "mnist" ? mnist_runs : fashion_runs)[row.name] = ck;
      models::ModelPtr model = model_from_checkpoint(ck, dir + "/checkpoint.safetensors");
      if (!f.quiet) std::fprintf(stderr, "measuring %s on %s\n", row.name, dataset.c_str());
      Result r{dataset, row.name, row.config.value("routes", 0), 0, {}, {}};
      r.fig.m = measure(*model, test, data.info, true);
      r.fig.params = model->num_parameters();
      r.fig.step_ms = training_step_ms(*model, data.train, data.info);
      const double one_route = one_route_scan_flops(row.model, models::complete_config(spec, ck.config));
      r.routes_ran = one_route > 0 ? r.fig.m.scan_gflops_per_image * 1e9 / one_route : 0;
      r.seed_top1.push_back(r.fig.m.accuracy);
      if (r.routes_config > 0)  // the ablation's other seeds
        for (int64_t seed = 1; seed < f.seeds; ++seed) {
          const std::string sdir = dir + "-seed" + std::to_string(seed);
          const nn::Checkpoint sck =
              train_or_reuse(spec, row.config, study_run(f, dataset, static_cast<uint64_t>(seed), f.epochs), sdir,
                             f.retrain, f.quiet);
          models::ModelPtr sm = model_from_checkpoint(sck, sdir + "/checkpoint.safetensors");
          r.seed_top1.push_back(measure(*sm, test, data.info, false).accuracy);
        }
      results.push_back(std::move(r));
    }
  }

  // Part 3: MNIST → head stripped → Fashion-MNIST, at three input sizes, against from scratch.
  const LoadedData fashion = load_dataset("fashion-mnist", f.data_dir, 28, 1);
  const int64_t n = std::min<int64_t>(f.test_images, fashion.test.images.size(0));
  const Tensor labels = fashion.test.labels.narrow(0, 0, n);  // the images are resized per size below
  std::vector<std::vector<std::string>> size_cells;
  std::printf("\n%-10s %5s %14s %14s\n", "model", "size", "fine-tuned", "from scratch");
  for (const ModelRow& row : rows_of_the_study()) {
    const models::ModelSpec& spec = models::find_model(row.model);
    nn::Checkpoint stripped = mnist_runs.at(row.name);
    std::erase_if(stripped.weights, [&](const auto& kv) { return kv.first.starts_with(spec.head_prefix); });
    stripped.optimizer.clear();
    const std::string dir = out + "/finetune/" + row.name;
    const nn::Checkpoint tuned = train_or_reuse(spec, row.config, study_run(f, "fashion-mnist", 0, f.finetune_epochs),
                                                dir, f.retrain, f.quiet, &stripped);
    models::ModelPtr tuned_model = model_from_checkpoint(tuned, dir + "/checkpoint.safetensors");
    models::ModelPtr scratch = model_from_checkpoint(fashion_runs.at(row.name),
                                                     out + "/fashion-mnist/" + row.name + "/checkpoint.safetensors");
    const int64_t patch = tuned.config.at("patch").get<int64_t>();
    for (const int64_t side : kSizes) {
      if (side % patch != 0) {  // e.g. 14 px for a patch-4 ViT: no whole number of patches
        size_cells.push_back({row.name, std::to_string(side), "", ""});
        std::printf("%-10s %5lld %14s %14s   (patch %lld does not divide %lld)\n", row.name,
                    static_cast<long long>(side), "n/a", "n/a", static_cast<long long>(patch),
                    static_cast<long long>(side));
        continue;
      }
      const ImageSet sized{resized(fashion.test.images.narrow(0, 0, n), side), labels};
      const double a = measure(*tuned_model, sized, fashion.info, false).accuracy;
      const double b = measure(*scratch, sized, fashion.info, false).accuracy;
      size_cells.push_back({row.name, std::to_string(side), fmt::format("{:.4f}", a), fmt::format("{:.4f}", b)});
      std::printf("%-10s %5lld %13s%% %13s%%\n", row.name, static_cast<long long>(side), pct(a).c_str(), pct(b).c_str());
    }
  }

  // The tables.
  std::vector<std::vector<std::string>> cells;
  std::printf("\n%-13s %-10s %6s %9s %8s %8s %15s %10s %9s %9s\n", "dataset", "row", "routes", "params", "top-1",
              "top-5", "top-1 (seeds)", "GFLOPs/img", "img/s", "step ms");
  for (const Result& r : results) {
    double mean = 0, var = 0;
    for (double a : r.seed_top1) mean += a / static_cast<double>(r.seed_top1.size());
    for (double a : r.seed_top1) var += (a - mean) * (a - mean) / std::max<double>(1, r.seed_top1.size() - 1.0);
    const std::string seeds = r.seed_top1.size() > 1 ? fmt::format("{} ± {:.2f}", pct(mean), 100 * std::sqrt(var)) : "-";
    const std::string routes = r.routes_ran > 0 ? fmt::format("{:.1f}", r.routes_ran) : "-";
    cells.push_back({r.dataset, r.row, r.routes_config > 0 ? std::to_string(r.routes_config) : "",
                     r.routes_ran > 0 ? fmt::format("{:.2f}", r.routes_ran) : "", std::to_string(r.fig.params),
                     fmt::format("{:.4f}", r.fig.m.accuracy), fmt::format("{:.4f}", r.fig.m.top5),
                     fmt::format("{:.4f}", mean), fmt::format("{:.4f}", std::sqrt(var)),
                     fmt::format("{:.0f}", r.fig.m.throughput), fmt::format("{:.6f}", r.fig.m.gflops_per_image),
                     fmt::format("{:.2f}", r.fig.step_ms), std::to_string(r.seed_top1.size())});
    std::printf("%-13s %-10s %6s %9lld %7s%% %7s%% %15s %10.4f %9.0f %9.1f\n", r.dataset.c_str(), r.row.c_str(),
                routes.c_str(), static_cast<long long>(r.fig.params), pct(r.fig.m.accuracy).c_str(), pct(r.fig.m.top5).c_str(),
                seeds.c_str(), r.fig.m.gflops_per_image, r.fig.m.throughput, r.fig.step_ms);
  }
  std::printf("(%lld test images per dataset; routes: the scan FLOPs executed ÷ one route's; step: forward + "
              "backward at batch 128)\n", static_cast<long long>(n));
  const std::string csv = out + "/vmamba.csv";
  write_csv(csv, {"dataset", "row", "routes", "routes_ran", "params", "top1", "top5", "top1_mean", "top1_std",
                  "throughput_b256", "gflops_per_image", "train_step_ms", "seeds"}, cells);
  write_csv(out + "/vmamba-sizes.csv", {"row", "size", "finetuned_top1", "scratch_top1"}, size_cells);
  const std::string png = out + "/vmamba.png";
  const std::string note = run_gnuplot([&](const std::string& tmp) { return plot_script(csv, tmp); }, png);
  std::printf("wrote %s, %s/vmamba-sizes.csv%s\n", csv.c_str(), out.c_str(),
              note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());
  return 0;
}

}  // namespace

void add_vmamba_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "vmamba", "ViT, VMamba (4, 2, 1 routes) and Vim on MNIST and Fashion-MNIST: top-1/5, routes that ran, GFLOPs, "
                "throughput, step time; the route ablation over seeds; the head-stripping fine-tune at 28/56/14 px");
  auto f = std::make_shared<VMambaStudyFlags>();
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--out", f->out, "results and the runs (default: runs/experiment-vmamba[-quick])");
  cmd->add_flag("--quick", f->quick, "300 steps a run, 1000 test images, 2 seeds: minutes on 2 cores");
  cmd->add_option("--epochs", f->epochs, "epochs a run (default 10; 1 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--finetune-epochs", f->finetune_epochs, "epochs of the Fashion-MNIST fine-tune (default 3; 1 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--seeds", f->seeds, "seeds per route count in the ablation (default 3; 2 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{20}));
  cmd->add_option("--test-images", f->test_images, "test images per dataset (default 10000; 1000 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--max-steps", f->max_steps, "stop every run after this many steps (default: 300 with --quick, else none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  cmd->callback([run, f] { *run = [f] { return run_vmamba_study(*f); }; });
}

}  // namespace sieve::tools
