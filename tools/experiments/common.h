// tools/experiments/common.h — what every `sieve experiment NAME` shares: training (or reusing) a run,
// measuring a classifier the same way for every row, and writing the table as CSV and text.
//
// Measurements (measure_classifier), all on the test split, in eval mode without gradients:
//   accuracy       top-1 over the whole split, batch 256; top5 likewise (top-k with k = min(5, classes))
//   mean depth     what the model reports per sample (DD-ViT's last_depths; else its full depth)
//   GFLOPs/image   the profiler's count of the FLOPs executed over the split ÷ images (ops/profile.h):
//                  measured, not a formula, so early exits and dropped samples show up; the
//                  selective_scan op's share apart (scan_gflops_per_image: how many routes ran)
//   latency b1     mean milliseconds per image, one image at a time, over the first images
//   throughput     images/s at batch 256 over the split, timed in its own pass without the profiler
//
// Sequence studies: task_at_length redraws a checkpoint's test set at another length (length
// generalisation); time_training_step times a training step and the selective scan's share of it.
//
// What it is not: the studies themselves (tools/experiments/<name>.cpp) or the training loop (trainer.h).
// Extend: a new figure every study reports goes in Measured and measure_classifier.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

// Trains spec/config under `options` into dir, or continues the run found there (same model and
// options: an interrupted experiment resumes bit-identically; a finished one is reused as is).
// A run there with other options is an error unless `retrain`. Returns the finished checkpoint.
// init: weights a new run starts from (`sieve train --init`; a study's earlier stage).
nn::Checkpoint train_or_reuse(const models::ModelSpec& spec, const nlohmann::json& config, const RunOptions& options,
                              const std::string& dir, bool retrain, bool quiet, const nn::Checkpoint* init = nullptr);

// The check train_or_reuse makes of a run found in the way: `previous` (read from path) holds a run
// of spec with every key of config as given and the same run options; else an error naming path.
void check_same_run(const nn::Checkpoint& previous, const models::ModelSpec& spec, const nlohmann::json& config,
                    const RunOptions& options, const std::string& path);

// The same in two stages when warmup_len > 0: first warmup_epochs at sequence length warmup_len
// (DIR/stage1, trained or reused alike), then `options` into DIR starting from those weights —
// how the sequence studies get a model past chance at lengths where it would not learn from scratch.
nn::Checkpoint train_or_reuse_staged(const models::ModelSpec& spec, const nlohmann::json& config,
                                     const RunOptions& options, int64_t warmup_len, int64_t warmup_epochs,
                                     const std::string& dir, bool retrain, bool quiet);

struct Measured {
  double accuracy = 0;       // fraction correct
  double top5 = 0;           // fraction with the label among the 5 highest logits
  double mean_depth = 0;     // blocks per image
  double gflops_per_image = 0;
  double scan_gflops_per_image = 0;  // the selective_scan op's part of gflops_per_image
  double latency_ms = 0;     // batch 1, mean per image
  double throughput = 0;     // images/s at batch 256
  int64_t images = 0;
};

struct MeasureOptions {
  int64_t batch_size = 256;
  int64_t latency_images = 200;  // images timed one by one (0: no latency pass)
  bool timed = true;             // false: accuracy and FLOPs only (no throughput or latency pass)
};

// depths_of(model, b): blocks each of the last forward's b images ran (b values); an empty one
// leaves mean_depth 0 (models that run every block).
using DepthsOf = std::function<std::vector<int64_t>(nn::Module&, int64_t batch)>;

// `test` images are in [0, 1]; they are normalised as `data` says (as in training).
Measured measure_classifier(nn::Module& model, const ImageSet& test, const DatasetInfo& data, const DepthsOf& depths_of,
                            const MeasureOptions& options);

// A CSV table: a header row, then one row per entry; written to a temporary file, then renamed.
void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

// Creates a study's --out directory (one-line error when it cannot).
void make_study_dir(const std::string& dir);

// ---- sequence studies ----

// The task a sequence checkpoint trained on, redrawn at seq_len (0: its own) with `size` test
// sequences (0: its own test size) from the run's test seed — what `sieve eval --seq-len` draws.
SequenceTask task_at_length(const nn::Checkpoint& checkpoint, int64_t seq_len, int64_t size);

// Time of one training step on the first `batch` sequences of `set`: forward, loss, backward,
// clipping (max norm 1) and an AdamW step at lr 0 (the weights stay as they are), after one
// warm-up step. step_ms: the median wall time of `steps` steps without the profiler; scan_ms: the
// selective_scan op's kernel time (forward + backward) per step, from `steps` more under the
// profiler (ops/profile.h); kernel_ms: all kernels' time per step in that pass.
struct StepTime {
  double step_ms = 0, scan_ms = 0, kernel_ms = 0;
  int64_t batch = 0, length = 0;
};
StepTime time_training_step(nn::Module& model, const SequenceSplit& set, int64_t batch, int64_t steps);

// ---- the studies, one tools/experiments/<name>.cpp each; tools/cli/experiment.cpp registers them ----
void add_ddvit_study(CLI::App* experiment, Runner* run);           // `sieve experiment ddvit`
void add_induction_study(CLI::App* experiment, Runner* run);       // `sieve experiment induction`
void add_selective_copy_study(CLI::App* experiment, Runner* run);  // `sieve experiment selective-copy`
void add_mrss_study(CLI::App* experiment, Runner* run);            // `sieve experiment mrss`
void add_vtp_study(CLI::App* experiment, Runner* run);             // `sieve experiment vtp`
void add_vmamba_study(CLI::App* experiment, Runner* run);          // `sieve experiment vmamba`
void add_projectors_study(CLI::App* experiment, Runner* run);      // `sieve experiment projectors`

}  // namespace sieve::tools
