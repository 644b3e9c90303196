// tools/cli/infer.cpp — `sieve infer CKPT INPUT`: run a checkpoint on inputs, write its outputs.
//
//   sieve infer CKPT data/mnist/t10k-images-idx3-ubyte            CSV on stdout
//   sieve infer CKPT images.safetensors --out predictions.safetensors
// INPUT is one of
//   an image file (.png, .jpg, .jpeg, .bmp) or a directory of them: decoded to the model's
//     channels and resized (bilinear) to its input size; rows are named by file;
//   an IDX file of images (N, H, W) or (N, C, H, W), ubyte pixels scaled to [0, 1];
//   a .safetensors file with one float tensor (or one named "inputs"): (N, C, H, W) or (C, H, W)
//     in [0, 1];
//   for a sequence model's checkpoint, a .safetensors file of its task's inputs: int64 tokens
//     (N, L) (each in the task's vocabulary) or float features (N, L, C); the logits are per
//     sequence, or per position (rows "sequence:position"; (N, L, K) in --out FILE.safetensors).
// Inputs are normalised as in training. Output: CSV (index or file, prediction, the class name for
// a model trained on image folders, one logit per class) on stdout or to --out FILE.csv, or
// --out FILE.safetensors with logits float32 (N, classes) and predictions int64 (N). A model with
// early exits (DD-ViT; --policy and --threshold choose them for the run) adds each input's depth:
// a `depth` column, or depths int64 (N).
//
//   sieve infer runs/clip/checkpoint.safetensors shoe.png --labels "a shoe,a shirt,the digit 3"
// A model whose classes are texts (CLIP) classifies zero-shot into the labels given: one class per
// label, its text as written; the CSV then has the predicted label and each label's probability
// (the softmax of the 100·cosine logits) in a column named by the label.
//
// What it is not: evaluation against labels (`sieve eval`).
// Extend: a new input kind is a branch in read_inputs that ends in float (N, C, H, W) in [0, 1].
#include <cstdio>
#include <filesystem>
#include <memory>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/captions.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "models/ddvit.h"
#include "nn/checkpoint.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include "tools/cli/commands.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

struct InferFlags {
  std::string checkpoint, input, out, labels;
  CLI::Option* labels_flag = nullptr;
  RunCheckpointFlags run;
};

// "a shoe, a shirt,the digit 3" → {"a shoe", "a shirt", "the digit 3"}: split at commas, spaces
// around each label dropped. No label, or an empty one, is an error naming --labels.
std::vector<std::string> parse_labels(const std::string& text) {
  std::vector<std::string> labels;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string label = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t first = label.find_first_not_of(" \t"), last = label.find_last_not_of(" \t");
    label = first == std::string::npos ? "" : label.substr(first, last - first + 1);
    SIEVE_CHECK(!label.empty(), "--labels: {}", text.find_first_not_of(" \t,") == std::string::npos
                                                    ? std::string("no labels given")
                                                    : fmt::format("label {} is empty", labels.size() + 1));
    labels.push_back(std::move(label));
    if (comma == std::string::npos) return labels;
    start = comma + 1;
  }
}

// --labels: the model's classes become the labels (checked against its text context first).
void use_labels(nn::Module& model, const InferFlags& f, const nn::Checkpoint& checkpoint) {
  auto* text_classes = dynamic_cast<models::HasTextClasses*>(&model);
  SIEVE_CHECK(text_classes != nullptr, "--labels: {} holds a '{}' model, whose classes are fixed; labels need a model "
              "whose classes are texts (clip)", f.checkpoint, checkpoint.model);
  const std::vector<std::string> labels = parse_labels(f.labels);
  const models::ModelConfig config = models::complete_config(models::find_model(checkpoint.model), checkpoint.config);
  encode_texts(labels, config.get_int("context"), "--labels");  // a label too long: an error naming the flag
  std::vector<std::vector<std::string>> classes;
  for (const std::string& label : labels) classes.push_back({label});
  text_classes->set_zero_shot_texts(std::move(classes));
}

Tensor read_inputs(const std::string& path, const DatasetInfo& data, std::vector<std::string>* names) {
  if (std::filesystem::is_directory(path)) {
    *names = list_images(path);
    if (names->empty()) fail_file(path, "no .png, .jpg, .jpeg or .bmp files in this directory");
  } else if (is_image_path(path)) {
    *names = {path};
  }
  if (!names->empty()) return load_images(*names, data.image_size, data.image_size, static_cast<int>(data.channels));
  if (path.ends_with(".safetensors")) {
    SafetensorsFile file = load_safetensors(path);
    Tensor t;
    if (file.tensors.contains("inputs"))
      t = file.tensors.at("inputs");
    else if (file.tensors.size() == 1)
      t = file.tensors.begin()->second;
    else
      fail_file(path, "holds {} tensors and none named 'inputs'", file.tensors.size());
    if (t.dtype() != DType::f32 && t.dtype() != DType::f64) fail_file(path, "inputs must be floats, got {}", t.describe());
    return t.to(DType::f32);
  }
  IdxArray idx = load_idx(path);
  if (idx.type != IdxType::u8) fail_file(path, "IDX images must be ubyte, got {}", idx_type_name(idx.type));
  Tensor t = idx.to_tensor(DType::f32, 1.0 / 255.0);
  if (t.ndim() == 3) t = t.unsqueeze(1);  // (N, H, W): one channel
  return t;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// One row per input: its index (or file name, for images), the predicted class, the values
// (logits, or with labels their probabilities). With class names (image folders, labels) a `class`
// column follows the prediction; value columns are named logit_0, ... or by value_names.
// depths (a model with early exits): blocks each input ran, a `depth` column after the class.
void write_csv(std::FILE* out, const std::vector<float>& logits, const std::vector<int64_t>& predicted,
               int64_t classes, const std::vector<std::string>& names, const std::vector<std::string>& class_names,
               const std::vector<std::string>& value_names, const std::vector<int64_t>& depths,
               const std::string& first_column) {
  const std::string first = names.empty() ? "index" : first_column.empty() ? "file" : first_column;
  std::fprintf(out, "%s,prediction%s%s", first.c_str(), class_names.empty() ? "" : ",class",
               depths.empty() ? "" : ",depth");
  for (int64_t c = 0; c < classes; ++c)
    if (value_names.empty())
      std::fprintf(out, ",logit_%lld", static_cast<long long>(c));
    else
      std::fprintf(out, ",%s", csv_field(value_names[static_cast<size_t>(c)]).c_str());
  std::fprintf(out, "\n");
  for (size_t i = 0; i < predicted.size(); ++i) {
    if (names.empty())
      std::fprintf(out, "%zu,%lld", i, static_cast<long long>(predicted[i]));
    else  // a comma or quote in a file name would break the row: quote it as CSV does
      std::fprintf(out, "%s,%lld", csv_field(names[i]).c_str(), static_cast<long long>(predicted[i]));
    if (!class_names.empty()) std::fprintf(out, ",%s", csv_field(class_names.at(predicted[i])).c_str());
    if (!depths.empty()) std::fprintf(out, ",%lld", static_cast<long long>(depths[i]));
    for (int64_t c = 0; c < classes; ++c) std::fprintf(out, ",%.6g", logits[i * static_cast<size_t>(classes) + c]);
    std::fprintf(out, "\n");
  }
}

// What infer writes: logits (N, K) (or probabilities), one row per input.
struct Outputs {
  Tensor logits = {};
  std::vector<std::string> names = {}, class_names = {}, value_names = {};
  std::vector<int64_t> depths = {};
  bool probabilities = false;
  std::string first_column = "";  // the CSV's first header when names are given (default "file")
  Tensor keep_shape = {};         // sequences per token: safetensors keeps (N, L, K)
};

void write_outputs(const InferFlags& f, const Outputs& o) {
  const int64_t classes = o.logits.size(-1);
  auto csv = [&](std::FILE* file) {
    write_csv(file, o.logits.to_vector<float>(), argmax(o.logits, -1).to_vector<int64_t>(), classes, o.names,
              o.class_names, o.value_names, o.depths, o.first_column);
  };
  if (f.out.ends_with(".safetensors")) {
    const Tensor logits = o.keep_shape.defined() ? o.logits.reshape(o.keep_shape.shape()) : o.logits;
    TensorMap outputs = {{o.probabilities ? "probabilities" : "logits", logits},
                         {"predictions", argmax(logits, -1)}};
    if (!o.depths.empty()) outputs["depths"] = from_vector<int64_t>(o.depths, {static_cast<int64_t>(o.depths.size())});
    save_safetensors(f.out, outputs, {{"checkpoint", f.checkpoint}, {"input", f.input}});
  } else if (f.out.empty()) {
    csv(stdout);
  } else {
    SIEVE_CHECK(f.out.ends_with(".csv"), "--out {}: give a .csv or .safetensors file", f.out);
    const std::string tmp = f.out + ".tmp";
    std::FILE* file = std::fopen(tmp.c_str(), "w");
    if (file == nullptr) fail_file(f.out, "cannot write: {}", std::strerror(errno));
    csv(file);
    const bool ok = std::fflush(file) == 0 && std::ferror(file) == 0;
    std::fclose(file);
    if (!ok || std::rename(tmp.c_str(), f.out.c_str()) != 0) fail_file(f.out, "cannot write: {}", std::strerror(errno));
  }
  if (!f.out.empty())
    std::printf("%s: %lld predictions (%lld classes)\n", f.out.c_str(), static_cast<long long>(o.logits.size(0)),
                static_cast<long long>(classes));
}

// A sequence model's checkpoint: tokens (N, L) int64 or features (N, L, C) float from a safetensors
// file, as its task feeds them (tools/train/data.h); logits per sequence, or per position.
void infer_sequences(const InferFlags& f, const nn::Checkpoint& checkpoint, nn::Module& model) {
  const SequenceTask task = SequenceTask::from_json(checkpoint.data, checkpoint.path);
  SIEVE_CHECK(f.input.ends_with(".safetensors"), "{}: a sequence model ({}) reads a .safetensors file of {}", f.input,
              task.name, task.vocab > 0 ? "int64 tokens (N, L)" : "float features (N, L, C)");
  SafetensorsFile file = load_safetensors(f.input);
  if (!file.tensors.contains("inputs") && file.tensors.size() != 1)
    fail_file(f.input, "holds {} tensors and none named 'inputs'", file.tensors.size());
  Tensor x = file.tensors.contains("inputs") ? file.tensors.at("inputs") : file.tensors.begin()->second;
  if (task.vocab > 0) {
    if (x.ndim() == 1) x = x.unsqueeze(0);
    if (x.dtype() != DType::i64 || x.ndim() != 2 || x.size(1) < 1)
      fail_file(f.input, "inputs are {}; task {} takes int64 tokens (N, L)", x.describe(), task.name);
    const std::vector<int64_t> tokens = x.to_vector<int64_t>();
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] < 0 || tokens[i] >= task.vocab)
        fail_file(f.input, "token {} at position {} is outside the vocabulary [0, {})", tokens[i], i, task.vocab);
  } else {
    if (x.ndim() == 2) x = x.unsqueeze(0);
    if ((x.dtype() != DType::f32 && x.dtype() != DType::f64) || x.ndim() != 3 || x.size(2) != task.in_channels)
      fail_file(f.input, "inputs are {}; task {} takes float features (N, L, {})", x.describe(), task.name,
                task.in_channels);
    if (const int64_t bad = count_non_finite(x); bad > 0)
      fail_file(f.input, "holds {} non-finite values (NaN or inf)", bad);
    x = x.to(DType::f32);
  }
  const int64_t n = x.size(0), length = x.size(1), batch = sequence_eval_batch(f.run.batch_size, length);
  std::vector<Tensor> parts;
  {
    NoGradGuard no_grad;
    model.eval();
    for (int64_t start = 0; start < n; start += batch)
      parts.push_back(model.forward(x.narrow(0, start, std::min(batch, n - start)).to(model.device())).to(kCPU));
  }
  const Tensor logits = cat(parts, 0);
  Outputs out;
  if (logits.ndim() == 3) {  // per position: one row "sample:position" each
    out.logits = logits.reshape({-1, logits.size(2)});
    out.keep_shape = logits;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < length; ++t) out.names.push_back(fmt::format("{}:{}", i, t));
    out.first_column = "sequence:position";
  } else {
    out.logits = logits;
  }
  write_outputs(f, out);
}

int run_infer(const InferFlags& f) {
  const Device device = parse_device(f.run.device);
  for (const std::string& input : {f.checkpoint, f.input})
    SIEVE_CHECK(f.out.empty() || !same_file(f.out, input), "--out {}: that is the input {}; write the predictions "
                "somewhere else (the input is kept)", f.out, input);
  const nn::Checkpoint checkpoint = nn::load_checkpoint(f.checkpoint);
  SIEVE_CHECK(checkpoint.model != "vlm", "{}: a vlm answers questions; ask them with sieve chat {} --image FILE "
              "\"what is this?\"", f.checkpoint, f.checkpoint);
  models::ModelPtr model = model_from_checkpoint(checkpoint, f.checkpoint, f.run.model_overrides());
  model->to(device);
  if (SequenceTask::describes_task(checkpoint.data)) {
    SIEVE_CHECK(f.labels_flag->count() == 0, "--labels: {} is a sequence model's checkpoint", f.checkpoint);
    infer_sequences(f, checkpoint, *model);
    return 0;
  }
  if (f.labels_flag->count() > 0) use_labels(*model, f, checkpoint);
  const DatasetInfo data = DatasetInfo::from_json(checkpoint.data, f.checkpoint);
  std::vector<std::string> names;
  Tensor inputs = read_inputs(f.input, data, &names);
  if (inputs.ndim() == 3) inputs = inputs.unsqueeze(0);  // one (C, H, W) image
  if (const int64_t bad = count_non_finite(inputs); bad > 0)
    fail_file(f.input, "holds {} non-finite values (NaN or inf) among {}; the model would give no meaningful answer",
              bad, inputs.numel());
  const Shape expected = {data.channels, data.image_size, data.image_size};
  if (inputs.ndim() != 4 || Shape(inputs.shape().begin() + 1, inputs.shape().end()) != expected)
    fail_file(f.input, "inputs are {}; the model takes (N, {}, {}, {})", shape_str(inputs.shape()), data.channels,
              data.image_size, data.image_size);

  // A model with early exits reports each input's depth after every batch.
  auto* early_exit = dynamic_cast<models::DynamicDepthViT*>(model.get());
  std::vector<int64_t> depths;
  const std::function<Tensor(const Tensor&)> run = [&](const Tensor& x) {
    Tensor y = model->forward(x);
    if (early_exit != nullptr) depths.insert(depths.end(), early_exit->last_depths.begin(), early_exit->last_depths.end());
    return y;
  };
  Outputs out{.logits = predict_logits(*model, inputs.contiguous(), data, f.run.batch_size,
                                        f.run.quiet || f.out.empty(), run),
              .names = names, .class_names = data.class_names};
  out.depths = depths;
  if (f.labels_flag->count() > 0) {
    out.class_names = out.value_names = parse_labels(f.labels);
    out.logits = softmax(out.logits, -1);  // each label's probability
    out.probabilities = true;
  }
  write_outputs(f, out);
  return 0;
}

}  // namespace

void add_infer_command(CLI::App& app, Runner* run) {
  CLI::App* cmd = app.add_subcommand("infer", "run a checkpoint on images (files, IDX or safetensors) or a sequence "
                                              "model on token or feature sequences (safetensors); write logits and "
                                              "predictions as CSV or safetensors");
  auto f = std::make_shared<InferFlags>();
  cmd->add_option("CKPT", f->checkpoint, "a checkpoint written by sieve train")->required();
  cmd->add_option("INPUT", f->input, "an image (.png/.jpg/.bmp), a directory of images, an IDX image file, or a "
                                     ".safetensors file of images in [0, 1]; for a sequence model, a .safetensors "
                                     "file of int64 tokens (N, L) or float features (N, L, C)")->required();
  cmd->add_option("--out", f->out, "FILE.csv or FILE.safetensors (default: CSV on stdout)");
  f->labels_flag = cmd->add_option("--labels", f->labels,
                                   "models whose classes are texts (clip): classify zero-shot into these "
                                   "comma-separated labels and print each one's probability");
  add_run_checkpoint_flags(cmd, f->run);
  cmd->callback([run, f] { *run = [f] { return run_infer(*f); }; });
}

}  // namespace sieve::tools
