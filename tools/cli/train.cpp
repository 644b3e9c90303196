// tools/cli/train.cpp — `sieve train MODEL [options]`: train a model from models/registry.h.
//
//   sieve train mlp --dataset mnist                   3 epochs, prints the test accuracy
//   sieve train mlp --hidden 1024 --epochs 5 --out runs/wide
//   sieve train mlp --resume runs/mlp-mnist/checkpoint.safetensors --epochs 5
//   sieve train mlp --init runs/mlp-mnist/checkpoint-headless.safetensors --dataset fashion-mnist
//   sieve train transformer --task induction --seq-len 64      a sequence model on a sequence task
//   sieve train transformer                                    its spec's default task (induction)
//
// Image models train on --dataset (with --augment, --image-size, --channels); sequence models
// (ModelSpec::default_task set) on --task with --seq-len, --vocab, --num-memorize, --train-size,
// --test-size (tools/train/data.h: the tasks and their defaults). A flag of the other kind is an error.
// Run options (dataset, epochs, lr, ...) sit on `train` and apply to every model; each model
// subcommand adds its own hyper-parameters as flags, generated from its ModelSpec options.
// --resume takes the architecture and run options from the checkpoint; only --epochs,
// --max-steps, --checkpoint-every, --data-dir and --out may change then, anything else is refused (it would
// silently make the run a different one). --init takes the architecture from a (stripped)
// checkpoint and the run options from the flags.
// Data parallel (dist/): `sieve train --nproc 2 vit ...` or `mpirun -np 2 sieve train vit ...` —
// every rank trains on its slice of each global batch (--batch-size stays the global batch), rank 0
// writes the files; a checkpoint resumes on any number of processes.
//
// What it is not: the loop itself (tools/train/trainer.cpp).
// Extend: a new run flag goes in add_train_command and RunOptions; a new model needs nothing here.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "dist/dist.h"
#include "nn/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/cli/model_flags.h"
#include "tools/train/trainer.h"
#include "tools/train/vlm.h"

namespace sieve::tools {

std::vector<std::string> mpirun_command(int nproc) {
  // --oversubscribe: more ranks than cores is allowed (2 ranks on a 2-core CI machine whose slots
  // mpirun may count as 1); --bind-to none: each rank's threads move freely; shared-memory messages
  // without cross-process copies (CMA), which containers often forbid and which print noise when a
  // peer dies.
  std::vector<std::string> args = {"mpirun", "-np", std::to_string(nproc), "--oversubscribe", "--bind-to", "none",
                                   "--quiet", "--mca", "btl_vader_single_copy_mechanism", "none"};
  if (geteuid() == 0) args.emplace_back("--allow-run-as-root");  // mpirun refuses root unless told
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  args.push_back(ec ? command_line().at(0) : self.string());
  return args;
}

namespace {

using nlohmann::json;

bool holds_run(const std::string& dir) {
  namespace fs = std::filesystem;
  return fs::exists(fs::path(dir) / "checkpoint.safetensors") || fs::exists(fs::path(dir) / "metrics.csv");
}

bool same_directory(const std::string& a, const std::string& b) {
  std::error_code ec;
  return !b.empty() && std::filesystem::equivalent(a.empty() ? "." : a, b.empty() ? "." : b, ec);
}

struct TrainFlags {
  RunOptions run;
  std::string out, resume, init, device = "cpu";
  bool quiet = false, overwrite = false;
  int nproc = 1;                              // processes of a data-parallel job (mpirun -np)
  int zero = 0;                               // 1: ZeRO-1, the optimizer state sharded over them
  std::vector<CLI::Option*> run_flags;        // every run option, to find what was given
  std::vector<CLI::Option*> resumable_flags;  // those a resumed run may change
  std::vector<CLI::Option*> image_flags;      // image models only: --dataset, --augment, --image-size, --channels
  std::vector<CLI::Option*> task_flags;       // sequence models only: --task, --seq-len, ...
};

// Refuses flags of the other kind of model, and settles the data of a new run: a sequence
// model's task with its defaults filled in (stored so --resume and `sieve eval` see them).
void settle_data(const models::ModelSpec& spec, const TrainFlags& flags, RunOptions& options) {
  const std::vector<CLI::Option*>& wrong = spec.is_sequence() ? flags.image_flags : flags.task_flags;
  for (CLI::Option* flag : wrong)
    SIEVE_CHECK(flag->count() == 0, "{}: '{}' is {}", flag->get_name(), spec.name,
                spec.is_sequence()
                    ? fmt::format("a sequence model; it trains on --task ({}), not on images", fmt::join(task_names(), ", "))
                    : std::string("an image model; --task and its sizes are for sequence models"));
  if (!spec.is_sequence()) {
    // The built-in sets have fixed shapes: a size for them would be silently ignored.
    for (CLI::Option* flag : flags.image_flags)
      SIEVE_CHECK(options.dataset == "folder" || flag->count() == 0 ||
                      (flag->get_name() != "--image-size" && flag->get_name() != "--channels"),
                  "{}: {}'s images have a fixed shape; --image-size and --channels resize --dataset folder's",
                  flag->get_name(), options.dataset);
    return;
  }
  options.dataset = "";
  if (options.task.empty()) options.task = spec.default_task;
  const SequenceTask task = run_task(options);
  options.seq_len = task.seq_len;
  options.vocab = task.vocab;
  options.num_memorize = task.num_memorize;
  options.train_size = task.train_size;
  options.test_size = task.test_size;
}

// --resume RUN/older.safetensors writes RUN/checkpoint.safetensors: never over a checkpoint that is
// further along, or one of another run (without --overwrite).
void refuse_to_replace_a_later_checkpoint(const TrainFlags& flags, const nn::Checkpoint& resume) {
  const std::string target = (std::filesystem::path(flags.out) / "checkpoint.safetensors").string();
  if (!std::filesystem::exists(target) || same_file(target, flags.resume)) return;
  const nn::Checkpoint there = nn::load_checkpoint(target);
  // The same run: same model and settings, but for what a resume may change (the resumable flags:
  // --max-steps is the option max_steps).
  auto settings = [&flags](const nn::Checkpoint& c) {
    json options = c.training.value("options", json::object());
    for (const CLI::Option* flag : flags.resumable_flags) {
      std::string key = flag->get_name().substr(2);
      std::replace(key.begin(), key.end(), '-', '_');
      options.erase(key);
    }
    return options;
  };
  const bool same_run = there.model == resume.model && there.config == resume.config && there.has_training_state() &&
                        settings(there) == settings(resume);
  SIEVE_CHECK(same_run, "--resume {}: {} holds another run's checkpoint, which this run would replace; choose "
              "another --out, or pass --overwrite", flags.resume, target);
  const int64_t there_step = there.training.value("step", int64_t{0}), from = resume.training.value("step", int64_t{0});
  SIEVE_CHECK(there_step <= from, "--resume {} (step {}): {} is further along (step {}) and would be replaced; resume "
              "that one, choose another --out, or pass --overwrite", flags.resume, from, target, there_step);
}

// `sieve train --nproc N ...` runs `mpirun -np N sieve train ...` (this same command line, less
// --nproc) and exits as it does: mpirun starts the N processes, each of which joins the job
// (dist/dist.h).
[[noreturn]] void run_under_mpirun(int nproc) {
  SIEVE_CHECK(dist::built_with_mpi(), "--nproc {}: this sieve was built without MPI (apt-get install "
              "libopenmpi-dev, then rebuild: meson setup --reconfigure build)", nproc);
  std::vector<std::string> args = mpirun_command(nproc);
  const std::vector<std::string>& given = command_line();
  for (size_t i = 1; i < given.size(); ++i) {
    if (given[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (given[i].starts_with("--nproc=")) continue;
    args.push_back(given[i]);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t child = fork();
  SIEVE_CHECK(child >= 0, "--nproc {}: cannot start mpirun ({})", nproc, std::strerror(errno));
  if (child == 0) {
    execvp("mpirun", argv.data());
    std::fprintf(stderr, "sieve: --nproc %d: cannot start mpirun (%s); apt-get install openmpi-bin\n", nproc,
                 std::strerror(errno));
    _exit(127);
  }
  // mpirun ends the job when a rank fails; a rank that fails says why itself (one line), but one
  // that was killed cannot, so that is said here.
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code > 128)
    std::fprintf(stderr, "sieve: a process of the %d-process job was killed (signal %d); the job stopped\n", nproc,
                 code - 128);
  std::exit(code);
}

int run_train(const models::ModelSpec& spec, TrainFlags& flags, const ModelFlagTexts& model_flags) {
  if (flags.nproc > 1 && !dist::launched_by_mpirun()) run_under_mpirun(flags.nproc);
  SIEVE_CHECK(flags.nproc == 1 || flags.nproc == dist::size(), "--nproc {}: this job already has {} processes "
              "(mpirun -np); give one or the other", flags.nproc, dist::size());
  const Device device = parse_device(flags.device);
  RunOptions options = flags.run;
  json given = parse_model_flags(spec, model_flags);
  SIEVE_CHECK(flags.resume.empty() || flags.init.empty(), "--resume and --init exclude each other");

  if (spec.name == "vlm") {  // its own two-stage loop (tools/train/vlm.h)
    SIEVE_CHECK(dist::size() == 1, "vlm: its two-stage training runs in one process (data parallel is for the "
                "image and sequence trainer)");
    SIEVE_CHECK(flags.init.empty(), "--init: a vlm starts from its --vision tower (or --resume a vlm run)");
    for (CLI::Option* flag : flags.image_flags)
      SIEVE_CHECK(flag->count() == 0, "{}: vlm's scenes are mnist+fashion-mnist images, the tower's data (--vision)",
                  flag->get_name());
    settle_data(spec, flags, options);
    options.dataset = "mnist+fashion-mnist";
  }
  std::unique_ptr<nn::Checkpoint> resume, init;
  if (!flags.resume.empty()) {
    resume = std::make_unique<nn::Checkpoint>(nn::load_checkpoint(flags.resume));
    SIEVE_CHECK(resume->model == spec.name, "--resume: {} is a checkpoint of '{}', not of '{}'", flags.resume,
                resume->model, spec.name);
    SIEVE_CHECK(resume->has_training_state(), "--resume: {} holds weights only (no training state); use --init",
                flags.resume);
    SIEVE_CHECK(given.empty(), "--resume: the architecture comes from the checkpoint; drop --{}", given.begin().key());
    for (CLI::Option* flag : flags.run_flags) {
      const bool may_change =
          std::find(flags.resumable_flags.begin(), flags.resumable_flags.end(), flag) != flags.resumable_flags.end();
      SIEVE_CHECK(may_change || flag->count() == 0,
                  "--resume continues the run as it was; {} cannot change (only --epochs, --max-steps, "
                  "--checkpoint-every, --data-dir, --out)", flag->get_name());
    }
    // The stored options, except what was given now among the flags that may change.
    const RunOptions asked = options;
    options = RunOptions::from_json(resume->training.at("options"));
    auto given_now = [&](const char* name) {
      for (CLI::Option* flag : flags.resumable_flags)
        if (flag->check_name(name)) return flag->count() > 0;
      return false;
    };
    if (given_now("--epochs")) options.epochs = asked.epochs;
    // --max-steps stops one invocation, it does not define the run: a resume without it runs on.
    options.max_steps = given_now("--max-steps") ? asked.max_steps : 0;
    if (given_now("--checkpoint-every")) options.checkpoint_every = asked.checkpoint_every;
    if (given_now("--data-dir")) options.data_dir = asked.data_dir;
    given = resume->config;
    if (flags.out.empty()) flags.out = std::filesystem::path(flags.resume).parent_path().string();
    if (flags.out.empty()) flags.out = ".";
  } else if (!flags.init.empty()) {
    init = std::make_unique<nn::Checkpoint>(nn::load_checkpoint(flags.init));
    SIEVE_CHECK(init->model == spec.name, "--init: {} is a checkpoint of '{}', not of '{}'", flags.init, init->model,
                spec.name);
    SIEVE_CHECK(given.empty(), "--init: the architecture comes from the checkpoint; drop --{}", given.begin().key());
    given = init->config;
  }
  if (!resume) settle_data(spec, flags, options);
  // A run never overwrites another's files: the default directory is the first free one of
  // runs/MODEL-DATASET, runs/MODEL-DATASET-2, ...; an --out that holds another run needs --overwrite.
  std::string resumed_dir = resume ? std::filesystem::path(flags.resume).parent_path().string() : "";
  if (resume && resumed_dir.empty()) resumed_dir = ".";
  if (flags.out.empty()) {
    const std::string base = "runs/" + spec.name + "-" + (options.task.empty() ? options.dataset : options.task);
    flags.out = base;
    for (int n = 2; holds_run(flags.out); ++n) flags.out = base + "-" + std::to_string(n);
  } else if (!flags.overwrite && holds_run(flags.out) && !same_directory(flags.out, resumed_dir)) {
    fail("--out {}: already holds a run (checkpoint.safetensors or metrics.csv); --resume it, choose another "
         "--out, or pass --overwrite", flags.out);
  }
  if (resume && !flags.overwrite) refuse_to_replace_a_later_checkpoint(flags, *resume);

  models::ModelConfig config = models::complete_config(spec, given);
  if (spec.name == "vlm") {
    const TrainResult r = train_vlm(spec, config, options, flags.out, flags.quiet, device, resume.get());
    if (r.test.samples > 0)
      std::printf("test exact match: %.2f%% (%lld held-out questions) after epoch %lld\n", 100.0 * r.test.accuracy,
                  static_cast<long long>(r.test.samples), static_cast<long long>(r.test_epoch));
    std::printf("%lld step%s in all\ncheckpoint: %s\n", static_cast<long long>(r.steps), r.steps == 1 ? "" : "s",
                r.checkpoint.c_str());
    return 0;
  }
  const TrainResult r =
      train(spec, config, options, flags.out, resume.get(), init.get(), flags.quiet, device, flags.zero == 1);
  if (!dist::is_root()) return 0;  // rank 0 reports for the job
  if (r.test.samples > 0)
    std::printf("test accuracy: %.2f%% (loss %.4f, %lld %s) after epoch %lld\n", 100.0 * r.test.accuracy,
                r.test.loss, static_cast<long long>(r.test.samples), options.task.empty() ? "images" : "targets",
                static_cast<long long>(r.test_epoch));
  std::printf("%lld step%s in all%s\n", static_cast<long long>(r.steps), r.steps == 1 ? "" : "s",
              options.max_steps > 0 && r.steps == options.max_steps ? " (stopped by --max-steps)" : "");
  std::printf("checkpoint: %s\n", r.checkpoint.c_str());
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Runner* run) {
  CLI::App* train_cmd = app.add_subcommand("train", "train a model; writes a checkpoint, metrics.csv and curves.png");
  train_cmd->footer("Models: run `sieve train MODEL --help` for a model's own options.");
  auto flags = std::make_shared<TrainFlags>();
  RunOptions& o = flags->run;
  auto add = [&](CLI::Option* opt, bool resumable = false) {
    flags->run_flags.push_back(opt);
    if (resumable) flags->resumable_flags.push_back(opt);
    return opt;
  };
  auto image = [&](CLI::Option* opt) {
    flags->image_flags.push_back(opt);
    return opt;
  };
  auto seq = [&](CLI::Option* opt) {
    flags->task_flags.push_back(opt);
    return opt;
  };
  add(image(train_cmd->add_option("--dataset", o.dataset,
                                  "image models: dataset: " + fmt::format("{}", fmt::join(dataset_names(), ", ")))
                ->capture_default_str()));
  add(seq(train_cmd->add_option("--task", o.task,
                                "sequence models: task: " + fmt::format("{}", fmt::join(task_names(), ", ")) +
                                    " (default: the model's own)")));
  add(seq(train_cmd->add_option("--seq-len", o.seq_len, "sequence models: length L (0: the task's default)")
              ->check(run_option_check("seq_len"))));
  add(seq(train_cmd->add_option("--vocab", o.vocab, "selective-copy, induction: tokens (0: 16)")
              ->check(run_option_check("vocab"))));
  add(seq(train_cmd->add_option("--num-memorize", o.num_memorize, "selective-copy: tokens to recall (0: 16)")
              ->check(run_option_check("num_memorize"))));
  add(seq(train_cmd->add_option("--train-size", o.train_size, "sequence models: training samples (0: the task's default)")
              ->check(run_option_check("train_size"))));
  add(seq(train_cmd->add_option("--test-size", o.test_size, "sequence models: test samples (0: the task's default)")
              ->check(run_option_check("test_size"))));
  add(train_cmd->add_option("--data-dir", o.data_dir, "where datasets live (tools/fetch-data writes there)")
          ->capture_default_str(), true);
  add(image(train_cmd->add_option("--image-size", o.image_size, "--dataset folder: resize images to this square size")
                ->capture_default_str()->check(run_option_check("image_size"))));
  add(image(train_cmd->add_option("--channels", o.channels, "--dataset folder: 1 grey, 3 RGB (2, 4: with alpha)")
                ->capture_default_str()->check(run_option_check("channels"))));
  add(train_cmd->add_option("--epochs", o.epochs, "epochs over the training set")->capture_default_str()
          ->check(run_option_check("epochs")), true);
  add(train_cmd->add_option("--batch-size", o.batch_size, "training batch size")->capture_default_str()
          ->check(run_option_check("batch_size")));
  add(train_cmd->add_option("--lr", o.lr, "peak learning rate (AdamW)")->capture_default_str()
          ->check(run_option_check("lr")));
  add(train_cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (not on biases and norms)")
          ->capture_default_str()->check(run_option_check("weight_decay")));
  add(train_cmd->add_option("--warmup-steps", o.warmup_steps, "linear warmup steps, then cosine decay to 0")
          ->capture_default_str()->check(run_option_check("warmup_steps")));
  add(train_cmd->add_option("--clip", o.clip, "max gradient norm (0: no clipping)")->capture_default_str()
          ->check(run_option_check("clip")));
  add(train_cmd->add_option("--seed", o.seed, "seed of initialisation, shuffling, augmentation and dropout")
          ->capture_default_str());
  add(image(train_cmd->add_flag("--augment", o.augment, "random crop (pad 2); plus horizontal flip but on the MNIST sets (digits must not be mirrored)")));
  add(train_cmd->add_option("--max-steps", o.max_steps, "stop after this many steps in all (0: run every epoch)")
          ->capture_default_str()->check(run_option_check("max_steps")), true);
  add(train_cmd->add_option("--checkpoint-every", o.checkpoint_every, "also checkpoint every N steps (0: epoch ends)")
          ->capture_default_str()->check(run_option_check("checkpoint_every")), true);
  add(train_cmd->add_option("--eval-batch-size", o.eval_batch_size, "batch size of the test-set evaluation")
          ->capture_default_str()->check(run_option_check("eval_batch_size")));
  train_cmd->add_option("--out", flags->out, "output directory (default: the first free runs/MODEL-DATASET[-N]; "
                                              "with --resume, the checkpoint's directory)");
  train_cmd->add_flag("--overwrite", flags->overwrite, "let --out replace a run already there");
  train_cmd->add_option("--resume", flags->resume, "continue a run from its training checkpoint, bit-identically");
  train_cmd->add_option("--init", flags->init, "start from a checkpoint's weights (a stripped head is re-initialised)");
  train_cmd->add_option("--device", flags->device, "cpu or cuda")->capture_default_str();
  train_cmd->add_flag("--quiet", flags->quiet, "no progress bar or per-epoch lines");
  train_cmd->add_option("--nproc", flags->nproc, "data-parallel processes on this machine: runs `mpirun -np N` "
                                                 "with this command (same as starting it under mpirun yourself)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  train_cmd->add_option("--zero", flags->zero, "1: with several processes, shard AdamW's state over them (ZeRO-1; "
                                               "the same weights as without)")
      ->capture_default_str()->check(CLI::Range(0, 1));

  for (const models::ModelSpec& spec : models::model_specs()) {
    CLI::App* model_cmd = train_cmd->add_subcommand(spec.name, spec.summary);
    model_cmd->footer("Run options (--dataset, --epochs, --lr, --resume, ...): sieve train --help");
    auto model_flags = std::make_shared<ModelFlagTexts>();
    add_model_flags(model_cmd, spec, model_flags);
    model_cmd->callback([run, flags, model_flags, &spec] {
      *run = [=, &spec] { return run_train(spec, *flags, *model_flags); };
    });
  }
}

}  // namespace sieve::tools
