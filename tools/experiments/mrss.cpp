// tools/experiments/mrss.cpp — `sieve experiment mrss`: is the multi-resolution scan faster than Mamba,
// and what does it cost in accuracy?
//
//   sieve experiment mrss                 Mamba and 6 MRSS variants on sequential MNIST and selective copying
//   sieve experiment mrss --quick         tiny runs, 2 variants: a few minutes on 2 cores (timings are
//                                         real, accuracies are not: the models barely train)
//   sieve experiment mrss --strides 4,8 --fast-fractions 0.5 --tasks selective-copy
//   sieve experiment mrss --variants 4:0.5,8:0.25   just these two MRSS variants beside Mamba
//
// Every model has the same width and depth (--dim 64, --depth 2: the Mamba paper's size); MRSS
// variants are every stride r of --strides with every fast_fraction of --fast-fractions
// (models/mrss.h). Each model is trained on each task with the same run (AdamW, warmup + cosine,
// seed 0): smnist (L = 784, --data-dir/mnist, tools/fetch-data mnist) and selective copying at
// --copy-len (default 1024 + 16 tokens to recall), which is also tested at --gen-lens (length
// generalisation, default L/4, L/2, 2L, 4L). Selective copying at L = 1024 stays at chance when
// trained there from scratch on this budget (no model finds the recall mechanism in 2000 steps), so
// it is trained in two stages, as the induction study is: --warmup-epochs at --warmup-len (default
// 24 epochs at L = 128 + 16, where the mechanism is found in minutes; OUT/selective-copy/MODEL/stage1),
// then --epochs at --copy-len from those weights. At every length a row has:
//   accuracy      on the test split (selective copying: per recalled token)
//   step_ms       a training step (forward, loss, backward, clipping, AdamW) at batch --time-batch,
//                 the median of --time-steps (tools/experiments/common.h time_training_step)
//   scan_ms       the selective_scan op's kernel time in that step, forward + backward (the profiler)
//   state_updates per sequence, one forward (models' state_updates: depth·N·(L·C_f + ⌊L/r⌋·C_s))
// and each against Mamba's row at the same task and length. Written to OUT/mrss.csv; OUT/mrss.png
// plots step time against L on selective copying. The target (the MRSS issue): at least 30% less
// time per step than Mamba at every timed L ≥ 1024, with at most 1 point of accuracy lost on each
// task at its training length — the last lines say, per variant, whether it is met.
//
// What it is not: the models (models/mamba.h, models/mrss.h) or the loop (trainer.h).
// Extend: a new figure is a field of Row, measured in measure_variant, and a column in write_table
// and print_table.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "models/mamba.h"
#include "tools/cli/commands.h"
#include "tools/train/metrics.h"
#include "tools/experiments/common.h"

namespace sieve::tools {

namespace {

struct MrssFlags {
  std::string out, data_dir = "data";
  std::vector<std::string> tasks = {"smnist", "selective-copy"};
  std::vector<int64_t> strides, gen_lens;  // empty: the mode's default
  std::vector<double> fast_fractions;
  std::vector<std::string> pairs;  // --variants "r:q"; when given, instead of strides × fractions
  int64_t dim = 64, depth = 2;
  int64_t copy_len = 0, smnist_train_size = 0, copy_train_size = 0, test_size = 0, epochs = 0, batch_size = 0;
  int64_t time_batch = 0, time_steps = 0;
  int64_t warmup_len = -1, warmup_epochs = 24;  // -1: the mode's default (128; none with --quick)
  double lr = 0;  // 0: per task (smnist 2e-3, selective copying 3e-3)
  bool quick = false, retrain = false, quiet = false;
};

struct Variant {
  std::string label;  // "mamba", "mrss-r4-f0.5"
  int64_t stride = 0;  // 0: Mamba
  double fast_fraction = 1;
};

struct Row {
  const Variant* variant = nullptr;
  std::string task;
  int64_t length = 0;  // the model's input length
  bool trained_length = false;
  double accuracy = 0, loss = 0;
  StepTime time;
  int64_t state_updates = 0;
};

std::string plot_script(const std::vector<Row>& rows, const std::string& out, const std::vector<Variant>& variants) {
  // One inline data block per model: (L, step ms) on selective copying, sorted by L.
  std::string blocks, plots;
  for (size_t i = 0; i < variants.size(); ++i) {
    std::vector<std::pair<int64_t, double>> points;
    for (const Row& r : rows)
      if (r.variant == &variants[i] && r.task == "selective-copy") points.emplace_back(r.length, r.time.step_ms);
    std::sort(points.begin(), points.end());
    blocks += fmt::format("$m{} << EOD\n", i);
    for (const auto& [length, ms] : points) blocks += fmt::format("{} {}\n", length, ms);
    blocks += "EOD\n";
    plots += fmt::format("{}$m{} using 1:2 with linespoints lw 2 pt 7 title '{}'", i ? ", " : "", i, variants[i].label);
  }
  return fmt::format(R"(set terminal pngcairo size 800,520 font ",10"
{}set output '{}'
set title 'Training step time on selective copying: MRSS variants against Mamba'
set grid
set key top left
set logscale xy 2
set xlabel 'sequence length L'
set ylabel 'ms per training step'
plot {}
)",
                     blocks, out, plots);
}

// The defaults filled in and the flags checked: everything a run of the study needs to know.
struct Plan {
  int64_t copy_len = 0, warmup_len = 0, time_batch = 0, time_steps = 0;
  std::vector<int64_t> gen_lens;
  std::vector<Variant> variants;  // Mamba first
  std::string out;
};

int64_t pick(const MrssFlags& f, int64_t given, int64_t full, int64_t quick) {
  return given > 0 ? given : f.quick ? quick : full;
}

// Mamba, then every stride × fast fraction, or just the --variants pairs.
std::vector<Variant> study_variants(const MrssFlags& f) {
  const std::vector<int64_t> strides = !f.strides.empty() ? f.strides : f.quick ? std::vector<int64_t>{8}
                                                                                : std::vector<int64_t>{2, 4, 8};
  const std::vector<double> fractions = !f.fast_fractions.empty() ? f.fast_fractions : std::vector<double>{0.5, 0.25};
  for (int64_t r : strides) SIEVE_CHECK(r >= 2, "--strides: each stride must be ≥ 2, got {}", r);
  for (double q : fractions)
    SIEVE_CHECK(q > 0 && q < 1, "--fast-fractions: each must be in (0, 1) (both branches need channels), got {}", q);
  std::vector<Variant> variants = {{"mamba", 0, 1}};
  if (f.pairs.empty())
    for (int64_t r : strides)
      for (double q : fractions) variants.push_back({fmt::format("mrss-r{}-f{}", r, q), r, q});
  for (const std::string& pair : f.pairs) {
    int64_t r = 0;
    double q = 0;
    char tail = 0;
    SIEVE_CHECK(std::sscanf(pair.c_str(), "%" SCNd64 ":%lf%c", &r, &q, &tail) == 2,
                "--variants: '{}' is not stride:fast_fraction (e.g. 4:0.5)", printable(pair, 64));
    SIEVE_CHECK(r >= 2 && q > 0 && q < 1, "--variants: '{}' needs a stride ≥ 2 and a fraction in (0, 1)",
                printable(pair, 64));
    variants.push_back({fmt::format("mrss-r{}-f{}", r, q), r, q});
  }
  return variants;
}

Plan make_plan(const MrssFlags& f) {
  Plan p;
  p.variants = study_variants(f);
  for (const std::string& t : f.tasks)
    SIEVE_CHECK(t == "smnist" || t == "selective-copy", "--tasks: '{}' is not smnist or selective-copy",
                printable(t, 64));
  p.copy_len = pick(f, f.copy_len, 1024, 256);
  p.gen_lens = f.gen_lens;
  if (p.gen_lens.empty())
    p.gen_lens = f.quick ? std::vector<int64_t>{512, 1024}
                         : std::vector<int64_t>{p.copy_len / 4, p.copy_len / 2, 2 * p.copy_len, 4 * p.copy_len};
  for (int64_t l : p.gen_lens)
    SIEVE_CHECK(l >= 16, "--gen-lens: each length must be ≥ 16 (the tokens to recall), got {}", l);
  p.warmup_len = f.warmup_len >= 0 ? f.warmup_len : (f.quick ? 0 : 128);
  SIEVE_CHECK(p.warmup_len == 0 || p.warmup_len >= 16,
              "--warmup-len {}: selective copying needs L ≥ 16 (0: no short stage)", p.warmup_len);
  p.time_batch = pick(f, f.time_batch, 16, 8);
  p.time_steps = pick(f, f.time_steps, 5, 3);
  p.out = !f.out.empty() ? f.out : std::string("runs/experiment-mrss") + (f.quick ? "-quick" : "");
  return p;
}

// The training run of one task, the same for every model.
RunOptions task_run(const MrssFlags& f, const Plan& p, const std::string& task) {
  const bool smnist = task == "smnist";
  RunOptions run;
  run.task = task;
  run.data_dir = f.data_dir;
  run.seq_len = smnist ? 784 : p.copy_len;
  run.vocab = smnist ? 0 : 16;
  run.num_memorize = smnist ? 0 : 16;
  run.train_size = smnist ? pick(f, f.smnist_train_size, 60000, 512) : pick(f, f.copy_train_size, 16384, 2048);
  run.test_size = pick(f, f.test_size, smnist ? 10000 : 1024, 256);
  run.epochs = pick(f, f.epochs, smnist ? 3 : 4, 1);
  run.batch_size = pick(f, f.batch_size, 64, 32);
  run.lr = f.lr > 0 ? f.lr : smnist ? 2e-3 : 3e-3;
  run.warmup_steps = f.quick ? 10 : 100;
  run.eval_batch_size = 256;
  return run;
}

// Trains (or reuses) one model on one task, then measures it at every length: one Row each.
void measure_variant(const MrssFlags& f, const Plan& p, const Variant& v, const std::string& task,
                     const RunOptions& run, std::vector<Row>& rows) {
  const bool smnist = task == "smnist";
  std::vector<int64_t> lengths = {run.seq_len};
  if (!smnist)
    for (int64_t l : p.gen_lens)
      if (l != p.copy_len) lengths.push_back(l);
  nlohmann::json config = {{"dim", f.dim}, {"depth", f.depth}};
  if (v.stride > 0) {
    config["stride"] = v.stride;
    config["fast_fraction"] = v.fast_fraction;
  }
  const std::string dir = p.out + "/" + task + "/" + v.label;
  const models::ModelSpec& spec = models::find_model(v.stride > 0 ? "mrss" : "mamba");
  const nn::Checkpoint ck =
      train_or_reuse_staged(spec, config, run, smnist ? 0 : p.warmup_len, f.warmup_epochs, dir, f.retrain, f.quiet);
  const models::ModelPtr model = model_from_checkpoint(ck, dir + "/checkpoint.safetensors");
  const auto* mamba = dynamic_cast<const models::MambaModel*>(model.get());
  SIEVE_CHECK(mamba != nullptr, "{}: not a Mamba or MRSS checkpoint", dir);
  for (int64_t length : lengths) {
    // The test split at this length: accuracy; its first sequences: the timed steps.
    const SequenceTask at = smnist ? task_at_length(ck, 0, 0) : task_at_length(ck, length, 0);
    const SequenceSplit test = make_task_split(at, f.data_dir, false);
    if (!f.quiet) std::fprintf(stderr, "measuring %s on %s at L = %lld\n", v.label.c_str(), task.c_str(),
                               static_cast<long long>(at.input_length()));
    Row row;
    row.variant = &v;
    row.task = task;
    row.length = at.input_length();
    row.trained_length = length == run.seq_len;
    const EvalResult r = evaluate_sequences(*model, test, sequence_eval_batch(256, row.length), true);
    row.accuracy = r.accuracy;
    row.loss = r.loss;
    row.time = time_training_step(*model, test, p.time_batch, p.time_steps);
    row.state_updates = mamba->state_updates(1, row.length);
    rows.push_back(row);
  }
}

// Mamba's row at the same task and length: what every row is set against.
const Row& mamba_row(const std::vector<Row>& rows, const Row& r) {
  for (const Row& b : rows)
    if (b.variant->stride == 0 && b.task == r.task && b.length == r.length) return b;
  fail("no Mamba row for {} at L = {}", r.task, r.length);
}

void write_table(const std::vector<Row>& rows, const std::string& csv) {
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    const Row& b = mamba_row(rows, r);
    cells.push_back({r.variant->label, r.variant->stride > 0 ? std::to_string(r.variant->stride) : "",
                     r.variant->stride > 0 ? fmt::format("{}", r.variant->fast_fraction) : "", r.task,
                     std::to_string(r.length), r.trained_length ? "train" : "generalisation",
                     fmt::format("{:.4f}", r.accuracy), fmt::format("{:+.2f}", 100 * (r.accuracy - b.accuracy)),
                     fmt::format("{:.2f}", r.time.step_ms), fmt::format("{:.3f}", r.time.step_ms / b.time.step_ms),
                     fmt::format("{:.2f}", r.time.scan_ms), fmt::format("{:.3f}", r.time.scan_ms / r.time.step_ms),
                     std::to_string(r.state_updates),
                     fmt::format("{:.3f}", static_cast<double>(r.state_updates) / static_cast<double>(b.state_updates)),
                     std::to_string(r.time.batch)});
  }
  write_csv(csv, {"model", "stride", "fast_fraction", "task", "length", "role", "accuracy", "accuracy_vs_mamba_points",
                  "step_ms", "step_vs_mamba", "scan_ms", "scan_share", "state_updates", "updates_vs_mamba",
                  "time_batch"}, cells);
}

void print_table(const std::vector<Row>& rows, const Plan& p) {
  std::printf("\n%-14s %-14s %6s %-5s %9s %8s %9s %7s %9s %6s %11s %7s\n", "model", "task", "L", "", "accuracy",
              "Δ points", "step ms", "× Mamba", "scan ms", "scan%", "updates/seq", "× Mamba");
  for (const Row& r : rows) {
    const Row& b = mamba_row(rows, r);
    std::printf("%-14s %-14s %6lld %-5s %8.2f%% %+8.2f %9.2f %7.3f %9.2f %5.0f%% %10.2fM %7.3f\n",
                r.variant->label.c_str(), r.task.c_str(), static_cast<long long>(r.length),
                r.trained_length ? "train" : "gen", 100 * r.accuracy, 100 * (r.accuracy - b.accuracy), r.time.step_ms,
                r.time.step_ms / b.time.step_ms, r.time.scan_ms, 100 * r.time.scan_ms / r.time.step_ms,
                static_cast<double>(r.state_updates) * 1e-6, static_cast<double>(r.state_updates) /
                static_cast<double>(b.state_updates));
  }
  std::printf("(train: the training length, its test split; gen: selective copying redrawn at another length. Step: "
              "forward + backward + AdamW at batch %lld, median of %lld; scan: selective_scan kernels in it; updates: "
              "one forward of one sequence)\n", static_cast<long long>(p.time_batch), static_cast<long long>(p.time_steps));
}

// The MRSS issue's target, one line per variant.
void report_targets(const std::vector<Row>& rows, const std::vector<Variant>& variants, bool quick) {
  for (const Variant& v : variants) {
    if (v.stride == 0) continue;
    double worst_time = 0, worst_loss = -1e9;
    int64_t timed = 0;
    std::string accuracy_text;
    for (const Row& r : rows) {
      if (r.variant != &v) continue;
      const Row& b = mamba_row(rows, r);
      if (r.length >= 1024) {
        worst_time = std::max(worst_time, r.time.step_ms / b.time.step_ms);
        ++timed;
      }
      if (r.trained_length) {
        worst_loss = std::max(worst_loss, 100 * (b.accuracy - r.accuracy));
        accuracy_text += fmt::format("{}{} {:+.2f}", accuracy_text.empty() ? "" : ", ", r.task,
                                     100 * (r.accuracy - b.accuracy));
      }
    }
    const bool fast = timed > 0 && worst_time <= 0.70, accurate = worst_loss <= 1.0;
    if (quick)
      std::printf("target (≥ 30%% less time per step than Mamba at L ≥ 1024, ≤ 1 point lost): %s — not judged with "
                  "--quick (untrained models); slowest step %.2f× Mamba's at L ≥ 1024\n", v.label.c_str(), worst_time);
    else if (timed == 0)
      std::printf("target (≥ 30%% less time per step than Mamba at L ≥ 1024, ≤ 1 point lost): %s — not judged: no "
                  "length ≥ 1024 was timed\n", v.label.c_str());
    else
      std::printf("target (≥ 30%% less time per step than Mamba at L ≥ 1024, ≤ 1 point lost): %s %s — slowest step "
                  "%.2f× Mamba's at L ≥ 1024 (%s); accuracy vs Mamba: %s points (%s)\n",
                  v.label.c_str(), fast && accurate ? "met" : "not met", worst_time, fast ? "fast enough" : "too slow",
                  accuracy_text.c_str(), accurate ? "within 1" : "more than 1 lost");
  }
}

// The study: plan, train and measure every model on every task, then the table, chart and verdicts.
int run_mrss_study(const MrssFlags& f) {
  const Plan p = make_plan(f);
  make_study_dir(p.out);
  std::printf("sieve experiment mrss — Mamba and %zu MRSS variants (dim %lld, depth %lld) on %s; results in %s\n",
              p.variants.size() - 1, static_cast<long long>(f.dim), static_cast<long long>(f.depth),
              fmt::format("{}", fmt::join(f.tasks, ", ")).c_str(), p.out.c_str());

  std::vector<Row> rows;
  for (const std::string& task : f.tasks) {
    const RunOptions run = task_run(f, p, task);
    for (const Variant& v : p.variants) measure_variant(f, p, v, task, run, rows);
  }

  const std::string csv = p.out + "/mrss.csv";
  write_table(rows, csv);
  print_table(rows, p);
  const std::string png = p.out + "/mrss.png";
  const std::string note =
      run_gnuplot([&](const std::string& tmp) { return plot_script(rows, tmp, p.variants); }, png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());
  report_targets(rows, p.variants, f.quick);
  return 0;
}

}  // namespace

void add_mrss_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "mrss", "MRSS vs Mamba (same width, depth): accuracy, length generalisation, scan and step time, state updates");
  auto f = std::make_shared<MrssFlags>();
  cmd->add_option("--out", f->out, "results and the runs (default: runs/experiment-mrss[-quick])");
  cmd->add_option("--data-dir", f->data_dir, "where mnist lives (tools/fetch-data mnist)")->capture_default_str();
  cmd->add_flag("--quick", f->quick,
                "tiny runs (smnist 512 images, selective copying at L = 256, 1 epoch), strides 8 only: a few minutes");
  cmd->add_option("--tasks", f->tasks, "smnist, selective-copy")->delimiter(',')->capture_default_str();
  cmd->add_option("--strides", f->strides, "MRSS strides r (default 2,4,8; 8 with --quick)")->delimiter(',');
  cmd->add_option("--fast-fractions", f->fast_fractions, "MRSS shares of channels at full rate (default 0.5,0.25)")
      ->delimiter(',');
  cmd->add_option("--variants", f->pairs,
                  "only these MRSS variants, as stride:fast_fraction pairs (e.g. 4:0.5,8:0.25); replaces "
                  "--strides × --fast-fractions")
      ->delimiter(',');
  cmd->add_option("--dim", f->dim, "width D of every model")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--depth", f->depth, "blocks of every model")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  cmd->add_option("--copy-len", f->copy_len, "selective copying's training length (default 1024; 256 with --quick)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
  cmd->add_option("--warmup-len", f->warmup_len,
                  "selective copying: first train --warmup-epochs at this length, then at --copy-len from those "
                  "weights (default 128; 0 with --quick; 0: one stage)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--warmup-epochs", f->warmup_epochs, "epochs of selective copying's first stage")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--gen-lens", f->gen_lens,
                  "selective copying's other test lengths (default L/4,L/2,2L,4L; 512,1024 with --quick)")
      ->delimiter(',');
  cmd->add_option("--smnist-train-size", f->smnist_train_size, "smnist training images (default 60000; 512 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}));
  cmd->add_option("--copy-train-size", f->copy_train_size, "selective-copy training sequences (default 16384; 2048 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--test-size", f->test_size, "test samples (default smnist 10000, copy 1024; 256 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--epochs", f->epochs, "epochs per run (default smnist 3, copy 4 after its first stage; 1 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--batch-size", f->batch_size, "training batch (default 64; 32 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  cmd->add_option("--lr", f->lr, "peak learning rate of every run (AdamW, warmup, cosine; default smnist 2e-3, "
                  "selective copying 3e-3 as in `experiment selective-copy`)")->check(kPositive);
  cmd->add_option("--time-batch", f->time_batch, "batch of the timed steps (default 16; 8 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  cmd->add_option("--time-steps", f->time_steps, "timed steps per row, median (default 5; 3 --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  cmd->callback([run, f] { *run = [f] { return run_mrss_study(*f); }; });
}

}  // namespace sieve::tools
