// datasets/image_folder.h — PNG/JPEG/BMP images (stb_image) and image-folder data sets.
//
// What it is:
//   load_image / decode_image   one file (or its bytes) → float32 (C, H, W) in [0, 1];
//   resize_image                bilinear resize of a (C, H, W) image;
//   list_images / load_images   a folder's image files, sorted; files → (N, C, H, W), resized;
//   load_image_folder           dir/<class>/<image> → images (N, C, H, W), labels (N,) and the
//                               class names, like torchvision's ImageFolder:
//     dir/cat/001.png  dir/cat/002.jpg  dir/dog/a.bmp   →  classes {"cat", "dog"}, labels 0 0 1
//     Classes are the sub-folders in sorted (byte) order; a class's images are its files in
//     sorted order, so the same folder always gives the same tensors. Names starting with '.'
//     are skipped, and so are files whose extension is not .png, .jpg, .jpeg or .bmp (any case).
//     Every image is decoded to `channels` channels and resized to H × W when its size differs.
// Images are hostile input: the size in the header is checked (kMaxImageSide per side,
// kMaxImagePixels in all) before any pixel buffer is allocated; a cut-short or corrupt file is
// refused (PNG chunks must pass their CRCs, a BMP must hold the rows its header promises, stb_image
// refuses the rest); every refusal is a one-line sieve::Error "<file>: <problem>", with stb's
// reason where it gave one. Only PNG, JPEG and BMP are compiled in (less code facing the input).
// Channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; stb converts between them (RGB → grey is its
// weighted sum 0.299/0.587/0.114 in integers). 16-bit PNGs are reduced to 8 bits.
//
// What it is not: an augmenter (datasets/loader.h crops and flips), an image writer, or a
// streaming reader — the whole set is decoded into memory (4 bytes per value: 10000 RGB images of
// 64 × 64 take 491 MB).
//
// Where: the checks on file bytes in image_decode.cpp, stb_image itself in stb_decoder.cpp, resize
// and folders in image_folder.cpp.
// Extend: another stb format is an STBI_ONLY_<FORMAT> line in stb_decoder.cpp, a kFormats row in
// image_decode.cpp, its extension in kImageExtensions in image_folder.cpp, a seed in
// tests/fuzz/corpus_image/ and a test in tests/datasets/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/vision.h"

namespace sieve {

constexpr int64_t kMaxImageSide = 16384;          // pixels per side
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // width × height (67 M: 8192 × 8192)

// channels 0 keeps the file's own channel count; 1..4 converts.
Tensor load_image(const std::string& path, int channels = 0);
// The same from bytes in memory (the fuzz harness); `name` is used in errors. max_pixels lowers
// the pixel limit (the fuzzer keeps it small so that a valid huge image is not a finding).
Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int channels = 0,
                    int64_t max_pixels = kMaxImagePixels);

// image: float32 (C, H, W) → (C, height, width), bilinear with pixel centres aligned (PyTorch's
// F.interpolate(mode="bilinear", align_corners=False)); no antialiasing, so shrinking by more than
// 2× skips pixels.
Tensor resize_image(const Tensor& image, int64_t height, int64_t width);

// True when the path ends in .png, .jpg, .jpeg or .bmp (any case): the files folders are read for.
bool is_image_path(const std::string& path);
// The image files directly in dir (hidden ones and sub-folders skipped), sorted by name; an
// unreadable folder is an error naming it. Empty when there are none.
std::vector<std::string> list_images(const std::string& dir);
// Each file decoded to `channels` and resized to height × width when its size differs, stacked
// (N, channels, height, width); decoded in parallel, the first failing file's error is thrown.
Tensor load_images(const std::vector<std::string>& files, int64_t height, int64_t width, int channels);

struct ImageFolder : ImageSet {    // images float32 (N, channels, height, width), labels int64 (N,)
  std::vector<std::string> classes;  // classes[label] is the sub-folder's name
};
ImageFolder load_image_folder(const std::string& dir, int64_t height, int64_t width, int channels = 3);

}  // namespace sieve
