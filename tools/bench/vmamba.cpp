// tools/bench/vmamba.cpp — `sieve bench vmamba`: VMamba's training step beside a plain PyTorch
// VMamba measured in the same run, and what the routes cost: SS2D's scan at K = 1, 2 and 4 routes.
//
// The model is `sieve train vmamba`'s defaults (patch 2 → a 14×14 map, dim 32, depths 2,2, d_state 8,
// ssm_ratio 2, routes 4) on 1×28×28 images, 10 classes. Rows:
//   vmamba_train_step_bB      ms per step at batch B (32): forward, cross-entropy, backward, gradient
//                             clipping, AdamW (the trainer's settings), zero_grad — beside PyTorch
//                             (tools/bench/torch_vmamba.py: the same model, one chunked scan over
//                             K·C channels with grouped B and C)
//   vmamba_routes_KK_fwd_bwd  ms for SS2D's route scan alone (models::SS2D::scan_routes: the routes'
//                             gathers, projections, ONE grouped selective_scan over K·Ci channels, the
//                             merge) forward + backward, at the first stage's size: batch B, 14×14,
//                             Ci = 64, N = 8; K = 1, 2, 4 (sieve only)
// Below the table: train step sieve/torch (target ≤ 0.5×) and K = 4's route-scan time over K = 2's
// (target ≤ 2.2×: one call over K·C channels, not K calls).
// What it is not: a test of the model (tests/models/test_vmamba.cpp).
// Extend: a new PyTorch-referenced row needs its step in torch_vmamba.py's vmamba_steps.
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "models/registry.h"
#include "models/vmamba.h"
#include "nn/optim.h"
#include "tools/bench/common.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

using namespace bench;

struct VMambaBenchOptions {
  std::string csv;
  bool quick = false;
  int64_t batch = 32, chunk = 16;
};

constexpr int64_t side = 28, classes = 10;

std::vector<std::string> torch_args(const models::ModelConfig& c, const VMambaBenchOptions& o, const RunOptions& run) {
  std::vector<std::string> args = {"--mode", "vmamba"};
  const auto add = [&](const std::string& flag, const auto& value) {
    args.push_back("--" + flag);
    args.push_back(fmt::format("{}", value));
  };
  add("batch", o.batch), add("image-size", side), add("in-channels", 1), add("classes", classes);
  add("patch", c.get_int("patch")), add("dim", c.get_int("dim")), add("depths", c.get_string("depths"));
  add("d-state", c.get_int("d_state")), add("ssm-ratio", c.get_int("ssm_ratio")), add("dt-rank", c.get_int("dt_rank"));
  add("routes", c.get_int("routes")), add("mlp-ratio", c.get_int("mlp_ratio")), add("chunk", o.chunk);
  add("lr", run.lr), add("weight-decay", run.weight_decay), add("clip", run.clip);
  return args;
}

int run_vmamba(const VMambaBenchOptions& o) {
  std::ofstream out = open_csv(o.csv);
  const Settings train_s = o.quick ? Settings{1, 3} : Settings{2, 9};
  const Settings scan_s = o.quick ? Settings{1, 3} : Settings{2, 9};
  const int threads = current_threads();
  const models::ModelSpec& spec = models::find_model("vmamba");
  const models::ModelConfig config = models::complete_config(spec, {{"num_classes", classes}});
  const RunOptions run;  // the trainer's defaults: lr, weight decay, clip
  progress(fmt::format("{} threads; VMamba {}; batch {}; {} warm-up + {} timed steps", threads, config.values().dump(),
                       o.batch, train_s.warmup, train_s.reps));
  const std::unique_ptr<TorchSession> torch = TorchSession::start(torch_args(config, o, run));

  Generator init_gen(0);
  models::ModelPtr model = spec.build(config, &init_gen);
  model->no_weight_decay_for_biases_and_norms();  // as the trainer; A_logs, Ds are flagged by the model
  nn::AdamW optimizer(nn::weight_decay_groups(*model, run.weight_decay),
                      {.lr = run.lr, .weight_decay = run.weight_decay});
  Generator data_gen(1);
  const Tensor images = randn({o.batch, 1, side, side}, {}, &data_gen);
  const Tensor labels = randint(0, classes, {o.batch}, {.dtype = DType::i64}, &data_gen);
  model->train();
  progress(fmt::format("training step, batch {}{}", o.batch, torch ? ", sieve and PyTorch in turn" : ""));
  const auto [torch_step, step] = median_alternating(train_s, torch.get(), "train", [&] {
    apply_gradients(training_loss(*model, images, labels).loss, *model, optimizer, run.clip);
  });

  // The route scan alone at the first stage's size, for K = 1, 2, 4.
  const int64_t map = side / config.get_int("patch"), inner = config.get_int("ssm_ratio") * config.get_int("dim");
  std::vector<Row> rows = {{fmt::format("vmamba_train_step_b{}", o.batch), step * 1e3, "ms",
                            torch ? torch->reference_name() : "torch (unavailable)",
                            torch_step ? std::optional(*torch_step * 1e3) : std::nullopt, true}};
  std::vector<double> route_ms;
  for (const int64_t K : {1, 2, 4}) {
    progress(fmt::format("SS2D route scan forward+backward, K {}, batch {}, {}×{}, Ci {}", K, o.batch, map, map, inner));
    Generator gen(2);
    const models::SS2D op(config.get_int("dim"), inner, config.get_int("d_state"), (config.get_int("dim") + 15) / 16,
                          K, &gen);
    Tensor x = randn({o.batch, map, map, inner}, {}, &gen).requires_grad_();
    const Tensor g = randn({o.batch, map, map, inner}, {}, &gen);
    const double seconds = median_seconds(scan_s, [&] {
      x.zero_grad();
      op.scan_routes(x).backward(g);
    });
    route_ms.push_back(seconds * 1e3);
    rows.push_back({fmt::format("vmamba_routes_K{}_fwd_bwd", K), seconds * 1e3, "ms", "", std::nullopt, true});
  }

  print_table(fmt::format("sieve bench vmamba — {} threads", threads), rows);
  if (torch_step) fmt::print("train step: sieve/torch = {:.3f}× (target ≤ 0.5×)\n", step / *torch_step);
  fmt::print("routes: K=4 / K=2 route-scan time = {:.2f}× (target ≤ 2.2×; K=2 / K=1 = {:.2f}×)\n",
             route_ms[2] / route_ms[1], route_ms[1] / route_ms[0]);
  print_parameter_counts(model->num_parameters(), torch.get());
  if (!o.csv.empty()) write_csv(out, o.csv, rows);
  return 0;
}

}  // namespace

void add_bench_vmamba_command(CLI::App* bench, Runner* run) {
  CLI::App* cmd = bench->add_subcommand("vmamba", "VMamba's training step vs PyTorch, and the route scan at K = 1, 2, 4");
  cmd->footer(
      "Model: `sieve train vmamba`'s defaults on 1×28×28 images, 10 classes. Rows:\n"
      "  vmamba_train_step_bB      forward, cross-entropy, backward, clip, AdamW, zero_grad (ms), vs PyTorch\n"
      "                            (tools/bench/torch_vmamba.py, a chunked grouped scan)\n"
      "  vmamba_routes_KK_fwd_bwd  SS2D's route scan forward + backward at the first stage (ms), K = 1, 2, 4\n"
      "Below: train step sieve/torch (target ≤ 0.5×) and K=4 / K=2 route-scan time (target ≤ 2.2×).\n"
      "The PyTorch side runs /usr/bin/python3 tools/bench/bench_torch.py --mode vmamba --serve\n"
      "(override: SIEVE_PYTHON=path, or SIEVE_PYTHON=none to skip). --threads may follow `vmamba`.");
  auto o = std::make_shared<VMambaBenchOptions>();
  cmd->add_option("--csv", o->csv, "also write rows bench,figure,unit,reference,reference_figure,ratio to FILE");
  cmd->add_flag("--quick", o->quick, "smoke run: 1 warm-up + 3 timed steps (not 2 + 9)");
  cmd->add_option("--batch", o->batch, "batch size")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
  cmd->add_option("--chunk", o->chunk, "chunk length T of PyTorch's chunked scan")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->callback([run, o] { *run = [o] { return run_vmamba(*o); }; });
}

}  // namespace sieve::tools
