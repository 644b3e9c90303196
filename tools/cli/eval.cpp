// tools/cli/eval.cpp — `sieve eval CKPT`: a checkpoint's loss and accuracy on a dataset split, or
// on its sequence task at any length.
//
//   sieve eval runs/mlp-mnist/checkpoint.safetensors                 the test split it trained for
//   sieve eval CKPT --dataset fashion-mnist --split train
// The model is rebuilt from the checkpoint's metadata (no model flags); the dataset defaults to
// the one it was trained on and the input is normalised exactly as in training. Another dataset
// must have the same image shape and number of classes — but for a model whose classes are texts
// (CLIP), which classifies any dataset's classes zero-shot from their held-out captions.
//
//   sieve eval runs/transformer-induction/checkpoint.safetensors                  its own test set
//   sieve eval CKPT --seq-len 1024 --test-size 256          length generalisation: a fresh test set
// A sequence model's checkpoint names its task (tools/train/data.h); the test set is drawn again from
// the run's test seed (2·seed + 1) at --seq-len (default: the training length) with --test-size
// samples (default: the run's). The batch is at most 2^18 / L sequences (trainer.h), so long
// lengths fit in memory; attention's time still grows as L².
//
//   sieve eval runs/vlm/checkpoint.safetensors                   exact match per question kind
// A VLM's checkpoint (tools/train/vlm.h) is asked --test-size (default: its run's test_examples)
// held-out questions of each kind about the split's images, and answers greedily.
//
//   sieve eval runs/clip/checkpoint.safetensors --dataset mnist --probe
// --probe (models with image features: clip) also trains a linear classifier on the frozen
// features of the train split and reports its test accuracy beside the zero-shot one
// (tools/train/probe.h). --reduce applies token reduction for this run (models/token_reduction.h).
//
// What it is not: inference on your own inputs (`sieve infer`).
// Extend: a new figure (per-class accuracy, ...) is computed from evaluate()'s logits here.
#include <memory>

#include "core/error.h"
#include "models/vlm.h"
#include "nn/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/probe.h"
#include "tools/train/trainer.h"
#include "tools/train/vlm.h"

namespace sieve::tools {

namespace {

struct EvalFlags {
  std::string checkpoint, dataset, data_dir = "data", split = "test";
  int64_t seq_len = 0, test_size = 0;
  bool probe = false;
  ProbeOptions probe_options;
  CLI::Option *dataset_flag = nullptr, *seq_len_flag = nullptr, *test_size_flag = nullptr;
  RunCheckpointFlags run;
};

int run_sequence_eval(const EvalFlags& f, const nn::Checkpoint& checkpoint, nn::Module& model) {
  SIEVE_CHECK(f.dataset_flag->count() == 0, "--dataset: {} is a sequence model's checkpoint; it evaluates on its "
              "task, at --seq-len", f.checkpoint);
  const SequenceTask trained = SequenceTask::from_json(checkpoint.data, checkpoint.path);
  const bool train = f.split == "train";
  const int64_t size = f.test_size > 0 ? f.test_size : train ? trained.train_size : trained.test_size;
  SequenceTask task = resolve_task(trained.name, f.seq_len > 0 ? f.seq_len : trained.seq_len, trained.vocab,
                                   trained.num_memorize, train ? size : trained.train_size, train ? trained.test_size : size,
                                   trained.seed);
  const SequenceSplit set = make_task_split(task, f.data_dir, train);
  const int64_t length = task.input_length();
  const EvalResult r = evaluate_sequences(model, set, sequence_eval_batch(f.run.batch_size, length), f.run.quiet);
  std::printf("%s %s, length %lld (trained at %lld): accuracy %.2f%%  loss %.4f  (%lld sequences, %lld targets, "
              "%.2f s, %.0f sequences/s)\n", task.name.c_str(), f.split.c_str(), static_cast<long long>(length),
              static_cast<long long>(trained.input_length()), 100.0 * r.accuracy, r.loss,
              static_cast<long long>(set.inputs.size(0)), static_cast<long long>(r.samples), r.seconds,
              static_cast<double>(set.inputs.size(0)) / r.seconds);
  return 0;
}

// A VLM's checkpoint: exact match per question kind on held-out questions about the split's images.
int run_vlm_eval(const EvalFlags& f, const nn::Checkpoint& checkpoint, models::VisionLanguageModel& model) {
  for (CLI::Option* flag : {f.dataset_flag, f.seq_len_flag})
    SIEVE_CHECK(flag->count() == 0, "{}: {} is a vlm checkpoint; it is asked questions about mnist+fashion-mnist",
                flag->get_name(), f.checkpoint);
  SIEVE_CHECK(!f.probe, "--probe: {} is a vlm checkpoint (a probe is for image features: clip)", f.checkpoint);
  const DatasetInfo data = DatasetInfo::from_json(checkpoint.data, f.checkpoint);
  const ImageSet set = load_split(data, f.data_dir, f.split == "train");
  const int64_t per_kind = f.test_size > 0 ? f.test_size : checkpoint.config.value("test_examples", int64_t{200});
  const VlmEvalResult r = evaluate_vlm(model, normalised(set.images, data).to(model.device()), set.labels, per_kind,
                                       /*seed=*/1, f.run.quiet);
  std::printf("%s %s, held-out wordings: exact match %.2f%%  answer loss %.4f  (%lld questions, %.1f s)\n",
              data.name.c_str(), f.split.c_str(), 100.0 * r.accuracy(), r.loss,
              static_cast<long long>(per_kind * std::ssize(vlm_question_kinds())), r.seconds);
  for (const std::string& kind : vlm_question_kinds()) {
    const auto [right, asked] = r.per_kind.at(kind);
    std::printf("  %-7s %6.2f%%  (%lld of %lld)\n", kind.c_str(), 100.0 * static_cast<double>(right) / static_cast<double>(asked),
                static_cast<long long>(right), static_cast<long long>(asked));
  }
  return 0;
}

int run_eval(const EvalFlags& f) {
  const Device device = parse_device(f.run.device);
  const nn::Checkpoint checkpoint = nn::load_checkpoint(f.checkpoint);
  models::ModelPtr model = model_from_checkpoint(checkpoint, f.checkpoint, f.run.model_overrides());
  model->to(device);
  if (auto* vlm = dynamic_cast<models::VisionLanguageModel*>(model.get())) return run_vlm_eval(f, checkpoint, *vlm);
  if (SequenceTask::describes_task(checkpoint.data)) return run_sequence_eval(f, checkpoint, *model);
  for (CLI::Option* flag : {f.seq_len_flag, f.test_size_flag})
    SIEVE_CHECK(flag->count() == 0, "{}: {} is an image classifier's checkpoint; {} is for sequence models",
                flag->get_name(), f.checkpoint, flag->get_name());
  const DatasetInfo trained_on = DatasetInfo::from_json(checkpoint.data, f.checkpoint);
  DatasetInfo data = trained_on;
  // A model whose classes are texts (CLIP) classifies any dataset's classes zero-shot.
  const bool text_classes = dynamic_cast<models::HasTextClasses*>(model.get()) != nullptr;
  if (!f.dataset.empty() && f.dataset != trained_on.name) {
    data = find_dataset(f.dataset);
    SIEVE_CHECK(data.channels == trained_on.channels && data.image_size == trained_on.image_size &&
                    (text_classes || data.classes == trained_on.classes),
                "--dataset {}: images {}×{}×{} with {} classes, but {} was trained on {} ({}×{}×{}, {} classes)",
                data.name, data.channels, data.image_size, data.image_size, data.classes, f.checkpoint,
                trained_on.name, trained_on.channels, trained_on.image_size, trained_on.image_size, trained_on.classes);
    data.mean = trained_on.mean;  // the model expects its training normalisation
    data.std = trained_on.std;
    set_class_texts(*model, data);
  }
  const ImageSet set = load_split(data, f.data_dir, f.split == "train");
  const EvalResult r = evaluate(*model, set, data, f.run.batch_size, f.run.quiet);
  std::printf("%s %s: accuracy %.2f%%  loss %.4f  (%lld images, %.2f s, %.0f images/s)\n", data.name.c_str(),
              f.split.c_str(), 100.0 * r.accuracy, r.loss, static_cast<long long>(r.samples), r.seconds,
              static_cast<double>(r.samples) / r.seconds);
  if (f.probe) {
    ProbeOptions options = f.probe_options;
    options.quiet = f.run.quiet;
    options.eval_batch_size = f.run.batch_size;
    const ImageSet train = load_split(data, f.data_dir, /*train=*/true);
    const ProbeResult p = linear_probe(*model, train, f.split == "train" ? train : set, data, options);
    std::printf("%s %s: linear probe on frozen features: accuracy %.2f%% (train %.2f%%; %lld features, %lld "
                "epochs, %.1f s); zero-shot %+.2f points from it\n", data.name.c_str(), f.split.c_str(),
                100.0 * p.test_accuracy, 100.0 * p.train_accuracy, static_cast<long long>(p.features),
                static_cast<long long>(p.epochs), p.seconds, 100.0 * (r.accuracy - p.test_accuracy));
  }
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Runner* run) {
  CLI::App* cmd = app.add_subcommand("eval", "loss and accuracy of a checkpoint on a dataset split");
  auto f = std::make_shared<EvalFlags>();
  cmd->add_option("CKPT", f->checkpoint, "a checkpoint written by sieve train")->required();
  f->dataset_flag =
      cmd->add_option("--dataset", f->dataset, "image models: dataset (default: the one the checkpoint was trained on)");
  f->seq_len_flag = cmd->add_option("--seq-len", f->seq_len, "sequence models: test length (default: the training one)")
                        ->check(kPositive);
  f->test_size_flag = cmd->add_option("--test-size", f->test_size,
                                      "sequence models: sequences to draw (default: the run's test size); vlm: "
                                      "questions per kind (default: the run's test_examples)")
                          ->check(kPositive);
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--split", f->split, "test or train")->capture_default_str()->check(CLI::IsMember({"test", "train"}));
  CLI::Option* probe = cmd->add_flag("--probe", f->probe,
                                     "models with image features (clip): also a linear probe on the frozen "
                                     "features, trained on the train split");
  cmd->add_option("--probe-epochs", f->probe_options.epochs, "linear probe: passes over the train features")
      ->capture_default_str()
      ->check(kPositive)
      ->needs(probe);  // alone it would be silently ignored
  add_run_checkpoint_flags(cmd, f->run);
  cmd->callback([run, f] { *run = [f] { return run_eval(*f); }; });
}

}  // namespace sieve::tools
