// tools/bench/ddp.cpp — `sieve bench ddp`: data-parallel training's cost on this machine (dist/).
//
// `sieve bench ddp` times the ViT's training step in this process at its thread count, then runs
// itself under `mpirun -np 2` with one thread per rank (`--worker`, which rank 0 reports as one JSON
// line) for the rest. Rows:
//   ddp_allreduce_<S>MB   GB/s of sieve's fixed-order all-reduce (dist.h) of S MB, bus bandwidth as
//                         nccl-tests count it (2(N−1)/N × bytes ÷ time), beside MPI_Allreduce of the
//                         same bytes in the same run, calls in alternation (target ≥ 0.9×)
//   vit_step_b<B>_2x1     ms per ViT training step at global batch B on 2 ranks × 1 thread, beside
//                         1 rank × 2 threads (this process)
//   vit_step_comm_share   the share of the 2-rank step spent reducing gradients (target with
//                         overlap: ≤ 10%; sieve reduces after backward today, so all of it shows)
// Then the cost model: every model's gradient bytes (4 × trained parameters, default sizes for
// 28×28 images or its default task) and the time a ring all-reduce of them takes on N ranks at the
// bus bandwidth measured here, 2(N−1)/N × bytes ÷ bandwidth — what overlap has to hide per step.
//
// What it is not: a test (tests/tools/test_ddp.py). Extend: a new row is a figure in the worker's
// JSON line and a Row in run_ddp.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/random.h"
#include "dist/data_parallel.h"
#include "dist/dist.h"
#include "models/registry.h"
#include "nn/optim.h"
#include "ops/elementwise.h"
#include "tools/bench/common.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

using namespace bench;

struct DdpBenchOptions {
  std::string csv;
  bool quick = false, worker = false;
  int64_t batch = 128;
};

// The ViT `sieve train vit` trains, its AdamW, and one batch of N(0, 1) images.
struct VitStep {
  models::ModelPtr model;
  std::unique_ptr<nn::AdamW> optimizer;
  Tensor images, labels;

  explicit VitStep(int64_t batch) {
    const models::ModelSpec& spec = models::find_model("vit");
    const models::ModelConfig config =
        models::complete_config(spec, {{"in_channels", 1}, {"image_size", 28}, {"num_classes", 10}});
    Generator init(0), data(1);
    model = spec.build(config, &init);
    model->no_weight_decay_for_biases_and_norms();
    optimizer = std::make_unique<nn::AdamW>(nn::weight_decay_groups(*model, 0.05), nn::AdamConfig{.lr = 1e-3, .weight_decay = 0.05});
    images = randn({batch, 1, 28, 28}, {.dtype = DType::f32}, &data);
    labels = randint(0, 10, {batch}, {.dtype = DType::i64}, &data);
    model->train();
  }

  // One step; with ddp, on this rank's rows, and the seconds spent reducing gradients added to *comm.
  void step(dist::DataParallel* ddp, double* comm) {
    Tensor x = images, y = labels;
    if (ddp != nullptr) {
      const auto [begin, end] = dist::DataParallel::slice(x.size(0));
      x = x.narrow(0, begin, end - begin), y = y.narrow(0, begin, end - begin);
    }
    const Tensor loss = training_loss(*model, x, y).loss;
    loss.item();
    loss.backward();
    if (ddp != nullptr) {
      const double t = seconds_of([&] { ddp->reduce_gradients(); });
      if (comm != nullptr) *comm += t;
    }
    if (ddp != nullptr)
      ddp->clip_grad_norm(1.0);
    else
      nn::clip_grad_norm(model->parameters(), 1.0);
    optimizer->step();
    if (ddp != nullptr) ddp->after_step();
    optimizer->zero_grad();
  }
};

constexpr std::array<int64_t, 4> kSizesMB = {1, 8, 25, 64};

// Under mpirun: the figures only several ranks can give, as one JSON line from rank 0.
int run_worker(const DdpBenchOptions& o) {
  SIEVE_CHECK(dist::size() >= 2, "bench ddp --worker: runs under mpirun with 2 or more ranks");
  const Settings s = o.quick ? Settings{2, 5} : Settings{3, 15};
  nlohmann::json out = {{"ranks", dist::size()}, {"allreduce", nlohmann::json::array()}};
  const double N = dist::size();
  for (int64_t mb : kSizesMB) {
    if (o.quick && mb > 8) break;
    const int64_t n = mb * (int64_t{1} << 20) / 4;
    std::vector<float> a(static_cast<size_t>(n), 1.0f), b(static_cast<size_t>(n), 1.0f);
    std::vector<double> ours, theirs;
    for (int i = 0; i < s.warmup + s.reps; ++i) {
      dist::barrier();
      const double t_ours = seconds_of([&] { dist::allreduce_sum(a.data(), n); });
      dist::barrier();
      const double t_mpi = seconds_of([&] { dist::mpi_allreduce_sum(b.data(), n); });
      if (i < s.warmup) continue;
      ours.push_back(t_ours), theirs.push_back(t_mpi);
    }
    const double bus = 2 * (N - 1) / N * static_cast<double>(n) * 4;  // bytes each rank moves
    out["allreduce"].push_back({{"mb", mb}, {"sieve_gbs", bus / median(ours) * 1e-9}, {"mpi_gbs", bus / median(theirs) * 1e-9}});
  }
  VitStep vit(o.batch);
  dist::DataParallel ddp(*vit.model);
  ddp.broadcast_state();
  std::vector<double> steps, comms;
  for (int i = 0; i < s.warmup + s.reps; ++i) {
    double comm = 0;
    dist::barrier();
    const double t = seconds_of([&] { vit.step(&ddp, &comm); });
    if (i >= s.warmup) steps.push_back(t), comms.push_back(comm);
  }
  out["step_ms"] = median(steps) * 1e3;
  out["comm_ms"] = median(comms) * 1e3;
  if (dist::is_root()) std::printf("ddp-worker: %s\n", out.dump().c_str());
  return 0;
}

// Runs the worker under mpirun -np 2 and returns its JSON line.
nlohmann::json run_worker_job(const DdpBenchOptions& o) {
  std::vector<std::string> args = mpirun_command(2);
  for (const char* a : {"--threads", "1", "bench", "ddp", "--worker", "--batch"}) args.emplace_back(a);
  args.push_back(std::to_string(o.batch));
  if (o.quick) args.emplace_back("--quick");
  std::string command;
  for (const std::string& a : args) command += " '" + a + "'";  // no argument holds a quote
  FILE* pipe = popen(command.c_str(), "r");
  SIEVE_CHECK(pipe != nullptr, "bench ddp: cannot start mpirun");
  std::string text;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) text += buffer.data();
  const int status = pclose(pipe);
  const size_t at = text.find("ddp-worker: ");
  SIEVE_CHECK(status == 0 && at != std::string::npos, "bench ddp: the 2-rank run failed (mpirun exit {}): {}",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.substr(0, 300));
  return nlohmann::json::parse(text.substr(at + 12, text.find('\n', at) - at - 12));
}

int run_ddp(const DdpBenchOptions& o) {
  if (o.worker) return run_worker(o);
  SIEVE_CHECK(dist::size() == 1, "bench ddp: run it as one process; it starts its own 2-rank job");
  SIEVE_CHECK(dist::built_with_mpi(), "bench ddp: this sieve was built without MPI (apt-get install libopenmpi-dev, "
              "then rebuild: meson setup --reconfigure build)");
  std::ofstream out = open_csv(o.csv);
  const Settings s = o.quick ? Settings{2, 5} : Settings{3, 15};
  const int threads = current_threads();
  progress(fmt::format("ViT training step, batch {}, one process at {} threads", o.batch, threads));
  VitStep vit(o.batch);
  const double alone = median_seconds(s, [&] { vit.step(nullptr, nullptr); });
  progress("the same on 2 ranks × 1 thread, and the all-reduce, under mpirun -np 2");
  const nlohmann::json w = run_worker_job(o);

  std::vector<Row> rows;
  double bus_gbs = 0;
  for (const nlohmann::json& a : w.at("allreduce")) {
    rows.push_back({fmt::format("ddp_allreduce_{}MB", a.at("mb").get<int64_t>()), a.at("sieve_gbs").get<double>(),
                    "GB/s", "MPI_Allreduce", a.at("mpi_gbs").get<double>(), false});
    bus_gbs = a.at("sieve_gbs").get<double>();  // the largest size's, for the cost model
  }
  const double step_ms = w.at("step_ms").get<double>(), comm_ms = w.at("comm_ms").get<double>();
  rows.push_back({fmt::format("vit_step_b{}_2x1", o.batch), step_ms, "ms", fmt::format("1 rank × {} threads", threads),
                  alone * 1e3, true});
  print_table(fmt::format("sieve bench ddp — 2 ranks × 1 thread against 1 process × {} threads", threads), rows);
  fmt::print("vit_step_comm_share: {:.1f}% of the 2-rank step reduces gradients ({:.2f} of {:.2f} ms; target with "
             "overlap ≤ 10%; today the reduction follows backward)\n",
             100 * comm_ms / step_ms, comm_ms, step_ms);

  // The cost model, with this machine's measured bus bandwidth as the link's.
  fmt::print("\nring all-reduce of each model's gradients at {:.1f} GB/s: 2(N−1)/N × bytes ÷ bandwidth\n", bus_gbs);
  fmt::print("{:<12} {:>12} {:>12} {:>12} {:>12}\n", "model", "params", "grad MB", "N=2 ms", "N=8 ms");
  for (const models::ModelSpec& spec : models::model_specs()) {
    int64_t params = 0;
    try {
      nlohmann::json keys = spec.is_sequence() ? nlohmann::json::object()
                                               : nlohmann::json{{"in_channels", 1}, {"image_size", 28}, {"num_classes", 10}};
      Generator gen(0);
      const models::ModelPtr m = spec.build(models::complete_config(spec, keys), &gen);
      for (const Tensor& p : m->parameters()) params += p.requires_grad() ? p.numel() : 0;
    } catch (const Error&) {
      continue;  // a model that needs more than defaults (vlm: a CLIP tower)
    }
    const double mb = static_cast<double>(params) * 4 / (1 << 20);
    const auto ring_ms = [&](double n) { return 2 * (n - 1) / n * mb * (1 << 20) / (bus_gbs * 1e9) * 1e3; };
    fmt::print("{:<12} {:>12} {:>12.2f} {:>12.3f} {:>12.3f}\n", spec.name, params, mb, ring_ms(2), ring_ms(8));
  }
  if (!o.csv.empty()) write_csv(out, o.csv, rows);
  return 0;
}

}  // namespace

void add_bench_ddp_command(CLI::App* bench, Runner* run) {
  CLI::App* cmd = bench->add_subcommand(
      "ddp", "data parallel: sieve's all-reduce vs MPI_Allreduce, the ViT step on 2 ranks × 1 thread vs 1 × 2, the "
             "gradient-reduction share, and each model's all-reduce cost");
  cmd->footer("Starts `mpirun -np 2 sieve bench ddp --worker` itself (needs a sieve built with MPI, and mpirun).\n"
              "ratio = sieve ÷ MPI_Allreduce for GB/s rows, 1 process ÷ 2 ranks for the step (higher is better).");
  auto o = std::make_shared<DdpBenchOptions>();
  cmd->add_option("--csv", o->csv, "also write rows bench,figure,unit,reference,reference_figure,ratio to FILE");
  cmd->add_flag("--quick", o->quick, "fewer repetitions, all-reduce sizes up to 8 MB (smoke runs)");
  cmd->add_option("--batch", o->batch, "global batch of the ViT step")->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{4096}));
  cmd->add_flag("--worker", o->worker, "(internal) the 2-rank half, run under mpirun");
  cmd->callback([run, o] { *run = [o] { return run_ddp(*o); }; });
}

}  // namespace sieve::tools
