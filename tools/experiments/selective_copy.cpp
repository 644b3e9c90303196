// tools/experiments/selective_copy.cpp — `sieve experiment selective-copy`: Mamba's learning curve on
// selective copying.
//
//   sieve experiment selective-copy           L = 256, 16 tokens to recall: minutes on 2 cores
//   sieve experiment selective-copy --full    the paper's setting, L = 4096 (hours on a CPU)
//   sieve experiment selective-copy --quick   L = 64, 8 tokens: a couple of minutes
//
// The task (datasets/synthetic.h): K data tokens at random places among L noise tokens, then K
// markers at which the model must output them in order. The Mamba paper (§4.1.1, table 1): 2 layers,
// D = 64, L = 4096, 16 tokens — 99.8%. The model here is that Mamba (--dim, --depth to change it),
// trained with AdamW (warmup 100 steps, cosine to 0 at --steps) at batch --batch-size.
// The curve: the test set (--test-size sequences from the run's test seed) is evaluated every
// --eval-every steps. That is the trainer's epoch: the run's training set is eval_every · batch
// sequences, reshuffled each epoch (a fresh draw per step would need a streaming loader; the
// table says how many distinct sequences the run saw). Accuracy is per recalled token.
// Written to OUT/selective_copy.csv (step,accuracy,loss,train_accuracy,train_loss,seconds) and
// OUT/selective_copy.png (test accuracy and loss against steps). The last line compares the
// final accuracy with the paper's.
//
// What it is not: the model (models/mamba.h) or the loop (trainer.h); MRSS against Mamba on this
// task is `sieve experiment mrss`.
// Extend: another model on the same curve is another train_or_reuse here and a column per model.
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tools/cli/commands.h"
#include "tools/train/metrics.h"
#include "tools/experiments/common.h"

namespace sieve::tools {

namespace {

struct SelectiveCopyFlags {
  std::string out;
  int64_t seq_len = 0, num_memorize = 0, steps = 0, eval_every = 0, batch_size = 0, test_size = 0;  // 0: the mode's
  int64_t dim = 64, depth = 2;
  double lr = 3e-3;
  bool quick = false, full = false, retrain = false, quiet = false;
};

struct Point {
  int64_t step = 0;
  double accuracy = 0, loss = 0, train_accuracy = 0, train_loss = 0, seconds = 0;
};

// The rows of a run's metrics.csv (tools/train/metrics.h's columns).
std::vector<Point> read_metrics(const std::string& path) {
  std::ifstream in(path);
  SIEVE_CHECK(in.good(), "{}: cannot read the run's metrics", path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<Point> points;
  double elapsed = 0;
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) v.push_back(std::stod(cell));
    SIEVE_CHECK(v.size() == kMetricsColumns.size(), "{}: a row has {} cells, not {}", path, v.size(),
                kMetricsColumns.size());
    elapsed += v[7];
    points.push_back({.step = static_cast<int64_t>(v[1]), .accuracy = v[6], .loss = v[5], .train_accuracy = v[4],
                      .train_loss = v[3], .seconds = elapsed});
  }
  return points;
}

std::string plot_script(const std::string& csv, const std::string& out, const std::string& title) {
  // Columns: 1 step, 2 accuracy, 3 loss.
  return fmt::format(R"(set terminal pngcairo size 800,520 font ",10"
set output '{1}'
set datafile separator ','
set title '{2}'
set grid
set key center right
set xlabel 'training step'
set ylabel 'test accuracy (%)'
set yrange [0:105]
set y2label 'test loss'
set y2tics
set logscale y2
plot '{0}' using 1:($2*100) every ::1 with linespoints lw 2 pt 7 title 'test accuracy', \
     '' using 1:3 every ::1 axes x1y2 with lines lw 1 dt 2 title 'test loss'
)",
                     csv, out, title);
}

int run_selective_copy_study(const SelectiveCopyFlags& f) {
  SIEVE_CHECK(!(f.quick && f.full), "--quick and --full: choose one");
  auto pick = [&](int64_t given, int64_t quick, int64_t scaled, int64_t full) {
    return given > 0 ? given : f.quick ? quick : f.full ? full : scaled;
  };
  const int64_t L = pick(f.seq_len, 64, 256, 4096), K = pick(f.num_memorize, 8, 16, 16);
  const int64_t steps = pick(f.steps, 1000, 4000, 20000), every = pick(f.eval_every, 100, 250, 1000);
  const int64_t batch = pick(f.batch_size, 64, 64, 32);
  SIEVE_CHECK(K <= L, "--num-memorize {} must be at most --seq-len {}", K, L);
  SIEVE_CHECK(every <= steps, "--eval-every {} must be at most --steps {}", every, steps);
  const std::string mode = f.quick ? "-quick" : f.full ? "-full" : "";
  const std::string out = !f.out.empty() ? f.out : "runs/experiment-selective-copy" + mode;
  make_study_dir(out);

  RunOptions run;
  run.task = "selective-copy";
  run.seq_len = L;
  run.num_memorize = K;
  run.vocab = 16;
  run.batch_size = batch;
  run.train_size = every * batch;
  run.epochs = (steps + every - 1) / every;
  run.test_size = pick(f.test_size, 256, 1024, 1024);
  run.lr = f.lr;
  run.warmup_steps = 100;
  run.eval_batch_size = 256;
  std::printf("sieve experiment selective-copy — Mamba (dim %lld, depth %lld), L = %lld with %lld tokens to recall; "
              "%lld steps at batch %lld, tested every %lld steps on %lld sequences; results in %s\n",
              static_cast<long long>(f.dim), static_cast<long long>(f.depth), static_cast<long long>(L),
              static_cast<long long>(K), static_cast<long long>(run.epochs * every), static_cast<long long>(batch),
              static_cast<long long>(every), static_cast<long long>(run.test_size), out.c_str());

  const nlohmann::json config = {{"dim", f.dim}, {"depth", f.depth}};
  train_or_reuse(models::find_model("mamba"), config, run, out + "/mamba", f.retrain, f.quiet);
  const std::vector<Point> points = read_metrics(out + "/mamba/metrics.csv");
  SIEVE_CHECK(!points.empty(), "{}/mamba/metrics.csv: no evaluations", out);

  std::vector<std::vector<std::string>> rows;
  for (const Point& p : points)
    rows.push_back({std::to_string(p.step), fmt::format("{:.4f}", p.accuracy), fmt::format("{:.4f}", p.loss),
                    fmt::format("{:.4f}", p.train_accuracy), fmt::format("{:.4f}", p.train_loss),
                    fmt::format("{:.1f}", p.seconds)});
  const std::string csv = out + "/selective_copy.csv";
  write_csv(csv, {"step", "accuracy", "loss", "train_accuracy", "train_loss", "seconds"}, rows);

  std::printf("\n%8s %9s %9s %10s %10s %9s\n", "step", "test acc", "test loss", "train acc", "train loss", "seconds");
  for (const Point& p : points)
    std::printf("%8lld %8.2f%% %9.4f %9.2f%% %10.4f %9.1f\n", static_cast<long long>(p.step), 100 * p.accuracy, p.loss,
                100 * p.train_accuracy, p.train_loss, p.seconds);
  std::printf("(accuracy per recalled token, %lld test sequences; the run saw %lld distinct training sequences, each "
              "once per %lld steps)\n", static_cast<long long>(run.test_size), static_cast<long long>(run.train_size),
              static_cast<long long>(every));

  const std::string png = out + "/selective_copy.png";
  const std::string note = run_gnuplot(
      [&](const std::string& tmp) {
        return plot_script(csv, tmp, fmt::format("Mamba (D = {}, {} layers) on selective copying, L = {}, {} tokens",
                                                 f.dim, f.depth, L, K));
      },
      png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());

  const Point& last = points.back();
  int64_t first_99 = -1;
  for (const Point& p : points)
    if (p.accuracy >= 0.99 && first_99 < 0) first_99 = p.step;
  std::printf("paper (2 layers, D = 64, L = 4096, 16 tokens): 99.8%% — here (%lld layers, D = %lld, L = %lld, %lld "
              "tokens): %.2f%% after %lld steps; %s\n", static_cast<long long>(f.depth), static_cast<long long>(f.dim),
              static_cast<long long>(L), static_cast<long long>(K), 100 * last.accuracy,
              static_cast<long long>(last.step),
              first_99 >= 0 ? fmt::format("≥ 99% first at step {}", first_99).c_str() : "never ≥ 99%");
  return 0;
}

}  // namespace

void add_selective_copy_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "selective-copy", "Mamba on selective copying: test accuracy and loss against training steps");
  auto f = std::make_shared<SelectiveCopyFlags>();
  cmd->add_option("--out", f->out, "results and the run (default: runs/experiment-selective-copy[-quick|-full])");
  cmd->add_flag("--quick", f->quick, "L = 64, 8 tokens, 1000 steps: a couple of minutes on 2 cores");
  cmd->add_flag("--full", f->full, "the paper's setting: L = 4096, 16 tokens, 20000 steps at batch 32");
  cmd->add_option("--seq-len", f->seq_len, "noise-and-data length L (default 256; 64 --quick; 4096 --full)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--num-memorize", f->num_memorize, "tokens to recall (default 16; 8 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--steps", f->steps, "training steps (default 4000; 1000 --quick; 20000 --full)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  cmd->add_option("--eval-every", f->eval_every, "steps between test evaluations (default 250; 100 --quick; 1000 --full)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  cmd->add_option("--batch-size", f->batch_size, "training batch (default 64; 32 with --full)")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  cmd->add_option("--test-size", f->test_size, "test sequences (default 1024; 256 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--dim", f->dim, "Mamba's width D")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--depth", f->depth, "Mamba blocks")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{256}));
  cmd->add_option("--lr", f->lr, "peak learning rate (AdamW, 100 warmup steps, cosine)")->capture_default_str()
      ->check(kPositive);
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds this experiment's run");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  cmd->callback([run, f] { *run = [f] { return run_selective_copy_study(*f); }; });
}

}  // namespace sieve::tools
