// tools/train/data.h — datasets and sequence tasks by name, as the command line knows them
// (--dataset, --data-dir; --task, --seq-len, ...).
//
//   mnist, fashion-mnist   IDX files in <data-dir>/<name>/   (tools/fetch-data puts them there)
//   mnist+fashion-mnist    both, one set of 20 classes: labels 0–9 digits, 10–19 garments
//   cifar10                binary batches in <data-dir>/cifar10/
//   folder                 image folders <data-dir>/train/<class>/*.png|jpg|bmp and
//                          <data-dir>/test/<class>/..., decoded to --channels and resized to
//                          --image-size; its normalisation is measured on the training images
// Each comes with what a model needs to know about it (channels, image size, classes) and the
// normalisation training uses, (x − mean) / std per channel: the training set's statistics, so
// evaluation and inference of a checkpoint apply exactly what training did.
//
// Sequence tasks for the sequence models (--task, datasets/synthetic.h), each with its default
// sizes (any 0 below means "the task's default"):
//
//   task            --seq-len L   inputs               targets            vocab  classes  train / test
//   selective-copy  256           (N, L + M) tokens    (N, L + M), -100   16     vocab    8192 / 1024
//                                 M = --num-memorize (16) data tokens to recall after L steps
//   induction       256           (N, L) tokens        (N, L), -100       16     vocab    8192 / 1024
//   majority        64            (N, L) tokens 0/1    (N,)               2      2        8192 / 1024
//   smnist          784 (fixed)   (N, 784, 1) floats   (N,)               0      10       60000 / 10000
//
// selective-copy and induction are per token (logits at every position, -100 where nothing is
// asked); majority and smnist are read at the last position. smnist is MNIST from
// <data-dir>/mnist as pixel sequences, normalised with MNIST's mean and std; its sizes take the
// first N images of each split. The synthetic sets are drawn from the run's --seed: the training
// set from seed 2·seed, the test set from 2·seed + 1 — disjoint Philox streams for every run seed,
// and a test set at another length (`sieve eval --seq-len`) is drawn from the same test seed.
//
// What it is not: the readers (datasets/) or batching (datasets/loader.h).
// Extend: add a DatasetInfo to the table in tools/train/data.cpp and a case in load_split; a new task
// is a row in tools/train/data.cpp's task table and a case in make_task_split.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/vision.h"

namespace sieve::tools {

struct DatasetInfo {
  std::string name;
  int64_t channels = 1, image_size = 28, classes = 10;
  std::vector<float> mean, std;  // per channel
  std::vector<std::string> class_names;  // image folders: class i's folder name; else empty
  std::string fetch_hint;        // how to get the files, for the "not found" error

  nlohmann::json to_json() const;
  // As stored in a checkpoint's "data"; every key is checked, and an error names `file` and the key.
  static DatasetInfo from_json(const nlohmann::json& j, const std::string& file);
};

const DatasetInfo& find_dataset(const std::string& name);  // unknown: error listing the known
std::vector<std::string> dataset_names();

// The train or test split of `info` from data_dir/<name>/ (image folders: data_dir/train|test/);
// a missing directory is an error that says how to get it.
ImageSet load_split(const DatasetInfo& info, const std::string& data_dir, bool train);

// images (N, C, H, W) in [0, 1] → (x − mean) / std per channel, as the training loader normalises.
Tensor normalised(const Tensor& images, const DatasetInfo& info);

// Both splits and their description. image_size and channels apply to image folders only (the
// built-in sets have fixed shapes); a folder's classes and normalisation come from its files.
struct LoadedData {
  DatasetInfo info;
  ImageSet train, test;
};
LoadedData load_dataset(const std::string& name, const std::string& data_dir, int64_t image_size, int64_t channels);

// ---- sequence tasks ----

// One task, fully resolved (no zeros left): what a model needs to know about it and how to draw it.
// Stored in a sequence checkpoint's "data" metadata, so `sieve eval` redraws its test set.
struct SequenceTask {
  std::string name;              // selective-copy, induction, majority, smnist
  int64_t seq_len = 0;           // L as the task counts it (selective-copy: inputs are L + num_memorize long)
  int64_t vocab = 0;             // input tokens 0..vocab−1; 0: float inputs (smnist)
  int64_t num_memorize = 0;      // selective-copy only; 0 otherwise
  int64_t train_size = 0, test_size = 0;
  uint64_t seed = 0;             // training set from 2·seed, test set from 2·seed + 1
  // Decided by the task:
  int64_t in_channels = 1;       // float features per step (smnist: 1)
  int64_t classes = 0;           // output logits
  bool per_token = false;        // logits at every position, or at the last one

  int64_t input_length() const { return seq_len + num_memorize; }  // the model's L
  nlohmann::json to_json() const;
  // As stored in a checkpoint's "data"; every key checked, errors name `file`.
  static SequenceTask from_json(const nlohmann::json& j, const std::string& file);
  // True when a checkpoint's "data" describes a sequence task (it has a "task" key).
  static bool describes_task(const nlohmann::json& j);
};

std::vector<std::string> task_names();

// The task `name` with the sizes given; 0 = the task's default. Flags a task does not take
// (--vocab on majority or smnist, --num-memorize off selective-copy, --seq-len on smnist) and sizes
// the generators refuse are errors naming the flag.
SequenceTask resolve_task(const std::string& name, int64_t seq_len, int64_t vocab, int64_t num_memorize,
                          int64_t train_size, int64_t test_size, uint64_t seed);

struct SequenceSplit {
  Tensor inputs;   // int64 (N, L) tokens, or float32 (N, L, in_channels)
  Tensor targets;  // int64 (N, L) with -100 where ignored, or (N,)
};

// The train split (train_size samples) or the test split (test_size) of `task`; smnist reads
// <data_dir>/mnist (a missing directory is an error that says how to get it).
SequenceSplit make_task_split(const SequenceTask& task, const std::string& data_dir, bool train);

}  // namespace sieve::tools
