// tools/sieve.cpp — main() of the `sieve` command line: global options, subcommands, errors.
//
// What it is: the CLI11 app. Every failure ends here as one line on stderr, "sieve: <problem>",
// and a non-zero exit (1 for a failed command, 2 for a usage error); --help works at every level.
// What it is not: the commands themselves (tools/cmd_*.cpp).
// Extend: see tools/cli/commands.h.
#include <omp.h>

#include <cblas.h>
#include <unistd.h>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>
#include <string>

#include "core/error.h"
#include "cuda/backend.h"
#include "dist/dist.h"
#include "ops/cpu/threads.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

// How long an idle OpenMP thread spins before it sleeps. libgomp's default, 300 000 spins, keeps a
// thread that reached the end of a parallel region busy for a millisecond or so; on a machine
// where another process wants the core, that millisecond is taken from it, and from our own
// descheduled thread the region is waiting for. Measured on this project's 2-core machine, the
// ViT training step (`sieve profile vit`): idle 66 ms either way; beside one busy process 205 ms
// with the default, 128 ms with 1000 spins (microseconds: long enough for the next region's start
// to find the thread awake, so the idle speed stays).
// libgomp reads GOMP_SPINCOUNT once, as it loads, before main() (setting it from the executable's
// preinit array does not last: libc's initialisation resets the environment after it). So a
// command that computes runs itself once more with GOMP_SPINCOUNT=1000 (exec of /proc/self/exe, about
// the cost of starting sieve) unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT; that run
// takes the variable out of its environment again, so programs it starts (PyTorch in the benches)
// keep their own defaults.
namespace {
constexpr const char* kSpinMarker = "SIEVE_SET_GOMP_SPINCOUNT";
bool spin_count_is_ours = false;

// At the start of main(): in the run that exec_with_short_spin started, forget the variables.
void forget_spin_count() {
  if (std::getenv(kSpinMarker) == nullptr) return;
  spin_count_is_ours = true;
  unsetenv("GOMP_SPINCOUNT");
  unsetenv(kSpinMarker);
}

// Returns only where no exec happens (the user's setting, already done, or exec failed).
void exec_with_short_spin(char** argv) {
  if (spin_count_is_ours || std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr)
    return;
  setenv("GOMP_SPINCOUNT", "1000", 1);
  setenv(kSpinMarker, "1", 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  unsetenv("GOMP_SPINCOUNT");  // no /proc: go on with libgomp's default
  unsetenv(kSpinMarker);
}
}  // namespace

namespace sieve::tools {

namespace {
std::vector<std::string> the_command_line;
}  // namespace

void set_command_line(int argc, char** argv) { the_command_line.assign(argv, argv + argc); }
const std::vector<std::string>& command_line() { return the_command_line; }

void set_threads(int threads) { cpu::set_thread_ceiling(threads); }

int current_threads() { return cpu::thread_ceiling(); }

Device parse_device(const std::string& device) {
  if (device == "cpu") return kCPU;
  SIEVE_CHECK(device == "cuda", "--device: expected cpu or cuda, got '{}'", printable(device, 64));
  SIEVE_CHECK(cuda::available(), "--device cuda: this sieve has no usable CUDA backend ({}); use --device cpu",
              cuda::unavailable_reason());
  return kCUDA;
}

void add_run_checkpoint_flags(CLI::App* cmd, RunCheckpointFlags& flags) {
  cmd->add_option("--batch-size", flags.batch_size, "batch size")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--device", flags.device, "cpu or cuda")->capture_default_str();
  cmd->add_flag("--quiet", flags.quiet, "no progress bar");
  cmd->add_option("--reduce", flags.reduce,
                  "models with token reduction (clip): none, evit:KEEP[:fuse], l2:KEEP, svtr:KEEP or tome:R for "
                  "this run (default: the checkpoint's; models/token_reduction.h)");
  cmd->add_option("--policy", flags.policy,
                  "models with early exits (ddvit): exit, entropy or full for this run (default: the checkpoint's)");
  flags.threshold_flag = cmd->add_option("--threshold", flags.threshold,
                                         "models with early exits (ddvit): τ of the exit policy for this run")
                             ->check(CLI::Range(0.0, 1.0));
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  return std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

nlohmann::json RunCheckpointFlags::model_overrides() const {
  nlohmann::json overrides = nlohmann::json::object();
  if (!reduce.empty()) overrides["reduce"] = reduce;
  if (!policy.empty()) overrides["policy"] = policy;
  if (threshold_flag != nullptr && threshold_flag->count() > 0) overrides["threshold"] = threshold;
  return overrides;
}

namespace {

// A flag's text as a number: nullopt when it is not one (CLI11 reports that itself).
std::optional<double> number_of(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// A flag check: a number must be finite and ok(v), else "must be RULE, got TEXT". desc: what
// --help shows after the type (FLOAT:POSITIVE), as CLI11's own validators. Text that is no number
// passes: CLI11 reports that itself.
CLI::Validator number_check(std::function<bool(double)> ok, const std::string& rule, const std::string& desc) {
  return CLI::Validator(
      [ok = std::move(ok), rule](std::string& text) -> std::string {
        const std::optional<double> v = number_of(text);
        if (!v) return "";
        if (!std::isfinite(*v)) return "must be a finite number, got " + text;
        return ok(*v) ? "" : "must be " + rule + ", got " + text;
      },
      desc, rule);
}

}  // namespace

const CLI::Validator kPositive = number_check([](double v) { return v > 0; }, "> 0", "POSITIVE");
const CLI::Validator kNonNegative = number_check([](double v) { return v >= 0; }, "≥ 0", "NONNEGATIVE");

CLI::Validator run_option_check(const std::string& key) {
  const RunOptionBound& b = run_option_bound(key);
  const std::string desc =
      std::isinf(b.hi) ? (b.lo_inclusive ? (b.lo == 0 ? "NONNEGATIVE" : "≥ " + fmt::format("{}", b.lo)) : "POSITIVE")
                       : fmt::format("in [{} - {}]", b.lo, b.hi);
  return number_check([&b](double v) { return within(b, v); }, bound_words(b), desc);
}

// Every floating-point flag of every command refuses NaN and infinities: a NaN learning rate or
// clip would be stored in the checkpoint as null and the run could never be resumed. Options
// CLI11 types as FLOAT (doubles, and lists of them) get the check; model flags are checked as
// they are parsed (tools/cli/model_flags.cpp).
// Whole-number flags (INT, UINT) take only whole numbers their type can hold: CLI11 would
// otherwise read "99999999999999999999" as some other number, and an empty value as 0.
void require_finite_numbers(CLI::App& app) {
  static const CLI::Validator finite = number_check([](double) { return true; }, "finite", "");
  static const CLI::Validator not_empty(
      [](std::string& text) { return text.empty() ? std::string("expects a number, got nothing") : std::string(); },
      "", "");
  auto whole = [](bool is_unsigned) {
    return CLI::Validator(
        [is_unsigned](std::string& text) -> std::string {
          const char* begin = text.c_str();
          while (std::isspace(static_cast<unsigned char>(*begin))) ++begin;
          if (is_unsigned && *begin == '-') return "must be a whole number ≥ 0, got " + text;
          char* end = nullptr;
          errno = 0;
          if (is_unsigned)
            static_cast<void>(std::strtoull(begin, &end, 0));
          else
            static_cast<void>(std::strtoll(begin, &end, 0));
          if (end == begin || *end != '\0') return "";  // no whole number: CLI11 says so
          if (errno == ERANGE)
            return fmt::format("must be a whole number up to {}, got {}",
                               is_unsigned ? std::to_string(UINT64_MAX) : std::to_string(INT64_MAX), text);
          return "";
        },
        "", "");
  };
  for (CLI::Option* option : app.get_options()) {
    const std::string type = option->get_type_name();
    if (type.find("FLOAT") != std::string::npos) option->check(finite);
    if (type.find("UINT") != std::string::npos)
      option->check(whole(true));
    else if (type.find("INT") != std::string::npos)
      option->check(whole(false));
    if (type.find("FLOAT") != std::string::npos || type.find("INT") != std::string::npos) option->check(not_empty);
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) require_finite_numbers(*sub);
}

// A message from deep inside may still hold a newline; the contract is one line per failure.
std::string one_line(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  return msg;
}

// When parsing stopped at a command that has subcommands (sieve, sieve train, sieve experiment,
// ...) and the first word after it that is not a flag or a flag's value names none of them:
// "train: unknown model 'resnet' (known: mlp, vit, ...)". Empty when that is not what went wrong.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  std::vector<const CLI::App*> chain{&app};  // the commands parsed, outermost first
  while (!chain.back()->get_subcommands().empty()) chain.push_back(chain.back()->get_subcommands().front());
  const CLI::App* level = chain.back();
  std::vector<std::string> known;
  for (const CLI::App* sub : level->get_subcommands([](const CLI::App*) { return true; }))
    known.push_back(sub->get_name());
  if (known.empty()) return "";
  size_t matched = 1;  // names of the chain found so far on the line (the program's counts as one)
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.starts_with("-")) {  // a flag: skip its value too when it takes one and was not given as --flag=value
      const CLI::Option* option = nullptr;
      for (const CLI::App* a : chain)
        if (option == nullptr) option = a->get_option_no_throw(word.substr(0, word.find('=')));
      if (option != nullptr && option->get_expected_min() > 0 && word.find('=') == std::string::npos) ++i;
      continue;
    }
    if (matched < chain.size() && word == chain[matched]->get_name()) {
      ++matched;
      continue;
    }
    if (matched < chain.size() || std::find(known.begin(), known.end(), word) != known.end()) return "";
    std::string path;
    for (size_t c = 1; c < chain.size(); ++c) path += chain[c]->get_name() + ": ";
    const char* what = chain.size() == 2 && chain[1]->get_name() == "train" ? "model"
                       : chain.size() == 1                                     ? "command"
                                                                               : "subcommand";
    return fmt::format("{}unknown {} '{}' (known: {})", path, what, printable(word, 64), fmt::join(known, ", "));
  }
  return "";
}

}  // namespace sieve::tools

int main(int argc, char** argv) {
  using namespace sieve::tools;
  forget_spin_count();  // libgomp has read it (see exec_with_short_spin)
  CLI::App app{"sieve — a small tensor library with autograd: train, evaluate and run its models, inspect checkpoints, benchmark ops.", "sieve"};
  // No require_subcommand(): CLI11 would report a missing command before an unknown flag, so
  // `sieve --bogus` would not name --bogus. A missing command is caught after parsing instead.
  // Subcommands created after this inherit it: an option a subcommand does not know (--threads)
  // is handed up to its parent, so global options work before or after the subcommand's name.
  app.fallthrough();
  app.footer("Run `sieve COMMAND --help` for a command's options.");

  set_command_line(argc, argv);
  GlobalOptions global;
  // At most 4 threads per core: more only time-slice, and OpenBLAS, asked for 1024 threads with a
  // limited address space, spins forever allocating their buffers.
  const int max_threads = 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--threads", global.threads, "threads for OpenMP and OpenBLAS (default: OMP_NUM_THREADS or all cores)")
      ->check(number_check([max_threads](double v) { return v >= 1 && v <= max_threads; },
                           fmt::format("1 to {} (4 per core of this machine)", max_threads), ""));

  Runner run;
  add_train_command(app, &run);
  add_eval_command(app, &run);
  add_infer_command(app, &run);
  add_chat_command(app, &run);
  add_ckpt_command(app, &run);
  add_bench_command(app, &run);
  add_profile_command(app, &run);
  add_experiment_command(app, &run);
  require_finite_numbers(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // An unknown name where a command, model or study belongs: say which names are known
    // (CLI11 says only "The following argument was not expected: resnet").
    if (const std::string unknown = unknown_command(app, argc, argv); !unknown.empty()) {
      std::fprintf(stderr, "sieve: %s\n", unknown.c_str());
      return 2;
    }
    // CLI11's own report spans two lines; one line names the flag and points at --help.
    std::fprintf(stderr, "sieve: %s (see sieve --help)\n", one_line(e.what()).c_str());
    return 2;
  }

  if (!run) {
    std::string path = "sieve";
    const CLI::App* level = &app;
    while (!level->get_subcommands().empty()) {
      level = level->get_subcommands().front();
      path += " " + level->get_name();
    }
    std::vector<std::string> known;
    for (const CLI::App* sub : level->get_subcommands([](const CLI::App*) { return true; }))
      known.push_back(sub->get_name());
    std::fprintf(stderr, "sieve: '%s' needs a %s: %s (see %s --help)\n", path.c_str(),
                 path == "sieve train" ? "model" : "command", fmt::format("{}", fmt::join(known, ", ")).c_str(),
                 path.c_str());
    return 2;
  }
  exec_with_short_spin(argv);
  std::string who = "sieve";  // "sieve (rank 1 of 2)" in a job of several processes
  std::string message;        // why it failed, one line
  try {
    sieve::dist::init(&argc, &argv);  // a job mpirun started: join it (dist/dist.h)
    if (sieve::dist::size() > 1) {
      who = fmt::format("sieve (rank {} of {})", sieve::dist::rank(), sieve::dist::size());
      // Only training is data parallel; any other command would run N times over, each copy
      // printing and writing the same (bench ddp's worker half is started so by bench ddp itself).
      const CLI::App* command = app.get_subcommands().front();
      const bool ddp_worker = command->get_name() == "bench" && !command->get_subcommands().empty() &&
                              command->get_subcommands().front()->get_name() == "ddp";
      SIEVE_CHECK(command->get_name() == "train" || ddp_worker, "{}: only `sieve train` runs as a job of several "
                  "processes (mpirun -np {}); run `sieve {}` as one process", command->get_name(),
                  sieve::dist::size(), command->get_name());
    }
    if (global.threads > 0) {
      set_threads(global.threads);
    } else if (sieve::dist::local_size() > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) {
      // The machine's cores shared among the ranks on it, not each rank taking them all.
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      set_threads(std::max(1, cores / sieve::dist::local_size()));
    }
    const int code = run();
    sieve::dist::finalize();
    return code;
  } catch (const sieve::Error& e) {
    message = one_line(e.what());
  } catch (const std::filesystem::filesystem_error& e) {  // a path the OS refused: name it and why
    const std::string path = e.path1().empty() ? std::string("a path") : e.path1().string();
    message = one_line(sieve::printable(path, 300)) + ": " + one_line(e.code().message());
  } catch (const std::exception& e) {
    message = "unexpected error: " + one_line(e.what());
  }
  // In a job of several processes a failing rank ends the job (the others would wait for it in
  // their next collective). The other ranks wait a moment first: when every rank fails alike (a bad
  // flag), rank 0's abort ends them before they print, and the job reports one line, not N.
  if (sieve::dist::size() > 1 && sieve::dist::rank() != 0) std::this_thread::sleep_for(std::chrono::seconds(1));
  std::fprintf(stderr, "%s: %s\n", who.c_str(), message.c_str());
  if (sieve::dist::size() > 1) {
    std::fflush(stderr);
    sieve::dist::abort(1);
  }
  return 1;
}
