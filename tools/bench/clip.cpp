// tools/bench/clip.cpp — `sieve bench clip`: the CLIP that `sieve train clip` trains, a whole
// training step at a time, beside the same model in PyTorch measured in the same run.
//
// The model comes from the registry (models::find_model("clip") at its defaults for
// mnist+fashion-mnist: 28×28×1 images at patch 2, so 196 patch tokens + CLS, and 20 classes), so
// it is exactly what `sieve train clip` trains. Rows:
//   clip_train_step_bB  ms per step at batch B (default 128), as the trainer runs it: one caption
//                       drawn per image, both towers forward, the contrastive loss with same-class
//                       positives, the zero-shot logits the progress line reports (80 held-out
//                       captions through the text tower, no gradients), backward, clipping, AdamW,
//                       the logit-scale clamp, zero_grad
//   clip_infer_bB       ms per zero-shot forward at batch B (default 256): images and the 80 class
//                       captions, eval mode, no gradients
// The reference is bench_torch.py --mode clip --serve: the same model from torch.nn primitives
// (explicit attention: PyTorch 1.13 has no fused kernel), the same loss, zero-shot logits and
// clamp, with random caption bytes of the same shapes; same threads, steps in alternation (see
// tools/bench/vit.cpp for why). ratio = torch ÷ sieve; the CLIP issue's target for the training
// step is sieve/torch ≤ 0.4.
//
// What it is not: a test of the model (tests/models/test_clip.cpp) or of the trainer's loop.
// Extend: a new row needs a command in bench_torch.py's clip_steps, sent by name.
#include <cmath>
#include <memory>
#include <optional>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "models/registry.h"
#include "nn/optim.h"
#include "tools/bench/common.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

using namespace bench;

struct ClipBenchOptions {
  std::string csv;
  bool quick = false;
  int64_t batch = 128, infer_batch = 256;
};

std::vector<std::string> torch_args(const models::ModelConfig& c, const ClipBenchOptions& o, double lr, double wd,
                                    double clip, int64_t classes) {
  std::vector<std::string> args = {"--mode", "clip"};
  const auto add = [&](const std::string& flag, const auto& value) {
    args.push_back("--" + flag);
    args.push_back(fmt::format("{}", value));
  };
  add("batch", o.batch), add("infer-batch", o.infer_batch);
  add("image-size", c.get_int("image_size")), add("in-channels", c.get_int("in_channels"));
  add("classes", c.get_int("embed_dim")), add("patch", c.get_int("patch")), add("dim", c.get_int("dim"));
  add("depth", c.get_int("depth")), add("heads", c.get_int("heads")), add("mlp-hidden", c.get_int("mlp_hidden"));
  add("text-dim", c.get_int("text_dim")), add("text-depth", c.get_int("text_depth"));
  add("text-heads", c.get_int("text_heads")), add("text-mlp-hidden", c.get_int("text_mlp_hidden"));
  add("context", c.get_int("context")), add("zero-shot-classes", classes);
  add("lr", lr), add("weight-decay", wd), add("clip", clip);
  return args;
}

int run_clip(const ClipBenchOptions& o) {
  std::ofstream out = open_csv(o.csv);
  const Settings s = o.quick ? Settings{2, 5} : Settings{5, 20};
  const int threads = current_threads();
  const DatasetInfo data = find_dataset("mnist+fashion-mnist");
  const models::ModelSpec& spec = models::find_model("clip");
  const models::ModelConfig config = models::complete_config(
      spec, {{"in_channels", data.channels}, {"image_size", data.image_size}, {"num_classes", data.classes}});
  const RunOptions run;  // the trainer's defaults: lr, weight decay, clipping
  progress(fmt::format("{} threads; CLIP {}; train batch {}, inference batch {}; {} warm-up + {} timed steps",
                       threads, config.values().dump(), o.batch, o.infer_batch, s.warmup, s.reps));
  const std::unique_ptr<TorchSession> torch =
      TorchSession::start(torch_args(config, o, run.lr, run.weight_decay, run.clip, data.classes));

  Generator init_gen(0);
  models::ModelPtr model = spec.build(config, &init_gen);
  set_class_texts(*model, data);
  model->no_weight_decay_for_biases_and_norms();
  nn::AdamW optimizer(nn::weight_decay_groups(*model, run.weight_decay),
                      {.lr = run.lr, .weight_decay = run.weight_decay});
  Generator data_gen(1);
  const Tensor images = randn({o.batch, data.channels, data.image_size, data.image_size}, {}, &data_gen);
  const Tensor labels = randint(0, data.classes, {o.batch}, {.dtype = DType::i64}, &data_gen);
  const Tensor infer_images = randn({o.infer_batch, data.channels, data.image_size, data.image_size}, {}, &data_gen);

  progress(fmt::format("training step, batch {}{}", o.batch, torch ? ", sieve and PyTorch in turn" : ""));
  model->train();
  const auto [torch_step, step] = median_alternating(s, torch.get(), "train", [&] {
    const Tensor loss = training_loss(*model, images, labels).loss;
    // Reads the loss, as the trainer does every step, and stops on a non-finite one.
    apply_gradients(loss, *model, optimizer, run.clip);
  });

  progress(fmt::format("zero-shot inference, batch {}", o.infer_batch));
  model->eval();
  const auto [torch_infer, infer] = [&] {
    NoGradGuard no_grad;
    return median_alternating(s, torch.get(), "infer", [&] { model->forward(infer_images); });
  }();

  const auto ms = [](std::optional<double> seconds) { return seconds ? std::optional(*seconds * 1e3) : std::nullopt; };
  const std::string ref = torch ? torch->reference_name() : "torch (unavailable)";
  const std::vector<Row> rows = {
      {fmt::format("clip_train_step_b{}", o.batch), step * 1e3, "ms", ref, ms(torch_step), true},
      {fmt::format("clip_infer_b{}", o.infer_batch), infer * 1e3, "ms", ref, ms(torch_infer), true},
  };
  print_table(fmt::format("sieve bench clip — {} threads", threads), rows);
  if (torch_step) fmt::print("train step: sieve/torch = {:.2f}× (target ≤ 0.4×)\n", step / *torch_step);
  print_parameter_counts(model->num_parameters(), torch.get());
  if (!o.csv.empty()) write_csv(out, o.csv, rows);
  return 0;
}

}  // namespace

void add_bench_clip_command(CLI::App* bench, Runner* run) {
  CLI::App* cmd = bench->add_subcommand(
      "clip", "the CLIP of `sieve train clip`: a training step and zero-shot inference, vs the same model in PyTorch");
  cmd->footer(
      "Rows: clip_train_step_bB (captions, both towers, contrastive loss, zero-shot logits, backward, clip,\n"
      "AdamW, logit-scale clamp) and clip_infer_bB (zero-shot, eval, no gradients). ratio = torch ÷ sieve,\n"
      "higher is better; the training step's sieve/torch is printed too (target ≤ 0.4×).\n"
      "The PyTorch side runs /usr/bin/python3 tools/bench/bench_torch.py --mode clip --serve, in turn with\n"
      "sieve's steps (SIEVE_PYTHON=path to override, none to skip). --threads may follow `clip`.");
  auto o = std::make_shared<ClipBenchOptions>();
  cmd->add_option("--csv", o->csv, "also write rows bench,figure,unit,reference,reference_figure,ratio to FILE");
  cmd->add_flag("--quick", o->quick, "2 warm-up + 5 timed steps instead of 5 + 20 (smoke runs)");
  cmd->add_option("--batch", o->batch, "training batch size")->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{4096}));
  cmd->add_option("--infer-batch", o->infer_batch, "inference batch size")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->callback([run, o] { *run = [o] { return run_clip(*o); }; });
}

}  // namespace sieve::tools
