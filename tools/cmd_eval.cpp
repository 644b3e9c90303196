// tools/cmd_eval.cpp — `sieve eval CKPT`: a checkpoint's loss and accuracy on a dataset split.
//
//   sieve eval runs/mlp-mnist/checkpoint.safetensors                 the test split it trained for
//   sieve eval CKPT --dataset fashion-mnist --split train
// The model is rebuilt from the checkpoint's metadata (no model flags); the dataset defaults to
// the one it was trained on and the input is normalised exactly as in training. Another dataset
// must have the same image shape and number of classes.
//
// What it is not: inference on your own inputs (`sieve infer`).
// Extend: a new figure (per-class accuracy, ...) is computed from evaluate()'s logits here.
#include <memory>

#include "core/error.h"
#include "nn/checkpoint.h"
#include "tools/commands.h"
#include "tools/trainer.h"

namespace sieve::tools {

namespace {

struct EvalFlags {
  std::string checkpoint, dataset, data_dir = "data", split = "test";
  RunCheckpointFlags run;
};

int run_eval(const EvalFlags& f) {
  check_device(f.run.device);
  const nn::Checkpoint checkpoint = nn::load_checkpoint(f.checkpoint);
  models::ModelPtr model = model_from_checkpoint(checkpoint, f.checkpoint);
  const DatasetInfo trained_on = DatasetInfo::from_json(checkpoint.data);
  DatasetInfo data = trained_on;
  if (!f.dataset.empty() && f.dataset != trained_on.name) {
    data = find_dataset(f.dataset);
    SIEVE_CHECK(data.channels == trained_on.channels && data.image_size == trained_on.image_size &&
                    data.classes == trained_on.classes,
                "--dataset {}: images {}×{}×{} with {} classes, but {} was trained on {} ({}×{}×{}, {} classes)",
                data.name, data.channels, data.image_size, data.image_size, data.classes, f.checkpoint,
                trained_on.name, trained_on.channels, trained_on.image_size, trained_on.image_size, trained_on.classes);
    data.mean = trained_on.mean;  // the model expects its training normalisation
    data.std = trained_on.std;
  }
  const ImageSet set = load_split(data, f.data_dir, f.split == "train");
  const EvalResult r = evaluate(*model, set, data, f.run.batch_size, f.run.quiet);
  std::printf("%s %s: accuracy %.2f%%  loss %.4f  (%lld images, %.2f s, %.0f images/s)\n", data.name.c_str(),
              f.split.c_str(), 100.0 * r.accuracy, r.loss, static_cast<long long>(r.samples), r.seconds,
              static_cast<double>(r.samples) / r.seconds);
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Runner* run) {
  CLI::App* cmd = app.add_subcommand("eval", "loss and accuracy of a checkpoint on a dataset split");
  auto f = std::make_shared<EvalFlags>();
  cmd->add_option("CKPT", f->checkpoint, "a checkpoint written by sieve train")->required();
  cmd->add_option("--dataset", f->dataset, "dataset (default: the one the checkpoint was trained on)");
  cmd->add_option("--data-dir", f->data_dir, "where datasets live")->capture_default_str();
  cmd->add_option("--split", f->split, "test or train")->capture_default_str()->check(CLI::IsMember({"test", "train"}));
  add_run_checkpoint_flags(cmd, f->run);
  cmd->callback([run, f] { *run = [f] { return run_eval(*f); }; });
}

}  // namespace sieve::tools
