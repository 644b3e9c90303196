// tools/train/data.cpp — the dataset table (see data.h).
#include "tools/train/data.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "datasets/image_folder.h"
#include "datasets/synthetic.h"
#include "ops/elementwise.h"
#include "ops/shape.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

using nlohmann::json;

static const std::vector<DatasetInfo>& datasets() {
  // Means and standard deviations of each training set's pixels in [0, 1] (MNIST's are the
  // figures tools/fetch-data printed for the real files; CIFAR-10's the usual per-channel ones).
  static const std::vector<DatasetInfo> table = {
      {"mnist", 1, 28, 10, {0.1307f}, {0.3081f}, {}, "bash tools/fetch-data mnist"},
      {"fashion-mnist", 1, 28, 10, {0.2860f}, {0.3530f}, {}, "bash tools/fetch-data fashion-mnist"},
      // Both sets as one: labels 0–9 digits, 10–19 garments (a CLIP model's text must tell them
      // apart). Its statistics are the two sets' pooled (equal pixel counts): mean (0.1307 +
      // 0.2860) / 2; variance the mean of each set's E[x²] minus the pooled mean squared.
      {"mnist+fashion-mnist", 1, 28, 20, {0.2084f}, {0.3403f}, {},
       "bash tools/fetch-data mnist && bash tools/fetch-data fashion-mnist"},
      {"cifar10", 3, 32, 10, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, {},
       "copy CIFAR-10's binary batches (data_batch_1.bin ... test_batch.bin) there"},
      // Shape, classes and statistics are filled in from the folders by load_dataset.
      {"folder", 3, 32, 0, {}, {}, {}, "put train/<class>/<image> and test/<class>/<image> in --data-dir"},
  };
  return table;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const DatasetInfo& d : datasets()) names.push_back(d.name);
  return names;
}

const DatasetInfo& find_dataset(const std::string& name) {
  for (const DatasetInfo& d : datasets())
    if (d.name == name) return d;
  fail("--dataset: unknown dataset '{}' (known: {})", printable(name, 64), fmt::join(dataset_names(), ", "));
}

json DatasetInfo::to_json() const {
  return {{"dataset", name}, {"channels", channels}, {"image_size", image_size}, {"classes", classes},
          {"mean", mean}, {"std", std}, {"class_names", class_names}};
}

namespace {

// j[key] read as T into *out, or one line "FILE: SECTION: 'key' must be WHAT, got ..." (never
// the JSON library's text): how both checkpoint descriptions, images' and tasks', are read.
template <typename T>
void read_key(const json& j, const char* key, const char* what, T* out, const std::string& file,
              const char* section) {
  try {
    *out = j.at(key).get<T>();
  } catch (const json::exception&) {
    fail_file(file, "{}: '{}' must be {}, got {}", section, key, what,
              j.contains(key) ? printable(j.at(key).dump(), 60) : std::string("nothing"));
  }
}

}  // namespace

DatasetInfo DatasetInfo::from_json(const json& j, const std::string& file) {
  SIEVE_CHECK(!SequenceTask::describes_task(j),
              "the checkpoint is of a sequence model (task '{}'), not an image classifier; evaluate it with "
              "`sieve eval CKPT [--seq-len L]`", printable(j.value("task", std::string()), 64));
  // Each key read as its type, or one line naming the key and what it should be.
  auto get = [&j, &file]<typename T>(const char* key, const char* what, T* out) {
    read_key(j, key, what, out, file, "data description");
  };
  DatasetInfo info;
  get("dataset", "a name", &info.name);
  get("channels", "a whole number", &info.channels);
  get("image_size", "a whole number", &info.image_size);
  get("classes", "a whole number", &info.classes);
  get("mean", "a list of numbers", &info.mean);
  get("std", "a list of numbers", &info.std);
  if (j.contains("class_names")) get("class_names", "a list of names", &info.class_names);
  auto check = [&file](bool ok, const char* key, const std::string& rule, const std::string& got) {
    if (!ok) fail_file(file, "data description: '{}' must be {}, got {}", key, rule, got);
  };
  // Sizes bounded by the bounds `sieve train --image-size / --channels` use; classes by what a head can be.
  const std::pair<const char*, int64_t> sizes[] = {{"channels", info.channels}, {"image_size", info.image_size}};
  for (const auto& [key, value] : sizes) {
    const RunOptionBound& bound = run_option_bound(key);
    check(within(bound, static_cast<double>(value)), key, bound_words(bound), std::to_string(value));
  }
  check(info.classes >= 1 && info.classes <= 1000000, "classes", "1 to 1000000", std::to_string(info.classes));
  check(info.mean.size() == static_cast<size_t>(info.channels), "mean", fmt::format("{} numbers", info.channels),
        std::to_string(info.mean.size()));
  check(info.std.size() == static_cast<size_t>(info.channels), "std", fmt::format("{} numbers", info.channels),
        std::to_string(info.std.size()));
  for (size_t c = 0; c < info.mean.size(); ++c) {
    check(std::isfinite(info.mean[c]), "mean", "finite", fmt::format("{}", info.mean[c]));
    check(std::isfinite(info.std[c]) && info.std[c] > 0, "std", "finite and > 0", fmt::format("{}", info.std[c]));
  }
  check(info.class_names.empty() || info.class_names.size() == static_cast<size_t>(info.classes), "class_names",
        fmt::format("{} names (one per class)", info.classes), std::to_string(info.class_names.size()));
  return info;
}

ImageSet load_split(const DatasetInfo& info, const std::string& data_dir, bool train) {
  if (info.name == "mnist+fashion-mnist") {  // the two splits one after the other, garments from label 10
    const ImageSet digits = load_split(find_dataset("mnist"), data_dir, train);
    const ImageSet garments = load_split(find_dataset("fashion-mnist"), data_dir, train);
    return {cat({digits.images, garments.images}, 0), cat({digits.labels, garments.labels + 10.0}, 0)};
  }
  const bool folder = info.name == "folder";
  const std::string dir =
      (std::filesystem::path(data_dir) / (folder ? (train ? "train" : "test") : info.name)).string();
  if (!std::filesystem::is_directory(dir))
    fail("{}: no such directory; get {} with: {}", dir, info.name, info.fetch_hint);
  if (folder) {
    ImageFolder set = load_image_folder(dir, info.image_size, info.image_size, static_cast<int>(info.channels));
    SIEVE_CHECK(info.class_names.empty() || set.classes == info.class_names,
                "{}: class folders {} differ from the training classes {}", dir, fmt::join(set.classes, ","),
                fmt::join(info.class_names, ","));
    return set;
  }
  ImageSet set = info.name == "cifar10" ? load_cifar10(dir, train) : load_mnist(dir, train);
  const Shape expected = {info.channels, info.image_size, info.image_size};
  SIEVE_CHECK(Shape(set.images.shape().begin() + 1, set.images.shape().end()) == expected,
              "{}: images are {}, {} needs (N, {}, {}, {})", dir, shape_str(set.images.shape()), info.name,
              info.channels, info.image_size, info.image_size);
  return set;
}

// Per-channel mean and standard deviation of images (N, C, H, W), in double.
static void channel_statistics(const Tensor& images, std::vector<float>& mean, std::vector<float>& std) {
  const int64_t n = images.size(0), c = images.size(1), hw = images.numel() / std::max<int64_t>(n * c, 1);
  const float* x = images.contiguous().data<float>();
  mean.assign(static_cast<size_t>(c), 0.0f);
  std.assign(static_cast<size_t>(c), 1.0f);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < hw; ++p) {
        const double v = x[(i * c + ch) * hw + p];
        sum += v;
        sum_sq += v * v;
      }
    const double count = static_cast<double>(n * hw), m = sum / count;
    mean[ch] = static_cast<float>(m);
    // A constant channel would divide by zero: leave its scale at 1.
    const double var = sum_sq / count - m * m;
    if (var > 1e-12) std[ch] = static_cast<float>(std::sqrt(var));
  }
}

LoadedData load_dataset(const std::string& name, const std::string& data_dir, int64_t image_size, int64_t channels) {
  LoadedData d;
  d.info = find_dataset(name);
  if (name == "folder") {
    SIEVE_CHECK(image_size >= 1 && image_size <= 4096, "--image-size must be in [1, 4096], got {}", image_size);
    SIEVE_CHECK(channels >= 1 && channels <= 4, "--channels must be 1, 2, 3 or 4, got {}", channels);
    d.info.image_size = image_size;
    d.info.channels = channels;
    ImageFolder train = load_image_folder((std::filesystem::path(data_dir) / "train").string(), image_size,
                                          image_size, static_cast<int>(channels));
    d.info.class_names = train.classes;
    d.info.classes = static_cast<int64_t>(train.classes.size());
    channel_statistics(train.images, d.info.mean, d.info.std);
    d.train = train;
  } else {
    d.train = load_split(d.info, data_dir, true);
  }
  d.test = load_split(d.info, data_dir, false);
  return d;
}

Tensor normalised(const Tensor& images, const DatasetInfo& info) {
  const int64_t C = images.size(1);
  return (images - from_vector<float>(info.mean, {1, C, 1, 1})) / from_vector<float>(info.std, {1, C, 1, 1});
}

// ---- sequence tasks ----

namespace {

struct TaskDefaults {
  const char* name;
  int64_t seq_len, vocab, num_memorize, train_size, test_size;
  bool per_token;
};

// vocab 0: float inputs; num_memorize 0: the task has none.
constexpr TaskDefaults kTasks[] = {
    {"selective-copy", 256, 16, 16, 8192, 1024, true},
    {"induction", 256, 16, 0, 8192, 1024, true},
    {"majority", 64, 2, 0, 8192, 1024, false},
    {"smnist", 784, 0, 0, 60000, 10000, false},
};

const TaskDefaults& task_defaults(const std::string& name) {
  for (const TaskDefaults& t : kTasks)
    if (name == t.name) return t;
  fail("--task: unknown task '{}' (known: {})", printable(name, 64), fmt::join(task_names(), ", "));
}

}  // namespace

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const TaskDefaults& t : kTasks) names.emplace_back(t.name);
  return names;
}

SequenceTask resolve_task(const std::string& name, int64_t seq_len, int64_t vocab, int64_t num_memorize,
                          int64_t train_size, int64_t test_size, uint64_t seed) {
  const TaskDefaults& d = task_defaults(name);
  SIEVE_CHECK(seq_len >= 0 && vocab >= 0 && num_memorize >= 0 && train_size >= 0 && test_size >= 0,
              "--seq-len, --vocab, --num-memorize, --train-size and --test-size must not be negative");
  SequenceTask t;
  t.name = d.name;
  t.seed = seed;
  t.per_token = d.per_token;
  t.train_size = train_size > 0 ? train_size : d.train_size;
  t.test_size = test_size > 0 ? test_size : d.test_size;
  t.seq_len = seq_len > 0 ? seq_len : d.seq_len;
  const bool tokens_of_choice = t.name == "selective-copy" || t.name == "induction";
  SIEVE_CHECK(vocab == 0 || vocab == d.vocab || tokens_of_choice, "--vocab: task '{}' has a fixed vocabulary ({})",
              t.name, d.vocab);
  SIEVE_CHECK(num_memorize == 0 || t.name == "selective-copy", "--num-memorize: only selective-copy has it, not '{}'",
              t.name);
  t.vocab = vocab > 0 ? vocab : d.vocab;
  t.num_memorize = num_memorize > 0 ? num_memorize : d.num_memorize;
  if (tokens_of_choice) SIEVE_CHECK(t.vocab >= 3, "--vocab: task '{}' needs at least 3 tokens, got {}", t.name, t.vocab);
  if (t.name == "selective-copy") {
    SIEVE_CHECK(t.num_memorize <= t.seq_len, "--num-memorize {} is more than --seq-len {}", t.num_memorize, t.seq_len);
  } else if (t.name == "induction") {
    SIEVE_CHECK(t.seq_len >= 3, "--seq-len: induction needs at least 3, got {}", t.seq_len);
  } else if (t.name == "majority") {
    SIEVE_CHECK(t.seq_len >= 2 && t.seq_len % 2 == 0, "--seq-len: majority needs an even length ≥ 2, got {}",
                t.seq_len);
  } else if (t.name == "smnist") {
    SIEVE_CHECK(t.seq_len == 784, "--seq-len: smnist is 784 pixels long, got {}", t.seq_len);
  }
  SIEVE_CHECK(t.input_length() <= (int64_t{1} << 24), "--seq-len {} is too long", t.seq_len);
  t.classes = t.name == "smnist" ? 10 : t.name == "majority" ? 2 : t.vocab;
  t.in_channels = 1;
  return t;
}

json SequenceTask::to_json() const {
  return {{"task", name},           {"seq_len", seq_len},       {"vocab", vocab},
          {"num_memorize", num_memorize}, {"train_size", train_size}, {"test_size", test_size},
          {"seed", seed},           {"in_channels", in_channels}, {"classes", classes},
          {"per_token", per_token}};
}

bool SequenceTask::describes_task(const json& j) { return j.is_object() && j.contains("task"); }

SequenceTask SequenceTask::from_json(const json& j, const std::string& file) {
  std::string name;
  int64_t seq_len = 0, vocab = 0, num_memorize = 0, train_size = 0, test_size = 0, classes = 0;
  uint64_t seed = 0;
  bool per_token = false;
  const char* section = "task description";
  read_key(j, "task", "a task name", &name, file, section);
  for (const auto& [key, out] : {std::pair{"seq_len", &seq_len}, {"vocab", &vocab}, {"num_memorize", &num_memorize},
                                 {"train_size", &train_size}, {"test_size", &test_size}, {"classes", &classes}})
    read_key(j, key, "a whole number", out, file, section);
  read_key(j, "seed", "a whole number ≥ 0", &seed, file, section);
  read_key(j, "per_token", "true or false", &per_token, file, section);
  SequenceTask t;
  try {  // the checks the flags get; their message names the flag the value would have come from
    t = resolve_task(name, seq_len, vocab, num_memorize, train_size, test_size, seed);
  } catch (const Error& e) {
    fail_file(file, "task description: {} (a value the flags would refuse)", e.what());
  }
  if (t.classes != classes || t.per_token != per_token)
    fail_file(file, "task description: task '{}' has {} classes{}, the file says {}{}", t.name, t.classes,
              t.per_token ? " per token" : "", classes, per_token ? " per token" : "");
  return t;
}

SequenceSplit make_task_split(const SequenceTask& t, const std::string& data_dir, bool train) {
  const int64_t n = train ? t.train_size : t.test_size;
  const uint64_t seed = 2 * t.seed + (train ? 0 : 1);
  if (t.name == "smnist") {
    const DatasetInfo& mnist = find_dataset("mnist");
    const ImageSet set = load_split(mnist, data_dir, train);
    const int64_t take = std::min(n, set.images.size(0));
    // (N, 1, 28, 28) in [0, 1] → normalised as MNIST's training → (N, 784, 1).
    return {pixel_sequences(normalised(set.images.narrow(0, 0, take), mnist)).contiguous(),
            set.labels.narrow(0, 0, take).contiguous()};
  }
  SequenceSet set;
  if (t.name == "selective-copy")
    set = selective_copying(n, t.seq_len, t.num_memorize, t.vocab, seed);
  else if (t.name == "induction")
    set = induction_heads(n, t.seq_len, t.vocab, seed);
  else
    set = majority(n, t.seq_len, seed);
  SIEVE_CHECK(set.classes == t.classes, "task '{}': {} classes, expected {}", t.name, set.classes, t.classes);
  return {set.inputs, set.targets};
}

}  // namespace sieve::tools
