// tools/train/vlm.h — `sieve train vlm` and `sieve eval` of its checkpoints: the small LLaVA
// (models/vlm.h) trained in LLaVA's two stages on generated questions (datasets/vqa.h), and its
// exact-match accuracy per question kind.
//
//   stage 1  the projector alone (language model and tower frozen) learns to caption scenes:
//            `stage1_steps` steps of --batch-size captions, lr --lr (LLaVA: 1e-3). LLaVA's language
//            model comes pretrained; ours starts from scratch, so `stage1_trains all` trains it
//            here too (with the projector alone a random language model barely learns captions)
//   stage 2  projector and language model on the six question kinds in turn, --epochs epochs of
//            `train_examples` fresh examples each (the tower stays frozen throughout)
// Both stages: AdamW (no decay on biases and norms), --warmup-steps then cosine decay, clipping
// to --clip, a loss that is not finite stopping the run before the weights change
// (apply_gradients). Scenes come from the training split of mnist+fashion-mnist with training
// wordings; evaluation asks `test_examples` questions of each kind about test-split images with
// held-out wordings only, answered greedily (generate) and counted right when the answer equals
// the expected one exactly.
// The tower and the images' normalisation come from the CLIP checkpoint named by the model
// option `vision`; its tower's keys (vision_dim, ...) are filled from that file (a different value
// given on the command line is refused). After every stage-2 epoch: metrics.csv (test_acc: exact
// match over all kinds; test_loss: the answers' cross-entropy), answers.csv (exact match per kind),
// curves.png, and checkpoint.safetensors (weights, config, the data's normalisation, the optimizer
// state of a stage stopped inside, and as its "training" the run's options, its step, the sums of
// the epoch under way, answers.csv's rows, the last exact match per kind and whether it finished:
// every step ran, or --max-steps stopped it). Also at stage 1's end, every --checkpoint-every
// steps and where --max-steps stops. `sieve train vlm --resume CKPT` continues such a run to the
// bit (the data stream is a function of the step, the model has no dropout); `sieve experiment
// projectors` reuses or resumes its runs by the same record.
//
// What it is not: batched generation, or the image trainer (trainer.h; the VLM's data and two
// stages are its own). Extend: a new question kind is datasets/vqa.h's; a new stage is a
// run_steps call between the two, with its step range in the position.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "models/registry.h"
#include "models/vlm.h"
#include "tools/train/data.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

// resume: a checkpoint of an unfinished vlm run (its weights, tower included, optimizer state and
// position; `options` are its stored ones, with what `sieve train --resume` lets change).
TrainResult train_vlm(const models::ModelSpec& spec, models::ModelConfig config, const RunOptions& options,
                      const std::string& out_dir, bool quiet, Device device, const nn::Checkpoint* resume = nullptr);

struct VlmEvalResult {
  std::map<std::string, std::pair<int64_t, int64_t>> per_kind;  // kind → (right, asked)
  double loss = 0;                                               // the answers' mean cross-entropy
  double seconds = 0;
  double accuracy() const;  // right / asked over all kinds
};

// `per_kind` held-out questions of each kind (datasets/vqa.h, kinds but caption) about `images`
// (normalised (N, C, H, W)) with their labels (0–19), drawn from `seed`; answered greedily.
VlmEvalResult evaluate_vlm(models::VisionLanguageModel& model, const Tensor& images, const Tensor& labels,
                           int64_t per_kind, uint64_t seed, bool quiet);

// One scene's prefill taken apart (`sieve bench vlm`, `sieve experiment projectors`): the FLOPs the
// profiler counts and the median milliseconds (of `reps`, after one warm-up) of the tower on the
// scene's cells (n, C, H, W), the projector on their features, the language model over the visual
// tokens and the question's bytes, and the whole prefill (prefill_logits) in one go. No gradients.
struct PrefillSplit {
  int64_t tower_flops = 0, projector_flops = 0, lm_flops = 0;
  double tower_ms = 0, projector_ms = 0, lm_ms = 0, prefill_ms = 0;
  int64_t flops() const { return tower_flops + projector_flops + lm_flops; }
};
PrefillSplit measure_prefill(models::VisionLanguageModel& model, const Tensor& cells, const std::string& question,
                             int reps);

// The question kinds stage 2 trains on and evaluation asks (datasets/vqa.h's, caption excepted).
const std::vector<std::string>& vlm_question_kinds();

}  // namespace sieve::tools
