// tools/train/trainer.h — the training loop behind `sieve train`, and evaluation behind `sieve eval`.
//
// One run: build the model from its registry spec and a seed; train it on an image dataset
// (--dataset) or, for a sequence model (ModelSpec::default_task set), on a sequence task (--task,
// tools/train/data.h) with AdamW (no decay on biases, norms and flagged parameters), linear warmup +
// cosine decay, cross-entropy (or the model's own loss, models::HasTrainingLoss: DD-ViT sums one
// per exit; per-token logits (B, L, K) are flattened against targets (B, L), -100 ignored) and
// gradient clipping;
// after every epoch the test split is evaluated, a row goes to metrics.csv, curves.png is redrawn
// and a training checkpoint is written (checkpoint.safetensors: weights, optimizer state, step,
// position in the epoch, RNG). Everything random is a function of --seed, the epoch and the
// batch number, so `--resume` continues bit-identically: the weights after N steps straight and
// after N/2 steps + resume + N/2 are equal to the bit (tests/tools/test_cli.py checks it).
//
// What it is not: the models (models/), the data (tools/train/data.h, datasets/loader.h).
// Extend: a new run option goes in RunOptions, its to_json/from_json, and tools/cli/train.cpp's flags.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "models/registry.h"
#include "dist/data_parallel.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "tools/train/data.h"

namespace sieve::tools {

// Everything that defines a training run; stored in the checkpoint, restored by --resume.
struct RunOptions {
  std::string dataset = "mnist";
  std::string data_dir = "data";
  int64_t image_size = 32;      // image folders only: images are resized to this square size
  int64_t channels = 3;         // image folders only: 1 grey, 3 RGB, ...
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double lr = 1e-3;
  double weight_decay = 0.01;
  int64_t warmup_steps = 100;
  double clip = 1.0;            // max gradient norm; 0: no clipping
  uint64_t seed = 0;
  bool augment = false;         // random crop (pad 2) and, but on the MNIST sets, horizontal flip
  int64_t max_steps = 0;        // stop (and checkpoint) after this many steps in total; 0: all
  int64_t checkpoint_every = 0; // also checkpoint every N steps; 0: at epoch ends only
  int64_t eval_batch_size = 1000;
  // Sequence models only (tools/train/data.h's task table); task empty: an image run on `dataset`.
  // Stored resolved (no 0 left: `sieve train` fills the task's defaults in before the run), and
  // written to JSON only when task is set, so image runs' stored options are as before.
  std::string task;
  int64_t seq_len = 0, vocab = 0, num_memorize = 0, train_size = 0, test_size = 0;  // 0: the task's default

  nlohmann::json to_json() const;
  static RunOptions from_json(const nlohmann::json& j);
};

// The bounds of every numeric run option, in one list: `sieve train`'s flags are checked against
// it (tools/cli: run_option_check) and so is a checkpoint's stored run when it is resumed
// (RunOptions::from_json), so a file cannot carry a value the command line would refuse. key: the
// option's JSON name (the flag is --key with '-' for '_'); a value must be finite and in [lo, hi]
// (or (lo, hi] when !lo_inclusive).
struct RunOptionBound {
  const char* key;
  double lo, hi;
  bool lo_inclusive = true;
};
const std::vector<RunOptionBound>& run_option_bounds();
const RunOptionBound& run_option_bound(const std::string& key);  // an unknown key is a logic error
// Whether v is finite and within b.
bool within(const RunOptionBound& b, double v);
// The rule's words for messages: "≥ 0", "> 0", "1 to 1000000".
std::string bound_words(const RunOptionBound& b);

struct EvalResult {
  double loss = 0, accuracy = 0;  // mean cross-entropy; fraction correct
  int64_t samples = 0;            // images, or counted targets (per-token tasks: positions that are not -100)
  double seconds = 0;
};

struct TrainResult {
  EvalResult test;          // of the last evaluation (samples 0 when none ran in this process)
  int64_t test_epoch = 0;   // the epoch (from 1) that evaluation followed
  int64_t steps = 0;        // steps taken in all, when the run stopped
  std::string checkpoint;   // path of the last checkpoint written
};

// Starts a new run (resume == nullptr) or continues one; init: weights to start from (a
// stripped checkpoint: everything but the head). Writes to out_dir (created when missing).
// device: where the model, its optimizer state and each batch live; the model is initialised on
// the CPU and moved, so a run's initial weights are the same on either device. The device is not
// part of the run: a run may be resumed on another. In a job of several processes (dist/dist.h)
// it trains data-parallel; zero1 shards the optimizer state over the ranks (ZeRO-1, the same
// weights to the bit). Neither is part of the run: a checkpoint resumes either way.
TrainResult train(const models::ModelSpec& spec, models::ModelConfig config, RunOptions options,
                  const std::string& out_dir, const nn::Checkpoint* resume, const nn::Checkpoint* init, bool quiet,
                  Device device = kCPU, bool zero1 = false);

// One training step's loss and logits: the model's own (models::HasTrainingLoss) or
// cross_entropy(model.forward(inputs), targets).
models::StepOutput training_loss(nn::Module& model, const Tensor& inputs, const Tensor& targets);

// What follows the loss in every training step — the trainer's, the benchmarks' and the studies'
// timed ones: backward, gradient clipping to `clip` (0: none), the optimizer's step, the model's
// after_step (models::HasStepHooks: CLIP's logit-scale clamp), zero_grad.
// A loss or gradient norm that is not finite stops the run here, before the weights change: an
// error naming `step` (when ≥ 0) and the value, so a diverged run never writes NaN weights and its
// last checkpoint keeps the weights from before.
// Returns the loss's value (read once: on a GPU each read waits for the device).
// ddp: in a job of several processes, the gradients are averaged over the ranks after backward
// (dist/data_parallel.h), so every rank takes the same step.
double apply_gradients(const Tensor& loss, nn::Module& model, nn::Optimizer& optimizer, double clip,
                       int64_t step = -1, dist::DataParallel* ddp = nullptr);

// For a model whose classes are texts (models::HasTextClasses, CLIP): each class's training and
// held-out captions for `data`'s classes (datasets/captions.h). Other models: nothing.
void set_class_texts(nn::Module& model, const DatasetInfo& data);

// The logits (N, ...) of `model` over images (N, C, H, W) in [0, 1], normalised as `data` says,
// in eval mode without gradients, batch by batch on the model's device; returned on the CPU.
// `outputs`, when given, replaces model.forward (the probe's features).
Tensor predict_logits(nn::Module& model, const Tensor& images, const DatasetInfo& data, int64_t batch_size,
                      bool quiet, const std::function<Tensor(const Tensor&)>& outputs = {});
// Correct predictions (argmax of logits (..., C)) among targets (...) that count (not -100);
// *counted receives how many counted.
int64_t count_correct(const Tensor& logits, const Tensor& targets, int64_t* counted);

// How many values of a floating-point tensor are NaN or ±inf (0 for integer tensors).
int64_t count_non_finite(const Tensor& t);

// Mean loss and accuracy of `model` over a labelled set (predict_logits, then cross-entropy).
EvalResult evaluate(nn::Module& model, const ImageSet& set, const DatasetInfo& data, int64_t batch_size,
                    bool quiet);

// ---- sequence models ----

// The task a run's options describe (options.task set), defaults filled in.
SequenceTask run_task(const RunOptions& options);
// Sets a sequence model's data keys (vocab, in_channels, num_classes, per_token) from the task.
void set_task_keys(models::ModelConfig& config, const SequenceTask& task);
// The evaluation batch for sequences of length L: at most `requested`, and at most 2^18 / L
// sequences (at least 1), so activations stay near 2^18 tokens whatever the length.
int64_t sequence_eval_batch(int64_t requested, int64_t length);
// Mean loss and accuracy over the targets that count (not -100), in eval mode without gradients,
// batch by batch on the model's device; samples = the targets counted.
EvalResult evaluate_sequences(nn::Module& model, const SequenceSplit& set, int64_t batch_size, bool quiet);

// Rebuilds the model a checkpoint describes (registry name + config) and loads its weights, in
// eval mode. path is for messages. A stripped head or weights that do not fit are errors.
// overrides: options set for this run over the checkpoint's (`--reduce`: {"reduce": "evit:0.7"});
// a key the model does not have is an error naming the flag --key.
// Parameters that are not finite (a diverged run's) are an error naming the tensor.
models::ModelPtr model_from_checkpoint(const nn::Checkpoint& checkpoint, const std::string& path,
                                       const nlohmann::json& overrides = nlohmann::json::object());

}  // namespace sieve::tools
