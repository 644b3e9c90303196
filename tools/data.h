// tools/data.h — datasets by name, as the command line knows them (--dataset, --data-dir).
//
//   mnist, fashion-mnist   IDX files in <data-dir>/<name>/   (tools/fetch-data puts them there)
//   cifar10                binary batches in <data-dir>/cifar10/
//   folder                 image folders <data-dir>/train/<class>/*.png|jpg|bmp and
//                          <data-dir>/test/<class>/..., decoded to --channels and resized to
//                          --image-size; its normalisation is measured on the training images
// Each comes with what a model needs to know about it (channels, image size, classes) and the
// normalisation training uses, (x − mean) / std per channel: the training set's statistics, so
// evaluation and inference of a checkpoint apply exactly what training did.
//
// What it is not: the readers (datasets/) or batching (datasets/loader.h).
// Extend: add a DatasetInfo to the table in tools/data.cpp and a case in load_split.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/vision.h"

namespace sieve::tools {

struct DatasetInfo {
  std::string name;
  int64_t channels = 1, image_size = 28, classes = 10;
  std::vector<float> mean, std;  // per channel
  std::vector<std::string> class_names;  // image folders: class i's folder name; else empty
  std::string fetch_hint;        // how to get the files, for the "not found" error

  nlohmann::json to_json() const;
  static DatasetInfo from_json(const nlohmann::json& j);  // as stored in a checkpoint's "data"
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

}  // namespace sieve::tools
