// datasets/image_folder.cpp — bilinear resize and image folders (layout rules in image_folder.h).
//
// What it is: resize_image() (separable taps: two source indices and a weight per output row and
// column), list_images() / load_images() (sorted listing; decode and resize in parallel with
// OpenMP into one tensor) and load_image_folder(), which applies both to every class folder.
// What it is not: the decoder (image_decode.cpp holds stb_image and the checks on file bytes).
// Extend: see image_folder.h.
#include "datasets/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <filesystem>

namespace sieve {

namespace {

namespace fs = std::filesystem;

const char* const kImageExtensions[] = {".png", ".jpg", ".jpeg", ".bmp"};

bool hidden(const fs::path& path) { return path.filename().string().starts_with('.'); }

// The entries of dir that pass `keep`, sorted by name (byte order), so listings are reproducible.
template <typename Keep>
std::vector<fs::path> sorted_entries(const fs::path& dir, Keep keep) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!hidden(it->path()) && keep(*it)) out.push_back(it->path());
  if (ec) fail_file(dir.string(), "cannot list the folder: {}", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Where output index o of `out` samples along a side of `in` (pixel centres aligned): the two
// source indices and the weight of the second.
struct Tap {
  int64_t i0, i1;
  float w1;
};
std::vector<Tap> bilinear_taps(int64_t in, int64_t out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    const double src = std::max(0.0, (static_cast<double>(o) + 0.5) * scale - 0.5);
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    taps[o] = {i0, std::min(i0 + 1, in - 1), static_cast<float>(src - static_cast<double>(i0))};
  }
  return taps;
}

}  // namespace

// image: (C, H, W) → (C, height, width).
Tensor resize_image(const Tensor& image, int64_t height, int64_t width) {
  SIEVE_CHECK(image.defined() && image.ndim() == 3 && image.dtype() == DType::f32 && image.device().is_cpu(),
              "resize_image: expected a float32 (C, H, W) image on the CPU, got {}",
              image.defined() ? image.describe() : "an undefined tensor");
  SIEVE_CHECK(height >= 1 && width >= 1 && height <= kMaxImageSide && width <= kMaxImageSide,
              "resize_image: size {}×{} must be 1..{} per side", height, width, kMaxImageSide);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  SIEVE_CHECK(H >= 1 && W >= 1, "resize_image: cannot resize an empty image {}", shape_str(image.shape()));
  const Tensor src = image.contiguous();
  const float* in = src.data<float>();
  Tensor resized = empty({C, height, width});
  float* out = resized.data<float>();
  const std::vector<Tap> ys = bilinear_taps(H, height), xs = bilinear_taps(W, width);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < height; ++y) {
      const float* row0 = in + (c * H + ys[y].i0) * W;
      const float* row1 = in + (c * H + ys[y].i1) * W;
      const float wy = ys[y].w1;
      for (int64_t x = 0; x < width; ++x) {
        const Tap& t = xs[x];
        const float top = row0[t.i0] + t.w1 * (row0[t.i1] - row0[t.i0]);
        const float bottom = row1[t.i0] + t.w1 * (row1[t.i1] - row1[t.i0]);
        out[(c * height + y) * width + x] = top + wy * (bottom - top);
      }
    }
  return resized;
}

bool is_image_path(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(kImageExtensions), std::end(kImageExtensions), ext) != std::end(kImageExtensions);
}

std::vector<std::string> list_images(const std::string& dir) {
  std::vector<std::string> files;
  for (const fs::path& f : sorted_entries(dir, [](const fs::directory_entry& e) {
         return e.is_regular_file() && is_image_path(e.path().string());
       }))
    files.push_back(f.string());
  return files;
}

Tensor load_images(const std::vector<std::string>& files, int64_t height, int64_t width, int channels) {
  const auto n = static_cast<int64_t>(files.size());
  Tensor images = empty({n, channels, height, width});
  float* out = images.data<float>();
  const int64_t per_image = int64_t{channels} * height * width;
  // Exceptions may not leave an OpenMP loop: each image's error is kept (an exception_ptr: keeping
  // it cannot throw), and the first file's is thrown after the loop, whatever the scheduling.
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    try {
      Tensor image = load_image(files[i], channels);
      if (image.size(1) != height || image.size(2) != width) image = resize_image(image, height, width);
      std::copy_n(image.data<float>(), per_image, out + i * per_image);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return images;
}

ImageFolder load_image_folder(const std::string& dir, int64_t height, int64_t width, int channels) {
  SIEVE_CHECK(channels >= 1 && channels <= 4, "load_image_folder: channels must be 1..4, got {}", channels);
  SIEVE_CHECK(height >= 1 && width >= 1 && height <= kMaxImageSide && width <= kMaxImageSide,
              "load_image_folder: size {}×{} must be 1..{} per side", height, width, kMaxImageSide);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_file(dir, "not a folder (expected one sub-folder of images per class)");

  ImageFolder set;
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  const auto is_folder = [](const fs::directory_entry& e) { return e.is_directory(); };
  for (const fs::path& class_dir : sorted_entries(dir, is_folder)) {
    const std::vector<std::string> images = list_images(class_dir.string());
    if (images.empty()) fail_file(class_dir.string(), "class folder holds no .png, .jpg, .jpeg or .bmp files");
    for (const std::string& f : images) {
      files.push_back(f);
      labels.push_back(static_cast<int64_t>(set.classes.size()));
    }
    set.classes.push_back(class_dir.filename().string());
  }
  if (set.classes.empty()) fail_file(dir, "no class sub-folders (expected dir/<class>/<image>)");

  set.images = load_images(files, height, width, channels);
  set.labels = from_vector<int64_t>(labels, {static_cast<int64_t>(files.size())});
  return set;
}

}  // namespace sieve
