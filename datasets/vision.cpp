// datasets/vision.cpp — MNIST / Fashion-MNIST (IDX) and CIFAR-10 (binary batches) loaders.
//
// What it is: file finding, the checks that make a pair of files one data set (types, shapes,
// counts, labels), and the conversion to float32 images and int64 labels (formats in vision.h).
// What it is not: the IDX parser (datasets/idx.cpp) or a loader with batches (next issue).
// Extend: a new set is a load_<name>() below; reuse data::read_whole_file() and check_labels().
#include "datasets/vision.h"

#include <filesystem>
#include <vector>

#include "datasets/idx.h"
#include "datasets/read_file.h"

namespace sieve {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kClasses = 10;

// The first of name, name.gz that exists in dir; otherwise an error that says what was looked for.
std::string find_idx(const std::string& dir, const std::string& name, const char* set) {
  for (const std::string& candidate : {name, name + ".gz"}) {
    const fs::path p = fs::path(dir) / candidate;
    std::error_code ec;
    if (fs::exists(p, ec)) return p.string();
  }
  fail("{}: no {} or {}.gz in '{}' (tools/fetch-data mnist|fashion-mnist downloads them)", set, name, name, dir);
}

// Refuses a label >= 10, naming the file, the value and where it is.
void check_labels(const uint8_t* labels, int64_t n, const std::string& file, const char* unit, int64_t stride = 1) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i * stride] >= kClasses)
      fail("{}: label {} at {} {} is not a class 0..{}", file, labels[i * stride], unit, i, kClasses - 1);
}

}  // namespace

ImageSet load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_file = find_idx(dir, prefix + "-images-idx3-ubyte", "load_mnist");
  const std::string labels_file = find_idx(dir, prefix + "-labels-idx1-ubyte", "load_mnist");

  const IdxArray images = load_idx(images_file);
  if (images.type != IdxType::u8 || images.dims.size() != 3 || images.dims[1] != 28 || images.dims[2] != 28)
    fail("{}: expected MNIST images, ubyte (N, 28, 28); got {} {}", images_file, idx_type_name(images.type),
         shape_str(images.dims));
  const IdxArray labels = load_idx(labels_file);
  if (labels.type != IdxType::u8 || labels.dims.size() != 1)
    fail("{}: expected MNIST labels, ubyte (N,); got {} {}", labels_file, idx_type_name(labels.type),
         shape_str(labels.dims));
  if (labels.dims[0] != images.dims[0])
    fail("{}: {} labels, but {} has {} images", labels_file, labels.dims[0], images_file, images.dims[0]);
  check_labels(labels.bytes.data(), labels.dims[0], labels_file, "index");

  const int64_t n = images.dims[0];
  return {images.to_tensor(DType::f32, 1.0 / 255.0).reshape({n, 1, 28, 28}), labels.to_tensor(DType::i64)};
}

ImageSet load_cifar10(const std::string& dir, bool train) {
  constexpr int64_t kPixels = 3 * 32 * 32, kRecord = 1 + kPixels;
  // The archive unpacks to cifar-10-batches-bin/; accept its parent too.
  std::string base = dir;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "test_batch.bin", ec) && fs::exists(fs::path(dir) / "cifar-10-batches-bin", ec))
    base = (fs::path(dir) / "cifar-10-batches-bin").string();
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back((fs::path(base) / fmt::format("data_batch_{}.bin", i)).string());
  else
    files.push_back((fs::path(base) / "test_batch.bin").string());

  std::vector<std::vector<uint8_t>> batches;
  int64_t n = 0;
  for (const std::string& file : files) {
    if (!fs::exists(file, ec)) fail("load_cifar10: {} not found (expected the CIFAR-10 binary version)", file);
    std::vector<uint8_t> bytes = data::read_whole_file(file);  // CIFAR batches are 30 MB
    const auto size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % kRecord != 0)
      fail("{}: {} bytes is not a whole number of {}-byte records (1 label + 3×32×32 pixels)", file, size, kRecord);
    check_labels(bytes.data(), size / kRecord, file, "record", kRecord);
    n += size / kRecord;
    batches.push_back(std::move(bytes));
  }

  Tensor images = empty({n, 3, 32, 32});
  Tensor labels = empty({n}, {.dtype = DType::i64});
  float* img = images.data<float>();
  int64_t* lab = labels.data<int64_t>();
  int64_t row = 0;
  for (const auto& bytes : batches)
    for (size_t at = 0; at < bytes.size(); at += kRecord, ++row) {
      lab[row] = bytes[at];
      // × (1/255) in double, as load_mnist's to_tensor does, so both sets scale pixels alike.
      for (int64_t p = 0; p < kPixels; ++p)
        img[row * kPixels + p] = static_cast<float>(bytes[at + 1 + p] * (1.0 / 255.0));
    }
  return {images, labels};
}

}  // namespace sieve
