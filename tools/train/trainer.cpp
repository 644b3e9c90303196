// tools/train/trainer.cpp — the training loop and evaluation (see trainer.h).
#include "tools/train/trainer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "autograd/grad_mode.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/random.h"
#include "datasets/captions.h"
#include "datasets/loader.h"
#include "dist/dist.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tools/train/metrics.h"
#include "tools/train/progress.h"

namespace sieve::tools {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Field by field, under the same names as the struct (and the flags, with '-' for '_').
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunOptions, dataset, data_dir, image_size, channels, epochs, batch_size, lr, weight_decay, warmup_steps,
                                   clip, seed, augment, max_steps, checkpoint_every, eval_batch_size)

json RunOptions::to_json() const {
  json j;
  sieve::tools::to_json(j, *this);
  if (!task.empty()) {  // image runs keep the JSON they always had (studies compare it)
    j["task"] = task;
    j["seq_len"] = seq_len;
    j["vocab"] = vocab;
    j["num_memorize"] = num_memorize;
    j["train_size"] = train_size;
    j["test_size"] = test_size;
  }
  return j;
}

const std::vector<RunOptionBound>& run_option_bounds() {
  constexpr double kMany = std::numeric_limits<double>::infinity();  // no upper bound (but finite)
  static const std::vector<RunOptionBound> bounds = {
      {"image_size", 1, 4096},     {"channels", 1, 4},          {"epochs", 1, 1000000},
      {"batch_size", 1, 1 << 20},  {"lr", 0, kMany, false},     {"weight_decay", 0, kMany},
      {"warmup_steps", 0, kMany},  {"clip", 0, kMany},          {"max_steps", 0, kMany},
      {"checkpoint_every", 0, kMany}, {"eval_batch_size", 1, 1 << 20}, {"seq_len", 0, kMany},
      {"vocab", 0, kMany},         {"num_memorize", 0, kMany},  {"train_size", 0, kMany},
      {"test_size", 0, kMany},
  };
  return bounds;
}

const RunOptionBound& run_option_bound(const std::string& key) {
  for (const RunOptionBound& b : run_option_bounds())
    if (key == b.key) return b;
  throw std::logic_error("run_option_bound: no bound for " + key);
}

bool within(const RunOptionBound& b, double v) {
  return std::isfinite(v) && (b.lo_inclusive ? v >= b.lo : v > b.lo) && v <= b.hi;
}

std::string bound_words(const RunOptionBound& b) {
  if (std::isinf(b.hi)) return b.lo_inclusive ? fmt::format("≥ {}", b.lo) : fmt::format("> {}", b.lo);
  return fmt::format("{} to {}", b.lo, b.hi);
}

// A stored run's options, checked as the flags are: a value out of bounds is an error naming it.
static void check_stored_options(const json& j) {
  auto flag_of = [](std::string key) {
    std::replace(key.begin(), key.end(), '_', '-');
    return "--" + key;
  };
  for (const RunOptionBound& b : run_option_bounds()) {
    if (!j.contains(b.key)) continue;
    const json& v = j.at(b.key);
    const double x = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
    SIEVE_CHECK(within(b, x), "checkpoint's run option {} is {}; {} takes {}", b.key, printable(v.dump(), 40), flag_of(b.key),
                bound_words(b));
  }
}

RunOptions RunOptions::from_json(const json& j) {
  check_stored_options(j);
  RunOptions o;
  try {
    sieve::tools::from_json(j, o);
    if (j.contains("task")) {
      o.task = j.at("task").get<std::string>();
      o.seq_len = j.at("seq_len").get<int64_t>();
      o.vocab = j.at("vocab").get<int64_t>();
      o.num_memorize = j.at("num_memorize").get<int64_t>();
      o.train_size = j.at("train_size").get<int64_t>();
      o.test_size = j.at("test_size").get<int64_t>();
    }
  } catch (const json::exception& e) {
    fail("checkpoint's run options are incomplete: {}", e.what());
  }
  return o;
}

SequenceTask run_task(const RunOptions& o) {
  SIEVE_CHECK(!o.task.empty(), "a sequence model needs a --task ({})", fmt::join(task_names(), ", "));
  return resolve_task(o.task, o.seq_len, o.vocab, o.num_memorize, o.train_size, o.test_size, o.seed);
}

void set_task_keys(models::ModelConfig& config, const SequenceTask& task) {
  config.values()["vocab"] = task.vocab;
  config.values()["in_channels"] = task.in_channels;
  config.values()["num_classes"] = task.classes;
  config.values()["per_token"] = task.per_token;
}

int64_t sequence_eval_batch(int64_t requested, int64_t length) {
  return std::max<int64_t>(1, std::min(requested, (int64_t{1} << 18) / std::max<int64_t>(length, 1)));
}

int64_t count_correct(const Tensor& logits, const Tensor& targets, int64_t* counted) {
  const std::vector<int64_t> predicted = argmax(logits.detach(), -1).to_vector<int64_t>();
  const std::vector<int64_t> expected = targets.to_vector<int64_t>();
  int64_t correct = 0, n = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == -100) continue;
    ++n;
    correct += predicted[i] == expected[i];
  }
  *counted = n;
  return correct;
}

// Whether --augment may mirror this dataset's images: never a set with digits (a mirrored 2 is no
// digit; mnist+fashion-mnist has digits too), nor Fashion-MNIST (kept as its first runs trained).
static bool mirrors(const DatasetInfo& data) {
  return data.name != "mnist" && data.name != "fashion-mnist" && data.name != "mnist+fashion-mnist";
}

static LoaderOptions loader_options(const DatasetInfo& data, int64_t batch_size, uint64_t seed, bool training,
                                    bool augment) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = training;
  o.seed = seed;
  o.drop_last = training;
  o.mean = data.mean;
  o.std = data.std;
  o.crop_padding = training && augment ? 2 : 0;
  o.flip = training && augment && mirrors(data);
  return o;
}

models::StepOutput training_loss(nn::Module& model, const Tensor& inputs, const Tensor& targets) {
  if (auto* own = dynamic_cast<models::HasTrainingLoss*>(&model)) return own->training_step(inputs, targets);
  Tensor logits = model.forward(inputs);
  return {cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1})), logits};
}

double apply_gradients(const Tensor& loss, nn::Module& model, nn::Optimizer& optimizer, double clip, int64_t step,
                       dist::DataParallel* ddp) {
  const std::string at = step >= 0 ? fmt::format("step {}: ", step + 1) : "";
  auto shown = [](double v) { return std::isnan(v) ? std::string("NaN") : fmt::format("{}", v); };
  const double value = loss.item();
  SIEVE_CHECK(std::isfinite(value), "{}the training loss is {}: the run diverged and stops before the weights "
              "change (lower --lr, raise --warmup-steps, or keep --clip on)", at, shown(value));
  loss.backward();
  if (ddp != nullptr) ddp->reduce_gradients();  // every rank then takes the same step
  // The norm is measured even without clipping (an infinite bound never scales), to stop on it.
  const double bound = clip > 0 ? clip : std::numeric_limits<double>::infinity();
  const double norm = ddp != nullptr ? ddp->clip_grad_norm(bound) : nn::clip_grad_norm(model.parameters(), bound);
  SIEVE_CHECK(std::isfinite(norm), "{}the gradient norm is {}: the run diverged and stops before the weights "
              "change (lower --lr, raise --warmup-steps, or keep --clip on)", at, shown(norm));
  optimizer.step();
  if (ddp != nullptr) ddp->after_step();  // ZeRO-1: every parameter from its owner
  if (auto* hooks = dynamic_cast<models::HasStepHooks*>(&model)) hooks->after_step();
  optimizer.zero_grad();
  return value;
}

void set_class_texts(nn::Module& model, const DatasetInfo& data) {
  auto* text_classes = dynamic_cast<models::HasTextClasses*>(&model);
  if (text_classes == nullptr) return;
  const std::vector<Concept> concepts = concepts_of(data.name, data.class_names);
  SIEVE_CHECK(static_cast<int64_t>(concepts.size()) == data.classes, "{}: {} class names for {} classes", data.name,
              concepts.size(), data.classes);
  text_classes->set_training_texts(class_captions(concepts, /*held_out=*/false));
  text_classes->set_zero_shot_texts(class_captions(concepts, /*held_out=*/true));
}

// The model's own figures (CLIP's logit scale), formatted for the progress bar and the epoch line.
static std::vector<std::pair<std::string, std::string>> model_figures(nn::Module& model) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto* hooks = dynamic_cast<models::HasStepHooks*>(&model))
    for (const auto& [name, value] : hooks->step_figures()) out.emplace_back(name, fmt::format("{:.4g}", value));
  return out;
}

int64_t count_non_finite(const Tensor& t) {
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64) return 0;
  int64_t bad = 0;
  for (double v : t.to(DType::f64).to_vector<double>()) bad += !std::isfinite(v);
  return bad;
}

Tensor predict_logits(nn::Module& model, const Tensor& images, const DatasetInfo& data, int64_t batch_size,
                      bool quiet, const std::function<Tensor(const Tensor&)>& outputs) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  Loader loader(images, zeros({images.size(0)}, {.dtype = DType::i64}),
                loader_options(data, batch_size, 0, false, false));
  loader.start_epoch(0);
  ProgressBar bar("predict", loader.batches_per_epoch(), quiet);
  std::vector<Tensor> parts;
  const Device device = model.device();
  while (auto batch = loader.next()) {
    const Tensor inputs = batch->inputs.to(device);
    parts.push_back((outputs ? outputs(inputs) : model.forward(inputs)).to(kCPU));
    bar.update(batch->index + 1, {});
  }
  bar.finish();
  model.train(was_training);
  return cat(parts, 0);
}

EvalResult evaluate(nn::Module& model, const ImageSet& set, const DatasetInfo& data, int64_t batch_size, bool quiet) {
  const auto start = Clock::now();
  const Tensor logits = predict_logits(model, set.images, data, batch_size, quiet);
  EvalResult r;
  const int64_t correct = count_correct(logits, set.labels, &r.samples);
  const double n = static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.loss = cross_entropy(logits.reshape({-1, logits.size(-1)}), set.labels.reshape({-1}), -100, 0.0, Reduction::sum)
               .item() / n;
  r.accuracy = static_cast<double>(correct) / n;
  r.seconds = seconds_since(start);
  return r;
}

EvalResult evaluate_sequences(nn::Module& model, const SequenceSplit& set, int64_t batch_size, bool quiet) {
  const auto start = Clock::now();
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  Loader loader(set.inputs, set.targets, {.batch_size = batch_size, .shuffle = false});
  loader.start_epoch(0);
  ProgressBar bar("evaluate", loader.batches_per_epoch(), quiet);
  EvalResult r;
  int64_t correct = 0;
  double loss_sum = 0;
  const Device device = model.device();
  while (auto batch = loader.next()) {
    const Tensor logits = model.forward(batch->inputs.to(device)), targets = batch->targets.to(device);
    int64_t n = 0;
    correct += count_correct(logits, targets, &n);
    r.samples += n;
    loss_sum += cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}), -100, 0.0,
                              Reduction::sum).item();
    bar.update(batch->index + 1, {});
  }
  bar.finish();
  model.train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.loss = loss_sum / n;
  r.accuracy = static_cast<double>(correct) / n;
  r.seconds = seconds_since(start);
  return r;
}

models::ModelPtr model_from_checkpoint(const nn::Checkpoint& checkpoint, const std::string& path,
                                       const nlohmann::json& overrides) {
  const models::ModelSpec& spec = models::find_model(checkpoint.model);
  SIEVE_CHECK(!checkpoint.head_stripped, "{}: its classifier head was stripped; fine-tune it first with "
              "`sieve train {} --init {}`", path, spec.name, path);
  nlohmann::json config = checkpoint.config;
  for (const auto& [key, value] : overrides.items()) {
    const bool known = std::any_of(spec.options.begin(), spec.options.end(),
                                   [&](const models::ModelOption& o) { return o.key == key; });
    SIEVE_CHECK(known, "--{}: {} holds a '{}' model, which has no option {}", key, path, spec.name, key);
    config[key] = value;
  }
  // The config is checked against the weights before the machine fills up: a model built from a
  // checkpoint needs about the bytes of its weights (buffers the file lacks are small), so building
  // under a budget of a few times that refuses a config that asks for far more.
  int64_t weight_bytes = 0;
  for (const auto& [name, tensor] : checkpoint.weights)
    weight_bytes += tensor.numel() * static_cast<int64_t>(dtype_size(tensor.dtype()));
  models::ModelPtr model;
  try {
    MemoryBudget budget(4 * weight_bytes + (int64_t{64} << 20));
    model = spec.build(models::complete_config(spec, config), nullptr);
  } catch (const OutOfMemory& e) {
    fail("{}: its config (metadata 'config') asks for a far larger model than the {} of weights it holds: {}", path,
         format_bytes(static_cast<double>(weight_bytes)), e.what());
  } catch (const Error& e) {  // a layer's own check (a dropout of 5): say where the value came from
    fail("{}: its config (metadata 'config') does not build a '{}': {}", path, spec.name, e.what());
  }
  nn::check_constants(checkpoint, *model, path);
  try {
    model->load_state_dict(checkpoint.weights);
  } catch (const Error& e) {
    fail("{}: does not fit model '{}' as configured in it: {}", path, spec.name, e.what());
  }
  // Parameters only: a buffer may hold NaN on purpose (DD-ViT's entropy range before calibration).
  for (const nn::NamedParameter& p : model->named_parameters()) {
    const int64_t bad = count_non_finite(p.tensor);
    SIEVE_CHECK(bad == 0, "{}: weight {} holds {} non-finite values (NaN or inf) of {}: the run that wrote it diverged",
                path, p.name, bad, p.tensor.numel());
  }
  if (!SequenceTask::describes_task(checkpoint.data)) set_class_texts(*model, DatasetInfo::from_json(checkpoint.data, path));
  model->eval();
  return model;
}

namespace {

// Where a run stands; all of it goes into the checkpoint so a resumed run continues exactly.
struct Position {
  int64_t step = 0, epoch = 0, batch = 0;  // next step, the epoch it is in, next batch in it
  double loss_sum = 0, seconds = 0;        // this epoch's running figures
  int64_t correct = 0, seen = 0;
};

json position_json(const Position& p, const RunOptions& options) {
  const Generator& g = default_generator();
  return {{"options", options.to_json()},
          {"step", p.step},
          {"epoch", p.epoch},
          {"batch", p.batch},
          {"rng", {{"seed", g.seed}, {"offset", g.offset}}},
          {"epoch_stats", {{"loss_sum", p.loss_sum}, {"correct", p.correct}, {"seen", p.seen}, {"seconds", p.seconds}}}};
}

Position position_from_json(const json& j) {
  Position p;
  try {
    p.step = j.at("step");
    p.epoch = j.at("epoch");
    p.batch = j.at("batch");
    const json& stats = j.at("epoch_stats");
    p.loss_sum = stats.at("loss_sum");
    p.correct = stats.at("correct");
    p.seen = stats.at("seen");
    p.seconds = stats.at("seconds");
    default_generator().seed = j.at("rng").at("seed");
    default_generator().offset = j.at("rng").at("offset");
  } catch (const json::exception& e) {
    fail("checkpoint's training state is incomplete: {}", e.what());
  }
  return p;
}

// Loads `init` weights into a model whose head may differ: every key must match except the
// classifier head's, which stays freshly initialised when missing (a stripped checkpoint).
void load_init_weights(nn::Module& model, const nn::Checkpoint& init, const std::string& head_prefix) {
  const auto own = model.state_dict();
  for (const auto& [name, tensor] : init.weights)
    SIEVE_CHECK(own.contains(name), "--init: the checkpoint has '{}', which this model lacks", name);
  for (const auto& [name, tensor] : own)
    SIEVE_CHECK(init.weights.contains(name) || name.starts_with(head_prefix),
                "--init: the checkpoint lacks '{}' (only the head '{}*' may be missing)", name, head_prefix);
  try {
    model.load_state_dict(init.weights, /*strict=*/false);
  } catch (const Error& e) {  // a shape that differs: name the file as well as the tensor
    fail("--init {}: {}", init.path, e.what());
  }
}

// The data a run trains and tests on: an image dataset (normalised, maybe augmented, by the
// loader) or a sequence task, with the line that describes it.
struct RunData {
  bool sequence = false;
  DatasetInfo images;            // image runs
  ImageSet train_images, test_images;
  SequenceTask task;             // sequence runs
  SequenceSplit train_seqs, test_seqs;
  std::string name, line;        // "mnist"; "mnist: 60000 training and 10000 test images of ..."
  LoaderOptions train_loader;

  const Tensor& train_inputs() const { return sequence ? train_seqs.inputs : train_images.images; }
  const Tensor& train_targets() const { return sequence ? train_seqs.targets : train_images.labels; }
  json to_json() const { return sequence ? task.to_json() : images.to_json(); }
};

// Loads the run's data and sets the model's data keys (channels, size, classes; vocab, ...) from it.
RunData load_run_data(const RunOptions& options, models::ModelConfig& config) {
  RunData d;
  d.sequence = !options.task.empty();
  if (d.sequence) {
    d.task = run_task(options);
    d.train_seqs = make_task_split(d.task, options.data_dir, true);
    d.test_seqs = make_task_split(d.task, options.data_dir, false);
    set_task_keys(config, d.task);
    d.name = d.task.name;
    d.line = fmt::format("{}: {} training and {} test sequences of length {}, {}, {} classes{}", d.task.name,
                         d.train_seqs.inputs.size(0), d.test_seqs.inputs.size(0), d.task.input_length(),
                         d.task.vocab > 0 ? fmt::format("vocab {}", d.task.vocab) : std::string("float inputs"),
                         d.task.classes, d.task.per_token ? ", per token" : ", at the last position");
    d.train_loader = {.batch_size = options.batch_size, .shuffle = true, .seed = options.seed, .drop_last = true};
    return d;
  }
  LoadedData loaded = load_dataset(options.dataset, options.data_dir, options.image_size, options.channels);
  d.images = loaded.info;
  d.train_images = loaded.train;
  d.test_images = loaded.test;
  config.values()["in_channels"] = d.images.channels;
  config.values()["image_size"] = d.images.image_size;
  config.values()["num_classes"] = d.images.classes;
  d.name = d.images.name;
  d.line = fmt::format("{}: {} training and {} test images of {}×{}×{}, {} classes{}", d.images.name,
                       d.train_images.images.size(0), d.test_images.images.size(0), d.images.channels,
                       d.images.image_size, d.images.image_size, d.images.classes,
                       !options.augment      ? ""
                       : mirrors(d.images) ? "; augmented: random crop (pad 2) and horizontal flip"
                                           : "; augmented: random crop (pad 2), no flip");
  d.train_loader = loader_options(d.images, options.batch_size, options.seed, true, options.augment);
  return d;
}

// In a job of several processes each rank evaluates its share of the test split (dist's slice) and
// the figures are summed over ranks: the same figures, up to the order of the sums, in 1/N the time.
EvalResult evaluate_test_split(nn::Module& model, const RunData& d, const RunOptions& options) {
  const int64_t n = d.sequence ? d.test_seqs.inputs.size(0) : d.test_images.images.size(0);
  const auto [begin, end] = dist::DataParallel::slice(n);
  EvalResult r;
  if (end == begin) {
    // more ranks than test samples: this one has none to add
  } else if (d.sequence) {
    const SequenceSplit part{d.test_seqs.inputs.narrow(0, begin, end - begin),
                             d.test_seqs.targets.narrow(0, begin, end - begin)};
    r = evaluate_sequences(model, part, sequence_eval_batch(options.eval_batch_size, d.task.input_length()), true);
  } else {
    const ImageSet part{d.test_images.images.narrow(0, begin, end - begin),
                        d.test_images.labels.narrow(0, begin, end - begin)};
    r = evaluate(model, part, d.images, options.eval_batch_size, true);
  }
  if (dist::size() == 1) return r;
  const double samples = static_cast<double>(r.samples);
  double sums[3] = {r.loss * samples, r.accuracy * samples, samples};
  dist::allreduce_sum(sums, 3);
  const double total = std::max(sums[2], 1.0);
  return {.loss = sums[0] / total, .accuracy = sums[1] / total, .samples = static_cast<int64_t>(sums[2]),
          .seconds = r.seconds};
}

// Rank r's dropout seed is rank 0's + r·kRankStream (an odd constant: streams far apart).
constexpr uint64_t kRankStream = 0x9E3779B97F4A7C15ull;

// Everything one run holds while it trains.
// (The objects live in train(); a Run only points at them.)
struct Run {
  const RunOptions& options;
  nn::Module& model;
  nn::AdamW& optimizer;
  Loader& loader;
  const nn::WarmupCosine& schedule;
  int64_t per_epoch = 0, stop_step = 0;
  Position pos;
  dist::DataParallel* ddp = nullptr;  // a job of several processes: each trains on its slice
};

// A resumed position must lie inside the run, and AdamW's state must be there once a step was
// taken: without it the moments would silently restart and the run would no longer continue
// bit for bit (a weights-only file belongs to --init).
void check_resumed_position(const Run& r, bool no_optimizer_state) {
  const Position& p = r.pos;
  const int64_t total = r.options.epochs * r.per_epoch;
  SIEVE_CHECK(p.step >= 0 && p.step <= total && p.epoch >= 0 && p.epoch <= r.options.epochs && p.batch >= 0 &&
                  p.batch <= r.per_epoch && p.seen >= 0 && p.correct >= 0 && p.correct <= p.seen &&
                  std::isfinite(p.seconds) && p.seconds >= 0 && std::isfinite(p.loss_sum),
              "checkpoint's training state (step {}, epoch {}, batch {}) lies outside its run of {} epochs × {} "
              "batches, or its running figures are impossible", p.step, p.epoch, p.batch, r.options.epochs,
              r.per_epoch);
  SIEVE_CHECK(p.step == 0 || !no_optimizer_state, "checkpoint is at step {} but holds no optimizer state: resuming "
              "would restart AdamW's moments (a weights-only file starts a new run with --init)", p.step);
}

// One training step on one batch: loss, gradients, update, and the epoch's running figures.
void train_step(Run& r, const Batch& batch, Device device, double lr) {
  r.optimizer.set_lr(lr);
  Tensor inputs = batch.inputs, targets = batch.targets;
  if (r.ddp != nullptr) {  // this rank's rows of the global batch
    const auto [begin, end] = dist::DataParallel::slice(inputs.size(0));
    inputs = inputs.narrow(0, begin, end - begin), targets = targets.narrow(0, begin, end - begin);
  }
  inputs = inputs.to(device), targets = targets.to(device);
  auto [loss, logits] = training_loss(r.model, inputs, targets);
  int64_t n = 0;
  const int64_t correct = count_correct(logits, targets, &n);
  if (r.ddp == nullptr) {
    const double loss_value = apply_gradients(loss, r.model, r.optimizer, r.options.clip, r.pos.step);
    r.pos.correct += correct;
    r.pos.loss_sum += loss_value * static_cast<double>(n);
    r.pos.seen += n;
  } else {
    // The loss is a mean over this rank's n terms; weighted by n·N / (all ranks' terms) its gradient,
    // averaged over the ranks, is the gradient of the mean over the global batch.
    const double local = loss.item();
    double totals[3] = {static_cast<double>(n), static_cast<double>(correct), local * static_cast<double>(n)};
    dist::allreduce_sum(totals, 3);
    const double weight = dist::DataParallel::loss_weight(n, std::max<int64_t>(static_cast<int64_t>(totals[0]), 1));
    apply_gradients(loss * weight, r.model, r.optimizer, r.options.clip, r.pos.step, r.ddp);
    r.pos.correct += static_cast<int64_t>(totals[1]);
    r.pos.loss_sum += totals[2];
    r.pos.seen += static_cast<int64_t>(totals[0]);
  }
  ++r.pos.step;
  r.pos.batch = batch.index + 1;
}

// The steps of the epoch r.pos is in, from r.pos.batch on, until it ends or the run's last step;
// save() writes a checkpoint (every --checkpoint-every steps).
void run_epoch(Run& r, Device device, bool quiet, const std::function<void()>& save) {
  r.loader.start_epoch(r.pos.epoch, r.pos.batch);
  ProgressBar bar(fmt::format("epoch {}/{}", r.pos.epoch + 1, r.options.epochs), r.per_epoch, quiet);
  const auto epoch_start = Clock::now();
  const double seconds_before = r.pos.seconds;
  while (r.pos.step < r.stop_step) {
    std::optional<Batch> batch = r.loader.next();
    if (!batch) break;
    const double lr = r.schedule.lr(r.pos.step);
    train_step(r, *batch, device, lr);
    r.pos.seconds = seconds_before + seconds_since(epoch_start);
    const double seen = static_cast<double>(std::max<int64_t>(r.pos.seen, 1));
    std::vector<std::pair<std::string, std::string>> shown = {
        {"loss", fmt::format("{:.4f}", r.pos.loss_sum / seen)},
        {"acc", fmt::format("{:.1f}%", 100.0 * static_cast<double>(r.pos.correct) / seen)},
        {"lr", fmt::format("{:.2e}", lr)},
        {"samples/s", ProgressBar::format_rate(static_cast<double>(r.pos.seen) / r.pos.seconds)}};
    for (auto& figure : model_figures(r.model)) shown.push_back(std::move(figure));
    bar.update(r.pos.batch, shown);
    if (r.options.checkpoint_every > 0 && r.pos.step % r.options.checkpoint_every == 0 && r.pos.step < r.stop_step)
      save();
  }
  bar.finish();
}

// After a finished epoch: its metrics row and summary line.
void log_epoch(const Run& r, const EvalResult& test, MetricsLog* metrics, bool quiet) {
  const Position& p = r.pos;
  const double seen = static_cast<double>(std::max<int64_t>(p.seen, 1));
  if (metrics != nullptr)
    metrics->append({static_cast<double>(p.epoch + 1), static_cast<double>(p.step), r.schedule.lr(p.step - 1),
                     p.loss_sum / seen, static_cast<double>(p.correct) / seen, test.loss, test.accuracy, p.seconds,
                     static_cast<double>(p.seen) / p.seconds});
  if (quiet) return;
  std::string figures;
  for (const auto& [name, value] : model_figures(r.model)) figures += fmt::format("  {} {}", name, value);
  std::printf("epoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.1f s%s\n",
              static_cast<long long>(p.epoch + 1), static_cast<long long>(r.options.epochs), p.loss_sum / seen,
              100.0 * static_cast<double>(p.correct) / seen, test.loss, 100.0 * test.accuracy, p.seconds,
              figures.c_str());
}

// "--depth 1000000, --dim 64": the model options that differ from their defaults, as flags (or
// "the defaults"), for a message about the model's size.
std::string model_flags_given(const models::ModelSpec& spec, const models::ModelConfig& config) {
  std::vector<std::string> given;
  for (const models::ModelOption& o : spec.options)
    if (config.values().contains(o.key) && config.values()[o.key] != o.default_value)
      given.push_back(fmt::format("--{} {}", o.key,
                                  config.values()[o.key].is_string() ? config.values()[o.key].get<std::string>()
                                                                     : config.values()[o.key].dump()));
  return given.empty() ? "the defaults" : fmt::format("{}", fmt::join(given, ", "));
}

}  // namespace

TrainResult train(const models::ModelSpec& spec, models::ModelConfig config, RunOptions options,
                  const std::string& out_dir, const nn::Checkpoint* resume, const nn::Checkpoint* init, bool quiet,
                  Device device, bool zero1) {
  SIEVE_CHECK(options.epochs >= 1 && options.batch_size >= 1 && options.eval_batch_size >= 1,
              "--epochs, --batch-size and --eval-batch-size must be at least 1");
  quiet = quiet || !dist::is_root();  // rank 0 speaks for a job of several processes
  const bool sequence = !options.task.empty();
  if (sequence)
    SIEVE_CHECK(spec.is_sequence(), "--task: '{}' is an image model; train it on a --dataset", spec.name);
  else
    SIEVE_CHECK(!spec.is_sequence(), "--dataset: '{}' is a sequence model; train it on a --task ({})", spec.name,
                fmt::join(task_names(), ", "));

  // 1. The data, and the model's data keys from it.
  const RunData data = [&] {
    try {
      return load_run_data(options, config);
    } catch (const OutOfMemory& e) {
      fail("the data asked for does not fit in memory ({}): {}",
           sequence ? "--train-size, --test-size, --seq-len" : "--dataset, --image-size", e.what());
    }
  }();

  // 2. The model (initialised on the CPU, then moved: the same weights on every device), AdamW, the
  //    loader and the schedule.
  Generator init_gen(options.seed);
  models::ModelPtr model;
  try {  // training holds 4 copies of the weights (with the gradients and AdamW's two moments)
    MemoryBudget budget(cpu_memory_available() / 4);
    model = spec.build(config, &init_gen);
  } catch (const OutOfMemory& e) {
    fail("the model's flags ({}) ask for a model too large to train in this machine's memory: {}",
         model_flags_given(spec, config), e.what());
  } catch (const Error& e) {  // a layer's own check (a dropout of 5): say which flags were given
    fail("the model's flags ({}) do not build a '{}': {}", model_flags_given(spec, config), spec.name, e.what());
  }
  std::error_code ec;  // only now: a refused model leaves no empty run directory behind
  std::filesystem::create_directories(out_dir, ec);
  if (ec) fail("--out {}: cannot create the directory: {}", out_dir, ec.message());
  if (!quiet) std::printf("run directory: %s\n", out_dir.c_str());
  model->to(device);  // before the optimizer: its state is made on the parameters' device
  model->no_weight_decay_for_biases_and_norms();
  if (!sequence) set_class_texts(*model, data.images);  // a model whose classes are texts (CLIP) learns them
  if (!quiet)
    std::printf("%s: %lld parameters; %s\n", spec.name.c_str(), static_cast<long long>(model->num_parameters()),
                data.line.c_str());
  nn::AdamW optimizer(nn::weight_decay_groups(*model, options.weight_decay),
                      {.lr = options.lr, .weight_decay = options.weight_decay});
  Loader loader(data.train_inputs(), data.train_targets(), data.train_loader);
  const int64_t per_epoch = loader.batches_per_epoch();
  SIEVE_CHECK(per_epoch > 0, "--batch-size {} is larger than the {} training {}", options.batch_size, loader.size(),
              sequence ? "sequences" : "images");
  const int64_t total_steps = options.epochs * per_epoch;
  // A run shorter than its warmup warms up over all but its last step.
  nn::WarmupCosine schedule(options.lr, std::min(options.warmup_steps, total_steps - 1), total_steps);
  Run r{options, *model, optimizer, loader, schedule, per_epoch,
        options.max_steps > 0 ? std::min(options.max_steps, total_steps) : total_steps, Position{}};

  // 3. Where to start: a resumed run's weights, optimizer state and position, or --init's weights.
  manual_seed(options.seed + 1);  // dropout's stream, distinct from the initialisation's
  if (resume != nullptr) {
    nn::check_constants(*resume, r.model, resume->path);
    try {  // the layer or optimizer names the tensor; the user needs the file too
      r.model.load_state_dict(resume->weights);
    } catch (const Error& e) {
      fail("--resume {}: does not fit the model it describes: {}", resume->path, e.what());
    }
    r.pos = position_from_json(resume->training);
  } else if (init != nullptr) {
    nn::check_constants(*init, r.model, init->path);
    load_init_weights(r.model, *init, spec.head_prefix);
  }
  // A job of several processes (dist/): rank 0's weights everywhere, each rank its own dropout
  // stream (rank 0's is the one a single process would use, and the one checkpoints record).
  std::optional<dist::DataParallel> ddp;
  if (dist::size() > 1) {
    SIEVE_CHECK(device == kCPU, "--device cuda: data-parallel training runs on CPUs for now (NCCL is not wired yet)");
    SIEVE_CHECK(dynamic_cast<models::HasTextClasses*>(&r.model) == nullptr, "{}: its contrastive loss couples the "
                "whole batch, which data-parallel training does not gather yet; train it in one process", spec.name);
    SIEVE_CHECK(options.batch_size >= dist::size(), "--batch-size {}: fewer rows than the job's {} processes",
                options.batch_size, dist::size());
    ddp.emplace(r.model, zero1);
    ddp->broadcast_state();
    r.ddp = &*ddp;
    default_generator().seed += static_cast<uint64_t>(dist::rank()) * kRankStream;
  }
  if (resume != nullptr) {  // the optimizer's state (under ZeRO-1, this rank's share of it)
    try {
      r.optimizer.load_state_tensors(ddp ? ddp->own_state(r.optimizer, resume->optimizer) : resume->optimizer);
    } catch (const Error& e) {
      fail("--resume {}: does not fit the model it describes: {}", resume->path, e.what());
    }
    check_resumed_position(r, resume->optimizer.empty());
  }

  nn::Checkpoint checkpoint;
  checkpoint.model = spec.name;
  checkpoint.config = config.values();
  checkpoint.constants = nlohmann::json::object();
  for (const auto& [module, text] : r.model.named_constants()) checkpoint.constants[module] = text;
  checkpoint.data = data.to_json();
  const std::string checkpoint_path = (std::filesystem::path(out_dir) / "checkpoint.safetensors").string();
  auto save = [&] {
    // Under ZeRO-1 the optimizer's state is spread over the ranks: every rank takes part in
    // gathering it. Then rank 0 writes for the job (every rank holds the same weights).
    std::map<std::string, Tensor> optimizer_state =
        ddp ? ddp->optimizer_state(r.optimizer) : r.optimizer.state_tensors();
    if (!dist::is_root()) return;
    checkpoint.weights = r.model.state_dict();
    checkpoint.optimizer = std::move(optimizer_state);
    checkpoint.training = position_json(r.pos, options);
    nn::save_checkpoint(checkpoint_path, checkpoint);
  };

  // 4. The epochs. The CSV counts epochs from 1: the epoch being resumed (pos.epoch from 0) is row
  //    pos.epoch + 1. After each: evaluate, log, plot, start the next epoch's position, checkpoint.
  std::optional<MetricsLog> metrics;  // rank 0's alone
  if (dist::is_root()) metrics.emplace((std::filesystem::path(out_dir) / "metrics.csv").string(), r.pos.epoch + 1);
  const std::string png = (std::filesystem::path(out_dir) / "curves.png").string();
  TrainResult result;
  bool plot_note_shown = false;
  r.model.train();
  while (r.pos.step < r.stop_step) {
    try {
      run_epoch(r, device, quiet, save);
      if (r.pos.batch < per_epoch) break;  // stopped by --max-steps inside the epoch
      result.test = evaluate_test_split(r.model, data, options);
    } catch (const OutOfMemory& e) {  // the activations of a batch: say which flags size them
      fail("step {}: a batch of --batch-size {} (test: --eval-batch-size {}) does not fit with this model: {}",
           r.pos.step + 1, options.batch_size, options.eval_batch_size, e.what());
    }
    result.test_epoch = r.pos.epoch + 1;
    log_epoch(r, result.test, metrics ? &*metrics : nullptr, quiet);
    const std::string why = metrics ? plot_curves(metrics->path(), png, spec.name + " on " + data.name) : "";
    if (!why.empty() && !plot_note_shown && !quiet) {
      std::printf("note: no %s: %s\n", png.c_str(), why.c_str());
      plot_note_shown = true;
    }
    r.pos = Position{.step = r.pos.step, .epoch = r.pos.epoch + 1};
    std::fflush(stdout);
    save();  // after every epoch: a run killed later resumes from here
  }
  if (r.pos.batch != 0) save();  // stopped inside an epoch (--max-steps); an epoch end was saved above
  result.steps = r.pos.step;
  result.checkpoint = checkpoint_path;
  return result;
}

}  // namespace sieve::tools
