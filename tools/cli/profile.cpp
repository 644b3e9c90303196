// tools/cli/profile.cpp — `sieve profile MODEL`: where a model's time and FLOPs go, per op and per
// module, forward, backward and optimizer update — the bottleneck analysis each study starts from.
//
//   sieve profile vit                             a training step at batch 128 (AdamW), random images
//   sieve profile vit --dim 128 --mode infer      inference only, eval mode, no gradients
//   sieve profile --checkpoint runs/ddvit-mnist/checkpoint.safetensors --mode infer --dataset mnist
//   sieve profile transformer --task induction --seq-len 256     random tokens of the task's shape
//
// The model runs --warmup steps, then --steps more under ops/profile.h's Profiler; every figure is
// per step. "kernels" is the time inside op kernels; the rest of the wall time ("outside kernels")
// is the framework's own overhead — allocation, autograd bookkeeping, checks — which is where a
// small model loses to a fused one. Module rows are inclusive (a block includes its attention);
// ops outside every module (the loss) and the optimizer have their own rows. FLOPs are those
// executed, so a dynamic model (DD-ViT exiting early) is charged for what it really ran.
//
// What it is not: a timeline tracer, or a benchmark against a reference (`sieve bench`).
// Image models get random N(0, 1) images (or --dataset's first test images); sequence models get
// random inputs of their task's shape (--task, default the model's own; --seq-len, --vocab,
// --num-memorize as `sieve train`): uniform tokens (B, L) or N(0, 1) floats (B, L, C), and random
// targets (B, L) or (B,).
// Extend: a new table is one more aggregation of Profiler::entries(); a model with another kind
// of input needs a case in make_inputs.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "ops/profile.h"
#include "tools/cli/commands.h"
#include "tools/cli/model_flags.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

using profile::Phase;

struct ProfileFlags {
  std::string checkpoint, mode = "train", csv, dataset, data_dir = "data", task;
  int64_t batch_size = 128, steps = 5, warmup = 2, depth = 0, top = 20;
  int64_t seq_len = 0, vocab = 0, num_memorize = 0;
  uint64_t seed = 0;
};

struct Inputs {
  Tensor images;  // (B, C, H, W); sequence models: (B, L) int64 tokens or (B, L, C) floats
  Tensor labels;  // (B) int64; per-token sequence tasks: (B, L)
};

// Random inputs and targets of a sequence task's shape.
Inputs make_sequence_inputs(const SequenceTask& task, const ProfileFlags& f) {
  Generator gen(f.seed + 1);
  const int64_t B = f.batch_size, L = task.input_length();
  Tensor inputs = task.vocab > 0 ? randint(0, task.vocab, {B, L}, {.dtype = DType::i64}, &gen)
                                 : randn({B, L, task.in_channels}, {}, &gen);
  const Shape target_shape = task.per_token ? Shape{B, L} : Shape{B};
  return {inputs, randint(0, task.classes, target_shape, {.dtype = DType::i64}, &gen)};
}

// Random N(0, 1) images and labels of the model's data shape, or the first test images of --dataset.
Inputs make_inputs(const models::ModelConfig& config, const ProfileFlags& f) {
  const int64_t C = config.get_int("in_channels"), S = config.get_int("image_size");
  const int64_t classes = config.get_int("num_classes");
  if (!f.dataset.empty()) {
    const DatasetInfo data = find_dataset(f.dataset);
    SIEVE_CHECK(data.channels == C && data.image_size == S && data.classes == classes,
                "--dataset {}: images {}×{}×{} with {} classes do not fit the model ({}×{}×{}, {} classes)", data.name,
                data.channels, data.image_size, data.image_size, data.classes, C, S, S, classes);
    const ImageSet set = load_split(data, f.data_dir, /*train=*/false);
    SIEVE_CHECK(set.images.size(0) >= f.batch_size, "--batch-size {}: {} has only {} test images", f.batch_size,
                data.name, set.images.size(0));
    return {normalised(set.images.narrow(0, 0, f.batch_size), data), set.labels.narrow(0, 0, f.batch_size).contiguous()};
  }
  Generator gen(f.seed + 1);
  return {randn({f.batch_size, C, S, S}, {}, &gen), randint(0, classes, {f.batch_size}, {.dtype = DType::i64}, &gen)};
}

// One unit of profiled work: a training step (forward, loss, backward, clip, AdamW) or a forward.
std::function<void()> make_step(nn::Module& model, const Inputs& in, bool train, nn::AdamW* optimizer) {
  if (!train)
    return [&model, in] {
      NoGradGuard no_grad;
      model.forward(in.images);
    };
  return [&model, in, optimizer] {
    training_loss(model, in.images, in.labels).loss.backward();
    nn::clip_grad_norm(model.parameters(), 1.0);
    optimizer->step();
    optimizer->zero_grad();
  };
}

// ---- aggregation ----

struct Row {
  std::string name;
  double seconds[3] = {0, 0, 0};  // by phase
  int64_t flops[3] = {0, 0, 0};
  int64_t bytes = 0, calls = 0;
  double total_seconds() const { return seconds[0] + seconds[1] + seconds[2]; }
  int64_t total_flops() const { return flops[0] + flops[1] + flops[2]; }
};

void add_entry(Row& row, const profile::Entry& e) {
  const auto p = static_cast<size_t>(e.phase);
  row.seconds[p] += e.seconds;
  row.flops[p] += e.flops;
  row.bytes += e.bytes;
  row.calls += e.calls;
}

// Per (op, phase), sorted by time.
std::vector<Row> op_rows(const std::vector<profile::Entry>& entries) {
  std::map<std::string, Row> by_name;
  for (const profile::Entry& e : entries) {
    const std::string name = std::string(op_name(e.op)) + " " + profile::phase_name(e.phase);
    Row& row = by_name[name];
    row.name = name;
    add_entry(row, e);
  }
  std::vector<Row> rows;
  for (auto& [name, row] : by_name) rows.push_back(row);
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.total_seconds() > b.total_seconds(); });
  return rows;
}

// Module paths depth-first in registration order (the order of the state dict), the model first.
void tree_order(const nn::Module& module, const std::string& path, std::vector<std::string>& out) {
  out.push_back(path);
  for (const auto& [name, child] : module.children()) tree_order(*child, path.empty() ? name : path + "." + name, out);
}

// Per module path, inclusive of descendants, in tree order; then "(outside modules)" and "(optimizer)".
std::vector<Row> module_rows(const std::vector<profile::Entry>& entries, const nn::Module& model, int64_t depth) {
  const auto paths = nn::module_paths(model);
  std::map<std::string, Row> by_path;  // "" is the model itself
  Row outside{.name = "(outside modules)"}, update{.name = "(optimizer)"};
  for (const profile::Entry& e : entries) {
    auto it = e.scope != nullptr ? paths.find(e.scope) : paths.end();
    if (it == paths.end()) {
      add_entry(e.phase == Phase::update ? update : outside, e);
      continue;
    }
    const std::string& path = it->second;
    add_entry(by_path[""], e);
    for (size_t dot = 0; dot != std::string::npos;) {  // every ancestor prefix and the path itself
      dot = path.find('.', dot + 1);
      const std::string prefix = path.substr(0, dot);
      if (!prefix.empty()) add_entry(by_path[prefix], e);
    }
  }
  std::vector<std::string> order;
  tree_order(model, "", order);
  std::vector<Row> rows;
  for (const std::string& path : order) {
    auto it = by_path.find(path);
    const int64_t level = path.empty() ? 0 : 1 + std::count(path.begin(), path.end(), '.');
    if (it == by_path.end() || (depth > 0 && level > depth)) continue;  // ran nothing, or too deep
    Row row = it->second;
    row.name = path.empty() ? "(model)" : std::string(2 * static_cast<size_t>(level), ' ') + path;
    rows.push_back(row);
  }
  for (Row* extra : {&outside, &update})
    if (extra->calls > 0) rows.push_back(*extra);
  return rows;
}

// What is profiled: the model, its configuration and name, and its task for a sequence model.
struct Target {
  models::ModelPtr model;
  models::ModelConfig config;
  std::string name;
  std::optional<SequenceTask> task;  // set for a sequence model
};

// Image models take --dataset, sequence models the task flags; the wrong kind is a one-line error.
void check_kind(const ProfileFlags& f, const std::string& name, bool sequence) {
  if (sequence)
    SIEVE_CHECK(f.dataset.empty(), "--dataset: '{}' is a sequence model; profile it on random inputs of a --task",
                name);
  else
    SIEVE_CHECK(f.task.empty() && f.seq_len == 0 && f.vocab == 0 && f.num_memorize == 0,
                "--task, --seq-len, --vocab, --num-memorize: '{}' is an image model", name);
}

// The model of --checkpoint (its task redrawn at --seq-len), or a fresh one from its flags.
Target load_target(const models::ModelSpec* spec, const ProfileFlags& f, const ModelFlagTexts& texts) {
  SIEVE_CHECK(spec != nullptr || !f.checkpoint.empty(), "profile: name a model (sieve profile vit) or --checkpoint");
  Target t;
  if (!f.checkpoint.empty()) {
    SIEVE_CHECK(spec == nullptr, "profile: give a model name or --checkpoint, not both");
    const nn::Checkpoint ck = nn::load_checkpoint(f.checkpoint);
    t.model = model_from_checkpoint(ck, f.checkpoint);
    t.config = models::complete_config(models::find_model(ck.model), ck.config);
    t.name = ck.model;
    check_kind(f, t.name, SequenceTask::describes_task(ck.data));
    if (SequenceTask::describes_task(ck.data)) {
      SIEVE_CHECK(f.task.empty() && f.vocab == 0 && f.num_memorize == 0,
                  "--checkpoint: the task comes from the checkpoint; only --seq-len may change it");
      const SequenceTask trained = SequenceTask::from_json(ck.data, f.checkpoint);
      t.task = resolve_task(trained.name, f.seq_len > 0 ? f.seq_len : trained.seq_len, trained.vocab,
                            trained.num_memorize, trained.train_size, trained.test_size, trained.seed);
    }
    return t;
  }
  t.name = spec->name;
  SIEVE_CHECK(t.name != "vlm", "profile: a vlm's step reads scenes and questions, not one input tensor; "
              "sieve train vlm times its stages (profiling it here is to come)");
  check_kind(f, t.name, spec->is_sequence());
  t.config = models::complete_config(*spec, parse_model_flags(*spec, texts));
  if (spec->is_sequence()) {
    t.task = resolve_task(f.task.empty() ? spec->default_task : f.task, f.seq_len, f.vocab, f.num_memorize, 0, 0,
                          f.seed);
    set_task_keys(t.config, *t.task);
  }
  Generator gen(f.seed);
  t.model = spec->build(t.config, &gen);
  // A model whose classes are texts (CLIP) captions --dataset's classes (default: sieve train's, mnist).
  if (!spec->is_sequence()) set_class_texts(*t.model, find_dataset(f.dataset.empty() ? "mnist" : f.dataset));
  return t;
}

// Opened before profiling: a path that cannot be written fails before minutes of work.
std::ofstream open_csv(const std::string& csv) {
  const std::filesystem::path dir = std::filesystem::path(csv).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  std::ofstream out(csv);
  SIEVE_CHECK(out.good(), "--csv {}: cannot write there{}", csv, ec ? " (" + ec.message() + ")" : "");
  return out;
}

// Per-step figures of the profiled steps.
struct StepFigures {
  double wall = 0, kernels = 0, flops = 0;  // seconds, seconds, FLOPs per step
  double per = 1;                           // 1 / steps: turns the profiler's totals into per-step figures
};

double share(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }
double gflops(double flops, double seconds) { return seconds > 0 ? flops * 1e-9 / seconds : 0.0; }

void print_op_table(const std::vector<Row>& ops, const StepFigures& s, int64_t top) {
  fmt::print("{:<28} {:>7} {:>9} {:>6} {:>10} {:>6} {:>8} {:>9}\n", "op phase", "calls", "ms", "time%", "MFLOP",
             "flop%", "GFLOP/s", "MB");
  for (size_t i = 0; i < ops.size() && (top <= 0 || static_cast<int64_t>(i) < top); ++i) {
    const Row& r = ops[i];
    fmt::print("{:<28} {:>7.0f} {:>9.3f} {:>6.1f} {:>10.2f} {:>6.1f} {:>8.1f} {:>9.2f}\n", r.name, r.calls * s.per,
               r.total_seconds() * s.per * 1e3, share(r.total_seconds() * s.per, s.kernels),
               r.total_flops() * s.per * 1e-6, share(r.total_flops() * s.per, s.flops),
               gflops(r.total_flops(), r.total_seconds()), r.bytes * s.per * 1e-6);
  }
  if (top > 0 && static_cast<int64_t>(ops.size()) > top)
    fmt::print("({} more rows in the CSV)\n", ops.size() - static_cast<size_t>(top));
}

void print_module_table(const std::vector<Row>& mods, const StepFigures& s) {
  fmt::print("\n{:<34} {:>9} {:>9} {:>6} {:>10} {:>10} {:>6} {:>8}\n", "module (inclusive)", "fwd ms", "bwd ms",
             "time%", "fwd MFLOP", "bwd MFLOP", "flop%", "GFLOP/s");
  for (const Row& r : mods) {
    const double fwd_ms = r.seconds[0] * s.per * 1e3, bwd_ms = (r.seconds[1] + r.seconds[2]) * s.per * 1e3;
    fmt::print("{:<34} {:>9.3f} {:>9.3f} {:>6.1f} {:>10.2f} {:>10.2f} {:>6.1f} {:>8.1f}\n", r.name, fwd_ms, bwd_ms,
               share(r.total_seconds() * s.per, s.kernels), r.flops[0] * s.per * 1e-6,
               (r.flops[1] + r.flops[2]) * s.per * 1e-6, share(r.total_flops() * s.per, s.flops),
               gflops(r.total_flops(), r.total_seconds()));
  }
}

// One CSV row per (table, name, phase), then the totals.
void write_profile_csv(std::ofstream& out, const std::vector<Row>& ops, const std::vector<Row>& mods,
                       const StepFigures& s) {
  out << "table,name,phase,calls,ms,time_share,mflop,flop_share,gflop_per_s,mb\n";
  auto csv_rows = [&](const char* table, const std::vector<Row>& rows) {
    for (const Row& r : rows)
      for (int p = 0; p < 3; ++p) {
        if (r.seconds[p] == 0 && r.flops[p] == 0) continue;
        std::string row_name = r.name.substr(r.name.find_first_not_of(' '));
        if (std::string(table) == "op") row_name = row_name.substr(0, row_name.find(' '));
        out << fmt::format("{},{},{},{:.6g},{:.6g},{:.4f},{:.6g},{:.4f},{:.4g},{:.6g}\n", table, row_name,
                           profile::phase_name(static_cast<Phase>(p)), r.calls * s.per, r.seconds[p] * s.per * 1e3,
                           share(r.seconds[p] * s.per, s.kernels) / 100, r.flops[p] * s.per * 1e-6,
                           share(r.flops[p] * s.per, s.flops) / 100, gflops(r.flops[p], r.seconds[p]),
                           r.bytes * s.per * 1e-6);
      }
  };
  csv_rows("op", ops);
  csv_rows("module", mods);
  out << fmt::format("total,wall,all,,{:.6g},,,,,\ntotal,kernels,all,,{:.6g},,{:.6g},,,\n", s.wall * 1e3,
                     s.kernels * 1e3, s.flops * 1e-6);
}

// The command: load the model, run --warmup steps, profile --steps more, print and write the tables.
int run_profile(const models::ModelSpec* spec, const ProfileFlags& f, const ModelFlagTexts& texts) {
  SIEVE_CHECK(f.mode == "train" || f.mode == "infer", "--mode: expected train or infer, got '{}'", f.mode);
  Target t = load_target(spec, f, texts);
  SIEVE_CHECK(t.name != "vlm", "profile: a vlm's step reads scenes and questions, not one input tensor; "
              "sieve train vlm times its stages (profiling it here is to come)");
  const std::string csv = f.csv.empty() ? "runs/profile-" + t.name + ".csv" : f.csv;
  std::ofstream out = open_csv(csv);

  const bool train = f.mode == "train";
  t.model->train(train);
  const Inputs inputs = t.task ? make_sequence_inputs(*t.task, f) : make_inputs(t.config, f);
  std::unique_ptr<nn::AdamW> optimizer;
  if (train) optimizer = std::make_unique<nn::AdamW>(t.model->parameters());
  const std::function<void()> step = make_step(*t.model, inputs, train, optimizer.get());

  for (int64_t i = 0; i < f.warmup; ++i) step();
  profile::Profiler profiler;
  const auto start = profile::Clock::now();
  for (int64_t i = 0; i < f.steps; ++i) step();
  StepFigures s;
  s.wall = profile::seconds_since(start) / static_cast<double>(f.steps);
  s.per = 1.0 / static_cast<double>(f.steps);
  s.kernels = profiler.total_seconds() * s.per;
  s.flops = static_cast<double>(profiler.total_flops()) * s.per;

  fmt::print("sieve profile {} — {} step, batch {}{}, {} threads; per step, mean of {} after {} warm-up\n", t.name,
             train ? "training" : "inference", f.batch_size,
             t.task ? fmt::format(" of {} sequences of length {}", t.task->name, t.task->input_length())
                    : std::string(),
             current_threads(), f.steps, f.warmup);
  fmt::print("wall {:.2f} ms = kernels {:.2f} ms ({:.0f}%) + outside kernels {:.2f} ms (allocation, autograd, checks)\n",
             s.wall * 1e3, s.kernels * 1e3, 100.0 * s.kernels / s.wall, (s.wall - s.kernels) * 1e3);
  fmt::print("{:.3f} GFLOP per step ({:.4f} per {}): {:.1f} GFLOP/s over the wall time, {:.1f} inside kernels\n\n",
             s.flops * 1e-9, s.flops * 1e-9 / static_cast<double>(f.batch_size), t.task ? "sequence" : "image",
             s.flops * 1e-9 / s.wall, s.kernels > 0 ? s.flops * 1e-9 / s.kernels : 0.0);

  const std::vector<Row> ops = op_rows(profiler.entries());
  print_op_table(ops, s, f.top);
  const std::vector<Row> mods = module_rows(profiler.entries(), *t.model, f.depth);
  print_module_table(mods, s);
  write_profile_csv(out, ops, mods, s);
  SIEVE_CHECK(out.good(), "--csv {}: write failed", csv);
  fmt::print("\nwrote {}\n", csv);
  return 0;
}

}  // namespace

void add_profile_command(CLI::App& app, Runner* run) {
  CLI::App* cmd = app.add_subcommand(
      "profile", "where a model's time and FLOPs go: per op and per module, forward, backward and update");
  cmd->footer(
      "Models: `sieve profile MODEL --help` lists a model's own options. Or --checkpoint FILE.\n"
      "Per step: ms = kernel time; time% = share of all kernel time; MFLOP = executed FLOPs (the op\n"
      "formulas in ops/README.md); GFLOP/s = achieved inside that op's kernels; MB = tensor bytes the\n"
      "kernels read and wrote. Module rows include their children; bwd ms includes the optimizer row.");
  cmd->require_subcommand(0, 1);
  auto f = std::make_shared<ProfileFlags>();
  cmd->add_option("--checkpoint", f->checkpoint, "profile this checkpoint's model and weights instead of a fresh one");
  cmd->add_option("--mode", f->mode, "train (forward, backward, AdamW) or infer (eval mode, no gradients)")
      ->capture_default_str()->check(CLI::IsMember({"train", "infer"}));
  cmd->add_option("--batch-size", f->batch_size, "batch size")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--steps", f->steps, "profiled steps (figures are their mean)")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--warmup", f->warmup, "unprofiled steps first")->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  cmd->add_option("--module-depth", f->depth, "module rows down to this depth of the tree (0: all)")->capture_default_str()
      ->check(kNonNegative);
  cmd->add_option("--top", f->top, "op rows printed (0: all; the CSV has all)")->capture_default_str()
      ->check(kNonNegative);
  cmd->add_option("--dataset", f->dataset, "image models: use this dataset's first test images (default: random images)");
  cmd->add_option("--task", f->task, "sequence models: random inputs of this task's shape (default: the model's own): " +
                                         fmt::format("{}", fmt::join(task_names(), ", ")));
  cmd->add_option("--seq-len", f->seq_len, "sequence models: length L (0: the task's default)")
      ->check(kNonNegative);
  cmd->add_option("--vocab", f->vocab, "selective-copy, induction: tokens (0: 16)")->check(kNonNegative);
  cmd->add_option("--num-memorize", f->num_memorize, "selective-copy: tokens to recall (0: 16)")
      ->check(kNonNegative);
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of the weights and random inputs")->capture_default_str();
  cmd->add_option("--csv", f->csv, "CSV of every row (default: runs/profile-MODEL.csv, replaced)");
  cmd->callback([run, f, cmd] {
    if (cmd->get_subcommands().empty()) *run = [f] { return run_profile(nullptr, *f, {}); };
  });
  for (const models::ModelSpec& spec : models::model_specs()) {
    CLI::App* model_cmd = cmd->add_subcommand(spec.name, spec.summary);
    model_cmd->footer("Profile options (--mode, --batch-size, --steps, ...): sieve profile --help");
    auto texts = std::make_shared<ModelFlagTexts>();
    add_model_flags(model_cmd, spec, texts);
    model_cmd->callback([run, f, texts, &spec] { *run = [=, &spec] { return run_profile(&spec, *f, *texts); }; });
  }
}

}  // namespace sieve::tools
