// tools/experiments/induction.cpp — `sieve experiment induction`: do the sequence models generalise in length?
//
//   sieve experiment induction              Mamba, MRSS and the causal Transformer trained on induction
//                                           heads at L = 256, tested at L = 2^6 … 2^14
//   sieve experiment induction --quick      trained at L = 64 (1024 steps), tested at 2^5 … 2^12: minutes on 2 cores
//   sieve experiment induction --max-len 65536 --test-size 64
//
// The Mamba paper (§4.1.2): trained at 256, Mamba stays perfect out to 2^20 while attention with
// absolute (here sinusoidal) positions collapses past 2^9. Every model is 2 blocks of width 64
// (Mamba and MRSS as the paper's; MRSS with its defaults r = 4, fast_fraction 0.5; the
// Transformer with 4 heads) and trains with the same run: AdamW at the model's own peak lr (3e-3
// Mamba and MRSS; 1e-3 the Transformer, which stayed at chance at 3e-3), batch 64, 100 warmup
// steps then cosine, --train-size sequences for --epochs epochs, seed 0.
// Two stages. Trained at L = 256 from scratch, Mamba stayed at chance here (768 steps at batch 64,
// and 16384 steps at batch 8: the one answer per sequence is a weak signal until the model has
// found the copy mechanism, and the paper's runs are far longer than 2 cores allow). At L = 64 it
// finds it within ~500 steps (the Transformer within ~1000). So every model first trains
// --warmup-epochs at --warmup-len (default 4 epochs = 1024 steps at L = 64; OUT/MODEL/stage1), then the run above at --train-len starts from
// those weights (`sieve train --init`) for --epochs (default 2: 512 steps; Mamba is at 100% after
// the first). --warmup-len 0 trains at --train-len only.
// Then each model is evaluated on one test set per length (drawn from the runs' test seed, the
// same sequences for every model): accuracy of the one answer per sequence.
// Attention's time and memory grow as L²: the Transformer is run up to --attention-max-len only
// (longer rows are written with an empty accuracy and a note), and past L = 1024 on fewer
// sequences (test_size · (1024 / L)², at least 32) — the `sequences` column says how many.
// Written to OUT/induction.csv (model,length,accuracy,loss,sequences,seconds,note) and
// OUT/induction.png (accuracy against log2 L, one line per model). The last line compares the
// result with the paper's.
//
// What it is not: the models (models/), the task (datasets/synthetic.h) or the loop (trainer.h).
// Extend: a new model is one entry in kModels.
#include <cmath>

#include "core/error.h"
#include "tools/cli/commands.h"
#include "tools/train/metrics.h"
#include "tools/experiments/common.h"

namespace sieve::tools {

namespace {

struct InductionModel {
  const char* name;
  const char* config;  // JSON: the model's settings beside its defaults
  bool attention;
  double lr;  // peak learning rate (--lr overrides it for every model)
};
const InductionModel kModels[] = {
    {"mamba", R"({"dim": 64, "depth": 2})", false, 3e-3},
    {"mrss", R"({"dim": 64, "depth": 2})", false, 3e-3},
    {"transformer", R"({"dim": 64, "depth": 2, "heads": 4})", true, 1e-3},  // at 3e-3 it stayed at chance
};

struct InductionFlags {
  std::string out;
  std::vector<std::string> models = {"mamba", "mrss", "transformer"};
  int64_t train_len = 0, min_len = 0, max_len = 0, attention_max_len = 0;  // 0: the mode's default
  int64_t test_size = 0, train_size = 0, epochs = 0, batch_size = 64;
  int64_t warmup_len = -1, warmup_epochs = 4;  // -1: the mode's default (64; none with --quick)
  double lr = 0;  // 0: each model's own (kModels)
  bool quick = false, retrain = false, quiet = false;
};

struct Cell {
  std::string model;
  int64_t length = 0, sequences = 0;
  double accuracy = NAN, loss = NAN, seconds = 0;
  std::string note;
};

int64_t pick(int64_t given, int64_t full, int64_t quick, bool is_quick) { return given > 0 ? given : is_quick ? quick : full; }

std::string plot_script(const std::vector<Cell>& cells, const std::string& out, const std::vector<std::string>& models,
                        int64_t train_len) {
  // One inline data block per model (log2 L, accuracy %), so each line is drawn unbroken.
  std::string blocks, plots;
  for (size_t i = 0; i < models.size(); ++i) {
    blocks += fmt::format("$m{} << EOD\n", i);
    for (const Cell& c : cells)
      if (c.model == models[i] && !std::isnan(c.accuracy))
        blocks += fmt::format("{} {}\n", std::log2(static_cast<double>(c.length)), 100 * c.accuracy);
    blocks += "EOD\n";
    plots += fmt::format("{}$m{} using 1:2 with linespoints lw 2 pt 7 title '{}'", i ? ", " : "", i, models[i]);
  }
  return fmt::format(R"(set terminal pngcairo size 800,520 font ",10"
{}set output '{}'
set title 'Induction heads: trained at L = {}, tested at other lengths'
set grid
set key bottom left
set xlabel 'log2 of the test length L'
set ylabel 'test accuracy (%)'
set yrange [0:105]
set arrow from {}, graph 0 to {}, graph 1 nohead dt 2
plot {}
)",
                     blocks, out, train_len, std::log2(static_cast<double>(train_len)),
                     std::log2(static_cast<double>(train_len)), plots);
}

// The longest length from which on (up to the last one run) `model` stays ≥ 99%, as a sentence.
std::string reach(const std::vector<Cell>& cells, const std::string& model, int64_t train_len) {
  int64_t perfect_to = 0, first_collapse = 0, last_run = 0;
  bool broken = false;
  for (const Cell& c : cells) {
    if (c.model != model || std::isnan(c.accuracy)) continue;
    last_run = c.length;
    broken = broken || c.accuracy < 0.99;
    if (!broken) perfect_to = c.length;
    if (c.length > train_len && c.accuracy < 0.5 && first_collapse == 0) first_collapse = c.length;
  }
  for (const Cell& c : cells)
    if (c.model == model && c.length == train_len && !std::isnan(c.accuracy) && c.accuracy < 0.5)
      return fmt::format("did not learn the task ({:.1f}% at its training length)", 100 * c.accuracy);
  std::string s = perfect_to >= train_len ? fmt::format("≥ 99% up to L = {}{}", perfect_to,
                                                        perfect_to == last_run ? " (the longest tested)" : "")
                                          : std::string("below 99% at or before its training length");
  if (first_collapse > 0) s += fmt::format(", below 50% from L = {}", first_collapse);
  return s;
}

// The defaults filled in and the flags checked.
struct Plan {
  int64_t train_len = 0, min_len = 0, max_len = 0, attention_max = 0, test_size = 0, warmup_len = 0;
  std::vector<const InductionModel*> models;
  std::string out;
  RunOptions run;  // the training run every model shares (lr: each model's own, set per model)
};

Plan make_plan(const InductionFlags& f) {
  Plan p;
  p.train_len = pick(f.train_len, 256, 64, f.quick);
  p.min_len = pick(f.min_len, 64, 32, f.quick);
  p.max_len = pick(f.max_len, int64_t{1} << 14, int64_t{1} << 12, f.quick);
  p.attention_max = pick(f.attention_max_len, 4096, 1024, f.quick);
  p.test_size = pick(f.test_size, 256, 128, f.quick);
  p.warmup_len = f.warmup_len >= 0 ? f.warmup_len : (f.quick ? 0 : 64);
  SIEVE_CHECK(p.warmup_len == 0 || p.warmup_len >= 3, "--warmup-len {}: induction needs L ≥ 3 (0: no short stage)",
              p.warmup_len);
  SIEVE_CHECK(p.min_len >= 3 && p.min_len <= p.max_len, "--min-len {} and --max-len {}: need 3 ≤ min ≤ max",
              p.min_len, p.max_len);
  SIEVE_CHECK(p.train_len >= 3, "--train-len {}: induction needs L ≥ 3", p.train_len);
  for (const std::string& name : f.models) {
    const InductionModel* found = nullptr;
    for (const InductionModel& m : kModels)
      if (name == m.name) found = &m;
    SIEVE_CHECK(found != nullptr, "--models: unknown model '{}' (known: mamba, mrss, transformer)", printable(name, 64));
    p.models.push_back(found);
  }
  p.out = !f.out.empty() ? f.out : std::string("runs/experiment-induction") + (f.quick ? "-quick" : "");

  p.run.task = "induction";
  p.run.seq_len = p.train_len;
  p.run.vocab = 16;
  p.run.num_memorize = 0;
  p.run.train_size = pick(f.train_size, 16384, 16384, f.quick);
  p.run.test_size = p.test_size;
  p.run.epochs = pick(f.epochs, 2, 4, f.quick);
  p.run.batch_size = f.batch_size;
  p.run.warmup_steps = 100;
  p.run.eval_batch_size = 256;
  return p;
}

// Trains every model (or reuses what an earlier run of this study left): the short stage first
// where there is one, then the run at train_len from its weights.
std::vector<nn::Checkpoint> train_models(const InductionFlags& f, const Plan& p) {
  std::vector<nn::Checkpoint> checkpoints;
  RunOptions run = p.run;
  for (const InductionModel* m : p.models) {
    const models::ModelSpec& spec = models::find_model(m->name);
    const nlohmann::json config = nlohmann::json::parse(m->config);
    run.lr = f.lr > 0 ? f.lr : m->lr;
    checkpoints.push_back(train_or_reuse_staged(spec, config, run, p.warmup_len, f.warmup_epochs,
                                                p.out + "/" + m->name, f.retrain, f.quiet));
  }
  return checkpoints;
}

// One model at one length, on the first sequences of that length's test set. Attention is O(L²):
// past --attention-max-len it is not run, past 1024 on fewer sequences in smaller batches.
Cell evaluate_cell(const Plan& p, const InductionModel& m, nn::Module& model, const SequenceSplit& set, int64_t length,
                   bool quiet) {
  Cell c;
  c.model = m.name;
  c.length = length;
  int64_t n = p.test_size, batch = sequence_eval_batch(256, length);
  if (m.attention) {
    if (length > p.attention_max) {
      c.note = fmt::format("not run: attention is O(L²) (--attention-max-len {})", p.attention_max);
      return c;
    }
    if (length > 1024) {
      const double scale = 1024.0 / static_cast<double>(length);
      n = std::min(p.test_size,
                   std::max<int64_t>(32, static_cast<int64_t>(static_cast<double>(p.test_size) * scale * scale)));
      c.note = "fewer sequences: attention is O(L²)";
    }
    batch = std::max<int64_t>(1, std::min<int64_t>(batch, (int64_t{1} << 25) / (length * length)));  // scores ≤ 512 MB
  }
  if (length == p.train_len) c.note = c.note.empty() ? "training length" : c.note + "; training length";
  if (!quiet) std::fprintf(stderr, "evaluating %s at L = %lld (%lld sequences)\n", c.model.c_str(),
                           static_cast<long long>(length), static_cast<long long>(n));
  const SequenceSplit part{set.inputs.narrow(0, 0, n), set.targets.narrow(0, 0, n)};
  const EvalResult r = evaluate_sequences(model, part, batch, true);
  c.accuracy = r.accuracy;
  c.loss = r.loss;
  c.sequences = n;
  c.seconds = r.seconds;
  return c;
}

// Every model at every length, on one test set per length (the same sequences for every model).
std::vector<Cell> evaluate_lengths(const InductionFlags& f, const Plan& p, const std::vector<nn::Checkpoint>& checkpoints) {
  std::vector<models::ModelPtr> built;
  for (size_t i = 0; i < p.models.size(); ++i)
    built.push_back(model_from_checkpoint(checkpoints[i], p.out + "/" + p.models[i]->name + "/checkpoint.safetensors"));
  std::vector<Cell> cells;
  for (int64_t length = p.min_len; length <= p.max_len; length *= 2) {
    const SequenceSplit set = make_task_split(task_at_length(checkpoints[0], length, p.test_size), "", false);
    for (size_t i = 0; i < p.models.size(); ++i)
      cells.push_back(evaluate_cell(p, *p.models[i], *built[i], set, length, f.quiet));
  }
  return cells;
}

// The table as text, one column per model.
void print_table(const std::vector<Cell>& cells, const Plan& p) {
  std::printf("\ntest accuracy (%%) at each length; trained at L = %lld\n%8s", static_cast<long long>(p.train_len), "L");
  for (const InductionModel* m : p.models) std::printf(" %12s", m->name);
  std::printf("\n");
  for (int64_t length = p.min_len; length <= p.max_len; length *= 2) {
    std::printf("%8lld", static_cast<long long>(length));
    for (const Cell& c : cells)
      if (c.length == length)
        std::printf(" %11s%s", std::isnan(c.accuracy) ? "—" : fmt::format("{:.2f}", 100 * c.accuracy).c_str(),
                    c.sequences > 0 && c.sequences < p.test_size ? "*" : " ");
    std::printf("%s\n", length == p.train_len ? "  ← training length" : "");
  }
  bool any_attention = false;
  for (const InductionModel* m : p.models) any_attention = any_attention || m->attention;
  if (any_attention)
    std::printf("(%lld sequences per length; attention is O(L²): * = fewer sequences past L = 1024, — = not run past "
                "L = %lld)\n", static_cast<long long>(p.test_size), static_cast<long long>(p.attention_max));
}

// The study: plan, train, evaluate at every length, then the CSV, table, chart and the paper's line.
int run_induction_study(const InductionFlags& f) {
  const Plan p = make_plan(f);
  make_study_dir(p.out);
  if (p.warmup_len > 0)
    std::printf("sieve experiment induction — first stage at L = %lld (%lld epochs), then:\n",
                static_cast<long long>(p.warmup_len), static_cast<long long>(f.warmup_epochs));
  std::printf("sieve experiment induction — trained at L = %lld (%lld sequences × %lld epochs, batch %lld), tested at "
              "L = %lld … %lld on %lld sequences each; results in %s\n",
              static_cast<long long>(p.train_len), static_cast<long long>(p.run.train_size),
              static_cast<long long>(p.run.epochs), static_cast<long long>(p.run.batch_size),
              static_cast<long long>(p.min_len), static_cast<long long>(p.max_len),
              static_cast<long long>(p.test_size), p.out.c_str());

  const std::vector<nn::Checkpoint> checkpoints = train_models(f, p);
  const std::vector<Cell> cells = evaluate_lengths(f, p, checkpoints);

  std::vector<std::vector<std::string>> rows;
  for (const Cell& c : cells)
    rows.push_back({c.model, std::to_string(c.length), std::isnan(c.accuracy) ? "" : fmt::format("{:.4f}", c.accuracy),
                    std::isnan(c.loss) ? "" : fmt::format("{:.4f}", c.loss), std::to_string(c.sequences),
                    fmt::format("{:.2f}", c.seconds), c.note});
  const std::string csv = p.out + "/induction.csv";
  write_csv(csv, {"model", "length", "accuracy", "loss", "sequences", "seconds", "note"}, rows);
  print_table(cells, p);

  const std::string png = p.out + "/induction.png";
  std::vector<std::string> names;
  for (const InductionModel* m : p.models) names.push_back(m->name);
  const std::string note =
      run_gnuplot([&](const std::string& tmp) { return plot_script(cells, tmp, names, p.train_len); }, png);
  std::printf("wrote %s%s\n", csv.c_str(), note.empty() ? (" and " + png).c_str() : ("; no chart: " + note).c_str());

  // The paper's result, against this table.
  std::string summary;
  for (const InductionModel* m : p.models)
    summary += fmt::format("{}{} {}", summary.empty() ? "" : "; ", m->name, reach(cells, m->name, p.train_len));
  std::printf("paper (trained at 256: Mamba perfect to 2^20, attention collapses past 2^9) — here, trained at %lld: %s\n",
              static_cast<long long>(p.train_len), summary.c_str());
  return 0;
}

}  // namespace

void add_induction_study(CLI::App* experiment, Runner* run) {
  CLI::App* cmd = experiment->add_subcommand(
      "induction", "Mamba, MRSS, Transformer: trained on induction heads at one length, tested at 2^6 … 2^14");
  auto f = std::make_shared<InductionFlags>();
  cmd->add_option("--out", f->out, "results and the runs (default: runs/experiment-induction[-quick])");
  cmd->add_flag("--quick", f->quick,
                "train at L = 64 (16384 sequences × 4 epochs), test at 2^5 … 2^12: a few minutes on 2 cores");
  cmd->add_option("--models", f->models, "models compared")->delimiter(',')->capture_default_str();
  cmd->add_option("--train-len", f->train_len, "training length L (default 256; 64 with --quick)")
      ->check(CLI::Range(int64_t{3}, int64_t{1} << 20));
  cmd->add_option("--min-len", f->min_len, "shortest test length (default 64; 32 with --quick); then doubling")
      ->check(CLI::Range(int64_t{3}, int64_t{1} << 24));
  cmd->add_option("--max-len", f->max_len, "longest test length (default 16384; 4096 with --quick)")
      ->check(CLI::Range(int64_t{3}, int64_t{1} << 24));
  cmd->add_option("--attention-max-len", f->attention_max_len,
                  "the Transformer is tested up to this length only (default 4096; 1024 with --quick)")
      ->check(CLI::Range(int64_t{3}, int64_t{1} << 24));
  cmd->add_option("--test-size", f->test_size, "test sequences per length (default 256; 128 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--train-size", f->train_size, "training sequences (default 16384)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--epochs", f->epochs, "epochs per model at --train-len (default 2 after the first stage; 4 with --quick)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--warmup-len", f->warmup_len,
                  "first train --warmup-epochs at this length, then at --train-len from those weights "
                  "(default 64; 0, and the default with --quick: one stage)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--warmup-epochs", f->warmup_epochs, "epochs of the first stage")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--batch-size", f->batch_size, "training batch")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  cmd->add_option("--lr", f->lr, "peak learning rate of every model (AdamW, 100 warmup steps, cosine; default: "
                                  "3e-3 Mamba and MRSS, 1e-3 the Transformer)")
      ->check(kPositive);
  cmd->add_flag("--retrain", f->retrain, "train again even where --out holds runs of this experiment");
  cmd->add_flag("--quiet", f->quiet, "no progress bars");
  cmd->callback([run, f] { *run = [f] { return run_induction_study(*f); }; });
}

}  // namespace sieve::tools
