// tools/experiments/ddvit.cpp — `sieve experiment ddvit`: does a dynamic-depth ViT buy its FLOPs back?
//
//   sieve experiment ddvit                    MNIST: trains ViT and DD-ViT (or reuses them), writes the table
//   sieve experiment ddvit --quick            2 epochs each: a few minutes on 2 cores (the README's job)
//   sieve experiment ddvit --dataset fashion-mnist
//
// Both models share the backbone (dim 64, depth 4, 4 heads, MLP 128, patch 4) and the run
// (AdamW with warmup + cosine). DD-ViT has a classifier after every block, trained with the sum
// of the exits' losses. On the test split, one row per setting:
//   vit      the baseline, every image through every block
//   full     DD-ViT with every block (its last exit)
//   exit τ   DD-ViT where an image leaves after the first block whose exit is ≥ τ sure
//   entropy  DD-ViT where the token-entropy rule picks each image's depth (calibrated on train images)
// with the figures of tools/experiments/common.h: accuracy, mean depth, measured GFLOPs per image, latency at
// batch 1 and throughput at batch 256. Written to OUT/ddvit.csv and OUT/ddvit.png (accuracy
// against GFLOPs over τ, the other rows as points); OUT/ddvit/calibrated.safetensors holds the
// weights with the entropy rule's calibrated range, so `sieve eval` reproduces the entropy row. The target (the ViT issue): DD-ViT ≥ 98.3%
// on MNIST at ≤ 0.6× the baseline's FLOPs — the last line says whether a τ meets it.
//
// What it is not: the models (models/vit.h, models/ddvit.h) or the training loop (trainer.h).
// Extend: a new policy adds rows in run_ddvit_study; a new figure goes in tools/experiments/common.h.
#include <filesystem>

#include "core/error.h"
#include "models/ddvit.h"
#include "tools/cli/commands.h"
#include "tools/train/metrics.h"
#include "tools/experiments/common.h"

namespace sieve::tools {

namespace {

struct DdvitStudyFlags {
  std::string dataset = "mnist", data_dir = "data", out;
  int64_t epochs = 0;  // 0: 20, or 2 with --quick
  std::vector<double> taus = {0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999};
  int64_t latency_images = 200;
  bool quick = false, retrain = false, quiet = false;
};

struct StudyRow {
  std::string model, policy;
  double tau = 0;  // exit rows only
  Measured m;
};

RunOptions study_run(const DdvitStudyFlags& f) {
  RunOptions o;
  o.dataset = f.dataset;
  o.data_dir = f.data_dir;
  o.epochs = f.epochs > 0 ? f.epochs : (f.quick ? 2 : 20);
  o.batch_size = 128;
  o.lr = 1e-3;
  o.weight_decay = 0.05;
  o.warmup_steps = 200;
  o.augment = !f.quick;  // random crops help a 20-epoch run and slow a 2-epoch one
  return o;
}

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

std::string plot_script(const std::string& csv, const std::string& out, const std::string& title) {
  // Columns of ddvit.csv: 1 model, 2 policy, 3 tau, 4 accuracy, 5 mean_depth, 6 gflops_per_image.
  return fmt::format(R"(set terminal pngcairo size 800,520 font ",10"
set output '{1}'
set datafile separator ','
set title '{2}'
set grid
set key bottom right
set xlabel 'GFLOPs per image (measured)'
set ylabel 'test accuracy (%)'
plot '{0}' using ($6):(stringcolumn(2) eq 'exit' ? $4*100 : 1/0) with linespoints lw 2 pt 7 title 'DD-ViT early exit (τ sweep)', \
     '' using ($6):(stringcolumn(2) eq 'exit' ? $4*100 : 1/0):(sprintf('%.3g', $3)) with labels offset 0,1 notitle, \
     '' using ($6):(stringcolumn(2) eq 'entropy' ? $4*100 : 1/0) with points pt 9 ps 2 title 'DD-ViT entropy rule', \
     '' using ($6):(stringcolumn(2) eq 'full' ? $4*100 : 1/0) with points pt 5 ps 1.5 title 'DD-ViT, all blocks', \
     '' using ($6):(stringcolumn(1) eq 'vit' ? $4*100 : 1/0) with points pt 13 ps 2 title 'ViT baseline'
)",
                     csv, out, title);
}

int run_ddvit_study(const DdvitStudyFlags& f) {
  const RunOptions run = study_run(f);
  const std::string out =
      !f.out.empty() ? f.out : "runs/experiment-ddvit-" + f.dataset + (f.quick ? "-quick" : "");
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  SIEVE_CHECK(!ec, "--out {}: cannot create the directory: {}", out, ec.message());
  for (double tau : f.taus) SIEVE_CHECK(tau > 0 && tau <= 1, "--taus: each τ must be in (0, 1], got {}", tau);
  std::printf("sieve experiment ddvit — %s, %lld epochs per model, results in %s\n", f.dataset.c_str(),
              static_cast<long long>(run.epochs), out.c_str());

  // 1. Train both (or reuse what an earlier run of this experiment left).
  const nn::Checkpoint vit_ck =
      train_or_reuse(models::find_model("vit"), nlohmann::json::object(), run, out + "/vit", f.retrain, f.quiet);
  const nn::Checkpoint dd_ck =
      train_or_reuse(models::find_model("ddvit"), nlohmann::json::object(), run, out + "/ddvit", f.retrain, f.quiet);

  // 2. Measure every setting on the test split.
  const LoadedData data = load_dataset(f.dataset, f.data_dir, run.image_size, run.channels);
  const MeasureOptions measure{.latency_images = f.latency_images};
  std::vector<StudyRow> rows;
  models::ModelPtr vit = model_from_checkpoint(vit_ck, out + "/vit/checkpoint.safetensors");
  const int64_t depth = vit_ck.config.at("depth").get<int64_t>();
  auto full_depth = [depth](nn::Module&, int64_t b) { return std::vector<int64_t>(static_cast<size_t>(b), depth); };
  auto row = [&](std::string model, std::string policy, double tau, nn::Module& m, const DepthsOf& depths) {
    if (!f.quiet) std::fprintf(stderr, "measuring %s %s%s\n", model.c_str(), policy.c_str(),
                               policy == "exit" ? (" τ=" + fmt::format("{}", tau)).c_str() : "");
    rows.push_back({std::move(model), std::move(policy), tau, measure_classifier(m, data.test, data.info, depths, measure)});
  };
  row("vit", "full", 0, *vit, full_depth);

  auto dd = std::dynamic_pointer_cast<models::DynamicDepthViT>(model_from_checkpoint(dd_ck, out + "/ddvit/checkpoint.safetensors"));
  SIEVE_CHECK(dd != nullptr, "{}/ddvit: the checkpoint is not a DD-ViT", out);
  auto dd_depths = [](nn::Module& m, int64_t) { return dynamic_cast<models::DynamicDepthViT&>(m).last_depths; };
  dd->policy = models::DepthPolicy::full;
  row("ddvit", "full", 0, *dd, dd_depths);
  dd->policy = models::DepthPolicy::exit;
  for (double tau : f.taus) {
    dd->threshold = tau;
    row("ddvit", "exit", tau, *dd, dd_depths);
  }
  {
    // The entropy rule's low/high entropies: percentiles over (up to) 10000 training images.
    const int64_t n = std::min<int64_t>(10000, data.train.images.size(0));
    dd->calibrate_entropy(normalised(data.train.images.narrow(0, 0, n), data.info));
    dd->policy = models::DepthPolicy::entropy;
    row("ddvit", "entropy", 0, *dd, dd_depths);
    // What the entropy row used, as a file: the weights with the calibrated range, policy entropy,
    // so `sieve eval` / `infer` reproduce the row.
    nn::Checkpoint calibrated = dd_ck;
    calibrated.weights = dd->state_dict();
    calibrated.optimizer.clear();
    calibrated.training = nlohmann::json();
    calibrated.config["policy"] = "entropy";
    nn::save_checkpoint(out + "/ddvit/calibrated.safetensors", calibrated);
  }

  // 3. The table: CSV, text, chart.
  const double base_flops = rows[0].m.gflops_per_image;
  std::vector<std::vector<std::string>> cells;
  for (const StudyRow& r : rows)
    cells.push_back({r.model, r.policy, r.policy == "exit" ? fmt::format("{}", r.tau) : "", fixed(r.m.accuracy, 4),
                     fixed(r.m.mean_depth, 3), fmt::format("{:.6f}", r.m.gflops_per_image),
                     fixed(r.m.gflops_per_image / base_flops, 3), fixed(r.m.latency_ms, 3), fixed(r.m.throughput, 0)});
  const std::string csv = out + "/ddvit.csv";
  write_csv(csv, {"model", "policy", "tau", "accuracy", "mean_depth", "gflops_per_image", "flops_vs_vit",
                  "latency_b1_ms", "throughput_b256"}, cells);

  std::printf("\n%-6s %-8s %6s %9s %6s %12s %7s %11s %11s\n", "model", "policy", "τ", "accuracy", "depth",
              "GFLOPs/img", "× ViT", "ms @ b1", "img/s @ 256");
  for (const StudyRow& r : rows)
    std::printf("%-6s %-8s %6s %8.2f%% %6.2f %12.5f %7.3f %11.3f %11.0f\n", r.model.c_str(), r.policy.c_str(),
                r.policy == "exit" ? fmt::format("{}", r.tau).c_str() : "", 100 * r.m.accuracy, r.m.mean_depth,
                r.m.gflops_per_image, r.m.gflops_per_image / base_flops, r.m.latency_ms, r.m.throughput);
  std::printf("(%lld test images; GFLOPs counted by the profiler as executed; latency: mean over %lld images one "
              "at a time)\n", static_cast<long long>(rows[0].m.images), static_cast<long long>(f.latency_images));

  const std::string png = out + "/ddvit.png";
  const std::string note = run_gnuplot(
      [&](const std::string& tmp) { return plot_script(csv, tmp, "DD-ViT on " + f.dataset + ": accuracy vs FLOPs"); },
      png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());

  // The ViT issue's target, answered from the table.
  const StudyRow* best = nullptr;
  for (const StudyRow& r : rows)
    if (r.policy == "exit" && r.m.gflops_per_image <= 0.6 * base_flops && (!best || r.m.accuracy > best->m.accuracy))
      best = &r;
  if (f.dataset != "mnist")
    std::printf("the issue's target (DD-ViT ≥ 98.3%% at ≤ 0.6× ViT FLOPs) is set for MNIST\n");
  else if (best == nullptr)
    std::printf("target (DD-ViT ≥ 98.3%% at ≤ 0.6× ViT FLOPs): no τ reaches 0.6× the FLOPs\n");
  else
    std::printf("target (DD-ViT ≥ 98.3%% at ≤ 0.6× ViT FLOPs): %s — best at ≤ 0.6×: τ = %g, %.2f%% at %.3f×; ViT %.2f%%\n",
                best->m.accuracy >= 0.983 ? "met" : "not met", best->tau, 100 * best->m.accuracy,
                best->m.gflops_per_image / base_flops, 100 * rows[0].m.accuracy);
  return 0;
}

}  // namespace

void add_ddvit_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "ddvit", "ViT vs dynamic-depth ViT: accuracy, mean depth, measured GFLOPs, latency, throughput over τ");
  auto f = std::make_shared<DdvitStudyFlags>();
  cmd->add_option("--dataset", f->dataset, "mnist or fashion-mnist")->capture_default_str()
      ->check(CLI::IsMember({"mnist", "fashion-mnist"}));
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--out", f->out, "results and the two runs (default: runs/experiment-ddvit-DATASET[-quick])");
  cmd->add_flag("--quick", f->quick, "2 epochs per model, no augmentation: a few minutes on 2 cores");
  cmd->add_option("--epochs", f->epochs, "epochs per model (default 20; 2 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--taus", f->taus, "the exit thresholds τ swept")->delimiter(',')->capture_default_str();
  cmd->add_option("--latency-images", f->latency_images, "images timed one at a time")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  cmd->callback([run, f] { *run = [f] { return run_ddvit_study(*f); }; });
}

}  // namespace sieve::tools
