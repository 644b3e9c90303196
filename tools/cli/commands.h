// tools/cli/commands.h — how sieve.cpp wires the subcommands; one tools/cli/<name>.cpp per command.
//
// Each add_<name>_command registers its CLI11 subcommand (options, help text) and returns a
// function that runs it after parsing; main() catches every exception, so a command simply throws
// a sieve::Error with a one-line message naming the file or flag.
// What it is not: a plugin system; the list of commands is the list in sieve.cpp.
// Extend: declare add_<name>_command here, define it in tools/cli/<name>.cpp, call it in sieve.cpp,
// add the file to tools/meson.build and a case to tests/tools/test_cli.py.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/dtype.h"  // Device

namespace sieve::tools {

// Options every subcommand sees (given before or after the subcommand's name).
struct GlobalOptions {
  int threads = 0;  // 0: leave OpenMP's default (OMP_NUM_THREADS or the core count)
};

using Runner = std::function<int()>;  // returns the process exit code

// The command line main() was given (argv, program first): what `sieve train --nproc` hands to mpirun.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// mpirun's words for a job of nproc copies of this sieve (the program last; its arguments follow):
// what `train --nproc` and `bench ddp` start.
std::vector<std::string> mpirun_command(int nproc);

// Sets OpenMP's and OpenBLAS's thread counts (one pool: OpenBLAS is the OpenMP build).
void set_threads(int threads);
int current_threads();

// --device cpu|cuda → the Device; cuda is an error naming the reason when this sieve has no usable
// CUDA backend (built without it, or no GPU visible); anything else is an error naming the flag.
Device parse_device(const std::string& device);

// The flags every command that runs a checkpoint shares: --batch-size, --device, --quiet.
// Numeric flag checks that say what is valid in words: CLI11's PositiveNumber / NonNegativeNumber
// print the range's bound, DBL_MAX, in 309 digits. NaN and infinities are refused too.
extern const CLI::Validator kPositive;     // > 0
extern const CLI::Validator kNonNegative;  // ≥ 0
// The check of `sieve train`'s flag for run option `key`, from run_option_bounds() (trainer.h).
CLI::Validator run_option_check(const std::string& key);

// Whether two paths name the same file: the same after resolving links and dots, or (when both
// exist) the same inode, as a hard link is. An output must never replace one of a command's inputs.
bool same_file(const std::string& a, const std::string& b);

struct RunCheckpointFlags {
  int64_t batch_size = 1000;
  std::string device = "cpu";
  bool quiet = false;
  std::string reduce;  // vision-token reduction for this run (CLIP); empty: the checkpoint's
  std::string policy;  // DD-ViT's depth policy for this run; empty: the checkpoint's
  double threshold = 0;
  CLI::Option* threshold_flag = nullptr;
  // The model options this run sets over the checkpoint's ({"reduce": ...} when --reduce is given).
  nlohmann::json model_overrides() const;
};
void add_run_checkpoint_flags(CLI::App* cmd, RunCheckpointFlags& flags);

// `sieve train MODEL [options]`
void add_train_command(CLI::App& app, Runner* run);
// `sieve eval CKPT [--dataset NAME]`
void add_eval_command(CLI::App& app, Runner* run);
// `sieve infer CKPT INPUT [--out FILE]`
void add_infer_command(CLI::App& app, Runner* run);
// `sieve chat CKPT --image FILE [QUESTION]`
void add_chat_command(CLI::App& app, Runner* run);
// `sieve ckpt info FILE`, `sieve ckpt strip-head FILE`
void add_ckpt_command(CLI::App& app, Runner* run);
// `sieve bench ops [--csv FILE] [--quick]`, `sieve bench loader [--step-ms MS] [--batches N]`;
// it calls add_bench_vit_command for `sieve bench vit [--csv FILE] [--quick] [--batch B]` (tools/bench/vit.cpp)
// add_bench_clip_command for `sieve bench clip [--csv FILE] [--quick]` (tools/bench/clip.cpp)
// add_bench_mamba_command for `sieve bench mamba [--csv FILE] [--quick]` (tools/bench/mamba.cpp)
// add_bench_vmamba_command for `sieve bench vmamba [--csv FILE] [--quick]` (tools/bench/vmamba.cpp)
// and add_bench_vlm_command for `sieve bench vlm [--csv FILE] [--quick] [--lm L]` (tools/bench/vlm.cpp).
void add_bench_command(CLI::App& app, Runner* run);
void add_bench_vit_command(CLI::App* bench, Runner* run);
void add_bench_clip_command(CLI::App* bench, Runner* run);
void add_bench_mamba_command(CLI::App* bench, Runner* run);
void add_bench_vmamba_command(CLI::App* bench, Runner* run);
void add_bench_vlm_command(CLI::App* bench, Runner* run);
void add_bench_ddp_command(CLI::App* bench, Runner* run);
// `sieve profile MODEL [--mode train|infer] [--batch-size B] [--csv FILE]`, or --checkpoint FILE
void add_profile_command(CLI::App& app, Runner* run);
// `sieve experiment NAME [options]`: the studies (tools/experiments/<name>.cpp)
void add_experiment_command(CLI::App& app, Runner* run);

}  // namespace sieve::tools
