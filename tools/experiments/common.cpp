// tools/experiments/common.cpp — training/reuse, measurement and tables shared by the studies (see common.h).
#include "tools/experiments/common.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "nn/optim.h"
#include "ops/profile.h"
#include "ops/index.h"
#include "tools/train/progress.h"

namespace sieve::tools {

void check_same_run(const nn::Checkpoint& previous, const models::ModelSpec& spec, const nlohmann::json& config,
                    const RunOptions& options, const std::string& path) {
  bool same = previous.model == spec.name && previous.has_training_state() &&
              previous.training.value("options", nlohmann::json()) == options.to_json();
  for (const auto& [key, value] : config.items()) same = same && previous.config.value(key, nlohmann::json()) == value;
  SIEVE_CHECK(same, "{}: holds a run with other settings than this experiment's; pass --retrain to replace it, or "
              "--out for another directory", path);
}

nn::Checkpoint train_or_reuse(const models::ModelSpec& spec, const nlohmann::json& config, const RunOptions& options,
                              const std::string& dir, bool retrain, bool quiet, const nn::Checkpoint* init) {
  const std::string path = (std::filesystem::path(dir) / "checkpoint.safetensors").string();
  std::unique_ptr<nn::Checkpoint> previous;
  if (std::filesystem::exists(path) && !retrain) {
    previous = std::make_unique<nn::Checkpoint>(nn::load_checkpoint(path));
    check_same_run(*previous, spec, config, options, path);
    // A finished run stands at the start of the epoch after its last (the trainer's checkpoint rule).
    if (previous->training.value("epoch", int64_t{-1}) >= options.epochs && previous->training.value("batch", 1) == 0) {
      std::printf("%s: reusing the finished run in %s\n", spec.name.c_str(), dir.c_str());
      return *previous;
    }
    std::printf("%s: finishing the interrupted run in %s\n", spec.name.c_str(), dir.c_str());
  } else {
    std::printf("%s: training into %s\n", spec.name.c_str(), dir.c_str());
  }
  train(spec, models::complete_config(spec, previous ? previous->config : config), options, dir, previous.get(),
        previous ? nullptr : init, quiet);
  return nn::load_checkpoint(path);
}

nn::Checkpoint train_or_reuse_staged(const models::ModelSpec& spec, const nlohmann::json& config,
                                     const RunOptions& options, int64_t warmup_len, int64_t warmup_epochs,
                                     const std::string& dir, bool retrain, bool quiet) {
  if (warmup_len <= 0) return train_or_reuse(spec, config, options, dir, retrain, quiet);
  RunOptions short_run = options;
  short_run.seq_len = warmup_len;
  short_run.epochs = warmup_epochs;
  const nn::Checkpoint stage1 = train_or_reuse(spec, config, short_run, dir + "/stage1", retrain, quiet);
  return train_or_reuse(spec, config, options, dir, retrain, quiet, &stage1);
}

Measured measure_classifier(nn::Module& model, const ImageSet& test, const DatasetInfo& data, const DepthsOf& depths_of,
                            const MeasureOptions& options) {
  NoGradGuard no_grad;
  model.eval();
  const Tensor x = normalised(test.images, data);
  const int64_t n = x.size(0);
  Measured m;
  m.images = n;

  // Pass 1, under the profiler: accuracy, depth and executed FLOPs.
  int64_t correct = 0, correct5 = 0, depth_sum = 0;
  {
    profile::Profiler profiler;
    for (int64_t start = 0; start < n; start += options.batch_size) {
      const int64_t b = std::min(options.batch_size, n - start);
      const Tensor logits = model.forward(x.narrow(0, start, b));
      const int64_t k = std::min<int64_t>(5, logits.size(1));
      const auto best = topk(logits, k).second.to_vector<int64_t>();  // (b, k), best first
      const auto labels = test.labels.narrow(0, start, b).to_vector<int64_t>();
      for (int64_t i = 0; i < b; ++i) {
        const int64_t truth = labels[static_cast<size_t>(i)];
        correct += best[static_cast<size_t>(i * k)] == truth;
        for (int64_t j = 0; j < k; ++j) correct5 += best[static_cast<size_t>(i * k + j)] == truth;
      }
      if (depths_of)
        for (int64_t d : depths_of(model, b)) depth_sum += d;
    }
    int64_t scan_flops = 0;
    for (const profile::Entry& e : profiler.entries()) scan_flops += e.op == Op::selective_scan ? e.flops : 0;
    m.gflops_per_image = static_cast<double>(profiler.total_flops()) * 1e-9 / static_cast<double>(n);
    m.scan_gflops_per_image = static_cast<double>(scan_flops) * 1e-9 / static_cast<double>(n);
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  m.top5 = static_cast<double>(correct5) / static_cast<double>(n);
  m.mean_depth = static_cast<double>(depth_sum) / static_cast<double>(n);
  if (!options.timed) return m;

  // Pass 2: throughput at the batch size, no profiler.
  const auto start_time = profile::Clock::now();
  for (int64_t start = 0; start < n; start += options.batch_size)
    model.forward(x.narrow(0, start, std::min(options.batch_size, n - start)));
  m.throughput = static_cast<double>(n) / profile::seconds_since(start_time);

  // Pass 3: latency at batch 1 (after one warm-up image); none when latency_images is 0.
  const int64_t count = std::min(options.latency_images, n);
  if (count == 0) return m;
  model.forward(x.narrow(0, 0, 1));
  const auto latency_start = profile::Clock::now();
  for (int64_t i = 0; i < count; ++i) model.forward(x.narrow(0, i, 1));
  m.latency_ms = profile::seconds_since(latency_start) * 1e3 / static_cast<double>(count);
  return m;
}

void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    auto line = [&](const std::vector<std::string>& cells) {
      for (size_t i = 0; i < cells.size(); ++i) out << (i ? "," : "") << cells[i];
      out << "\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
    out.flush();
    if (!out) fail("{}: cannot write the table", tmp);
  }
  std::filesystem::rename(tmp, path);
}

void make_study_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SIEVE_CHECK(!ec, "--out {}: cannot create the directory: {}", dir, ec.message());
}

SequenceTask task_at_length(const nn::Checkpoint& checkpoint, int64_t seq_len, int64_t size) {
  SIEVE_CHECK(SequenceTask::describes_task(checkpoint.data), "the checkpoint is not a sequence model's");
  const SequenceTask trained = SequenceTask::from_json(checkpoint.data, checkpoint.path);
  return resolve_task(trained.name, seq_len > 0 ? seq_len : trained.seq_len, trained.vocab, trained.num_memorize,
                      trained.train_size, size > 0 ? size : trained.test_size, trained.seed);
}

StepTime time_training_step(nn::Module& model, const SequenceSplit& set, int64_t batch, int64_t steps) {
  SIEVE_CHECK(steps >= 1 && batch >= 1, "time_training_step: needs a batch and a step");
  batch = std::min(batch, set.inputs.size(0));
  const Tensor inputs = set.inputs.narrow(0, 0, batch).contiguous();
  const Tensor targets = set.targets.narrow(0, 0, batch).contiguous();
  const bool was_training = model.is_training();
  model.train();
  // lr 0 and no decay: the update runs (and is timed) but leaves the weights as they were.
  nn::AdamW optimizer(model.parameters(), {.lr = 0.0, .weight_decay = 0.0});
  auto step = [&] {
    auto [loss, logits] = training_loss(model, inputs, targets);
    apply_gradients(loss, model, optimizer, 1.0);  // reads the loss, as the trainer's step does
  };
  step();  // warm-up: first-touch allocations
  std::vector<double> times;
  for (int64_t i = 0; i < steps; ++i) {
    const auto start = profile::Clock::now();
    step();
    times.push_back(profile::seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  StepTime t;
  t.batch = batch;
  t.length = inputs.size(1);
  t.step_ms = 1e3 * times[times.size() / 2];
  {
    profile::Profiler profiler;
    for (int64_t i = 0; i < steps; ++i) step();
    double scan = 0;
    for (const profile::Entry& e : profiler.entries())
      if (e.op == Op::selective_scan) scan += e.seconds;
    t.scan_ms = 1e3 * scan / static_cast<double>(steps);
    t.kernel_ms = 1e3 * profiler.total_seconds() / static_cast<double>(steps);
  }
  model.train(was_training);
  return t;
}

}  // namespace sieve::tools
