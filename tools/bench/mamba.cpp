// tools/bench/mamba.cpp — `sieve bench mamba`: the Mamba classifier's training step and the
// selective scan alone at growing lengths, beside a plain PyTorch Mamba measured in the same run.
//
// The model is built through the registry (models::find_model("mamba"), its defaults: dim 64,
// depth 4, d_state 16, expand 2, d_conv 4, dt_rank ceil(64/16) = 4) as a classifier: vocab 16
// token inputs, 10 classes, per_token false (logits at the last position), so exactly the model
// `sieve train mamba` builds for such a task. Rows:
//   mamba_train_step_bB_LL      ms per step at batch B (8), length L (256): forward, cross-entropy,
//                               backward, gradient clipping (the trainer's max norm), AdamW (the
//                               trainer's lr 1e-3, weight decay 0.01; none on biases, norms, A_log, D),
//                               zero_grad — beside PyTorch with its chunked scan
//   mamba_train_step_bB_LL_seq  the same sieve step beside PyTorch with a sequential (Python-loop)
//                               scan, timed in fewer pairs (it takes seconds a step)
//   mamba_scan_fwd_bwd_LL       ms for selective_scan forward + backward into every input (x, Δ, A,
//                               B, C, D, z) at batch 1, C = expand·dim = 128 channels, N = 16 states,
//                               L = 256, 512, … up to --scan-max-length (16384; --quick 2048) —
//                               beside PyTorch's chunked scan (up to --torch-scan-max-length)
// Below the table: the target line (train step sieve/torch ≤ 1/25 = 0.04× of the chunked
// PyTorch step), and the fitted exponent of scan time vs L (least-squares slope of log t on log L;
// the target is linear growth, exponent ≈ 1), for sieve and for PyTorch where it ran every length.
// The reference is tools/bench/bench_torch.py --mode mamba --serve (same architecture and parameter
// count from torch.nn primitives, same threads), one PyTorch step and one sieve step in turn as
// `bench vit` does (see tools/bench/vit.cpp for why); ratio = torch ÷ sieve, higher is better.
// What it is not: a test of the model (tests/models/) or of the scan's gradients (tests/ops/).
// Extend: a new row needs its command in bench_torch.py's mamba_steps, sent by name.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/random.h"
#include "models/registry.h"
#include "nn/optim.h"
#include "ops/scan.h"
#include "tools/bench/common.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

using namespace bench;

struct MambaBenchOptions {
  std::string csv;
  bool quick = false;
  int64_t batch = 8, length = 256, chunk = 16;
  int64_t scan_max = 16384, torch_scan_max = 16384;
};

constexpr int64_t vocab = 16, classes = 10, first_scan_length = 256;

std::vector<int64_t> scan_lengths(const MambaBenchOptions& o) {
  std::vector<int64_t> lengths;
  const int64_t max = o.quick ? std::min<int64_t>(o.scan_max, 2048) : o.scan_max;
  for (int64_t L = first_scan_length; L <= max; L *= 2) lengths.push_back(L);
  return lengths;
}

// Least-squares slope of log t on log L: the exponent p of t ∝ L^p.
double fitted_exponent(const std::vector<int64_t>& lengths, const std::vector<double>& seconds) {
  const size_t n = std::min(lengths.size(), seconds.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += std::log(static_cast<double>(lengths[i])), my += std::log(seconds[i]);
  mx /= static_cast<double>(n), my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = std::log(static_cast<double>(lengths[i])) - mx;
    sxy += dx * (std::log(seconds[i]) - my), sxx += dx * dx;
  }
  return sxx > 0 ? sxy / sxx : std::nan("");
}

// The PyTorch side's arguments, straight from sieve's configuration so the two cannot drift apart.
std::vector<std::string> torch_args(const models::ModelConfig& c, const MambaBenchOptions& o, const RunOptions& run,
                                    const std::vector<int64_t>& torch_lengths) {
  std::vector<std::string> args = {"--mode", "mamba"};
  const auto add = [&](const std::string& flag, const auto& value) {
    args.push_back("--" + flag);
    args.push_back(fmt::format("{}", value));
  };
  add("batch", o.batch), add("length", o.length), add("vocab", c.get_int("vocab"));
  add("classes", c.get_int("num_classes")), add("dim", c.get_int("dim")), add("depth", c.get_int("depth"));
  add("d-state", c.get_int("d_state")), add("expand", c.get_int("expand")), add("d-conv", c.get_int("d_conv"));
  add("dt-rank", c.get_int("dt_rank")), add("chunk", o.chunk);
  add("lr", run.lr), add("weight-decay", run.weight_decay), add("clip", run.clip);
  add("scan-lengths", fmt::format("{}", fmt::join(torch_lengths, ",")));
  return args;
}

int run_mamba(const MambaBenchOptions& o) {
  std::ofstream out = open_csv(o.csv);
  const Settings train_s = o.quick ? Settings{1, 3} : Settings{3, 15};
  const Settings seq_s = o.quick ? Settings{0, 1} : Settings{1, 3};  // seconds a PyTorch step
  const Settings scan_s = o.quick ? Settings{1, 3} : Settings{2, 7};
  const int threads = current_threads();
  const models::ModelSpec& spec = models::find_model("mamba");
  const models::ModelConfig config =
      models::complete_config(spec, {{"vocab", vocab}, {"num_classes", classes}, {"per_token", false}});
  const RunOptions run;  // the trainer's defaults: lr, weight decay, clip
  const std::vector<int64_t> lengths = scan_lengths(o);
  std::vector<int64_t> torch_lengths;
  for (const int64_t L : lengths)
    if (L <= o.torch_scan_max) torch_lengths.push_back(L);
  const int64_t C = config.get_int("expand") * config.get_int("dim"), N = config.get_int("d_state");
  progress(fmt::format("{} threads; Mamba {}; batch {}, length {}; {} warm-up + {} timed steps", threads,
                       config.values().dump(), o.batch, o.length, train_s.warmup, train_s.reps));

  // Started first: importing torch and building its models take seconds, none of them timed.
  const std::unique_ptr<TorchSession> torch = TorchSession::start(torch_args(config, o, run, torch_lengths));

  Generator init_gen(0);
  models::ModelPtr model = spec.build(config, &init_gen);
  model->no_weight_decay_for_biases_and_norms();  // as the trainer; A_log and D are flagged by the model
  nn::AdamW optimizer(nn::weight_decay_groups(*model, run.weight_decay),
                      {.lr = run.lr, .weight_decay = run.weight_decay});
  const int64_t params = model->num_parameters();
  Generator data_gen(1);
  const Tensor tokens = randint(0, vocab, {o.batch, o.length}, {.dtype = DType::i64}, &data_gen);
  const Tensor labels = randint(0, classes, {o.batch}, {.dtype = DType::i64}, &data_gen);

  model->train();
  const auto train_step = [&] {
    const Tensor loss = training_loss(*model, tokens, labels).loss;
    // Reads the loss, as the trainer does every step, and stops on a non-finite one.
    apply_gradients(loss, *model, optimizer, run.clip);
  };
  progress(fmt::format("training step, batch {}, length {}{}", o.batch, o.length,
                       torch ? ", sieve and PyTorch (chunked scan) in turn" : ""));
  const auto [torch_step, step] = median_alternating(train_s, torch.get(), "train", train_step);
  progress(fmt::format("training step{}", torch ? ", sieve and PyTorch (sequential scan) in turn" : ""));
  const auto [torch_seq_step, seq_step] = median_alternating(seq_s, torch.get(), "train_sequential", train_step);

  std::vector<double> sieve_scan, torch_scan;
  std::vector<std::optional<double>> torch_scan_at;
  for (const int64_t L : lengths) {
    const bool with_torch = torch && L <= o.torch_scan_max;
    progress(fmt::format("selective_scan forward+backward, batch 1, L {}, C {}, N {}{}", L, C, N,
                         with_torch ? ", sieve and PyTorch in turn" : ""));
    ScanInputs in = scan_inputs(1, L, C, N);
    const auto [theirs, mine] =
        median_alternating(scan_s, with_torch ? torch.get() : nullptr, fmt::format("scan_{}", L), [&] {
          for (Tensor* t : in.leaves()) t->zero_grad();
          Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
          y.backward(in.grad);
        });
    sieve_scan.push_back(mine);
    torch_scan_at.push_back(theirs);
    if (theirs) torch_scan.push_back(*theirs);
  }

  const auto ms = [](std::optional<double> seconds) { return seconds ? std::optional(*seconds * 1e3) : std::nullopt; };
  const std::string version = torch ? torch->reference_name() : "";
  const std::string chunked = torch ? version + " chunked" : "torch (unavailable)";
  const std::string sequential = torch ? version + " sequential" : "torch (unavailable)";
  const std::string name = fmt::format("mamba_train_step_b{}_L{}", o.batch, o.length);
  std::vector<Row> rows = {
      {name, step * 1e3, "ms", chunked, ms(torch_step), true},
      {name + "_seq", seq_step * 1e3, "ms", sequential, ms(torch_seq_step), true},
  };
  for (size_t i = 0; i < lengths.size(); ++i)
    rows.push_back({fmt::format("mamba_scan_fwd_bwd_L{}", lengths[i]), sieve_scan[i] * 1e3, "ms",
                    torch_scan_at[i] ? chunked : (torch ? version + " (not run)" : chunked), ms(torch_scan_at[i]),
                    true});

  print_table(fmt::format("sieve bench mamba — {} threads", threads), rows);
  if (torch_step)
    fmt::print("train step: sieve/torch = {:.3f}× (target ≤ 1/25 = 0.04× of the chunked PyTorch step; chunk {})\n",
               step / *torch_step, torch->header().value("chunk", o.chunk));
  if (torch_seq_step) fmt::print("train step: sieve/torch = {:.3f}× of the sequential-scan PyTorch step\n",
                                 seq_step / *torch_seq_step);
  fmt::print("scan time vs L: sieve exponent {:.2f} (least-squares slope of log t on log L, L = {} … {}; target ≈ 1, "
             "linear)\n", fitted_exponent(lengths, sieve_scan), lengths.front(), lengths.back());
  if (torch && torch_scan.size() == torch_lengths.size() && torch_scan.size() >= 2)
    fmt::print("scan time vs L: PyTorch (chunked) exponent {:.2f} (L = {} … {})\n",
               fitted_exponent(torch_lengths, torch_scan), torch_lengths.front(), torch_lengths.back());
  if (torch && torch_lengths.size() < lengths.size())
    fmt::print("PyTorch's scan was run up to L = {} only (--torch-scan-max-length)\n", o.torch_scan_max);
  print_parameter_counts(params, torch.get());
  if (!o.csv.empty()) write_csv(out, o.csv, rows);
  return 0;
}

}  // namespace

void add_bench_mamba_command(CLI::App* bench, Runner* run) {
  CLI::App* mamba = bench->add_subcommand(
      "mamba", "the Mamba classifier's training step and the selective scan vs length, vs PyTorch");
  mamba->footer(
      "Model: `sieve train mamba`'s defaults (dim 64, depth 4, d_state 16, expand 2, d_conv 4) as a\n"
      "classifier: vocab 16 tokens, 10 classes at the last position. Rows:\n"
      "  mamba_train_step_bB_LL      forward, cross-entropy, backward, clip, AdamW, zero_grad (ms),\n"
      "                              vs PyTorch with a chunked parallel scan\n"
      "  mamba_train_step_bB_LL_seq  the same sieve step vs PyTorch with a sequential (Python-loop) scan\n"
      "  mamba_scan_fwd_bwd_LL       selective_scan forward + backward (with D and z) at batch 1,\n"
      "                              C = 128, N = 16, L = 256, 512, ... (ms), vs PyTorch's chunked scan\n"
      "ratio = torch ÷ sieve, higher is better. Below: train step sieve/torch (target ≤ 0.04×) and the\n"
      "fitted exponent of scan time vs L (slope of log t on log L; target ≈ 1). The PyTorch side runs\n"
      "/usr/bin/python3 tools/bench/bench_torch.py --mode mamba --serve, one step of each in turn\n"
      "(override: SIEVE_PYTHON=path, or SIEVE_PYTHON=none to skip). --threads may follow `mamba`.");
  auto o = std::make_shared<MambaBenchOptions>();
  mamba->add_option("--csv", o->csv, "also write rows bench,figure,unit,reference,reference_figure,ratio to FILE");
  mamba->add_flag("--quick", o->quick,
                  "smoke run: 1 warm-up + 3 timed steps (not 3 + 15), one sequential-scan step, L up to 2048");
  mamba->add_option("--batch", o->batch, "training batch size")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  mamba->add_option("--seq-len", o->length, "training sequence length L")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  mamba->add_option("--scan-max-length", o->scan_max, "longest L of the scan rows (256, 512, ... up to it)")
      ->capture_default_str()->check(CLI::Range(int64_t{256}, int64_t{1} << 20));
  mamba->add_option("--torch-scan-max-length", o->torch_scan_max, "longest L at which PyTorch's scan is timed")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  mamba->add_option("--chunk", o->chunk, "chunk length T of PyTorch's chunked scan")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  mamba->callback([run, o] { *run = [o] { return run_mamba(*o); }; });
}

}  // namespace sieve::tools
