// tests/fuzz/fuzz_image.cpp — libFuzzer harness for the image decoder (datasets/image_folder.h).
//
// What it is: feeds arbitrary bytes to decode_image — PNG, JPEG and BMP through stb_image and
// sieve's own checks (magic, size limits, PNG chunk CRCs, BMP row count) — with the file's own
// channel count, and again converted to RGB; an accepted small image is also resized. A PNG is
// decoded once more with its chunk CRCs recomputed: otherwise nearly every mutation would stop at
// the CRC check and never reach stb_image's PNG decoder. A
// sieve::Error is the expected answer to garbage; anything else — a crash, a sanitizer report,
// another exception type, an allocation past -malloc_limit_mb, an image of the wrong shape or with
// values outside [0, 1], an error message spanning lines — is a finding.
// The pixel limit is lowered to 2^20 (a 1024 × 1024 image): a valid but huge image (up to
// kMaxImagePixels) may rightly allocate hundreds of MB, which is not what this harness looks for.
// What it is not: a test of folder listing or file reading (tests/datasets covers them).
// Run: tests/fuzz/run-fuzz [seconds]. Without -Dfuzz=true the same function is linked with
// replay_main.cpp and replays corpus_image/ under `meson test` (the 'fuzz-image-corpus' test).
// Extend: nothing to extend; a new format gets seeds in corpus_image/.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "datasets/image_folder.h"

namespace {

constexpr int64_t kFuzzMaxPixels = int64_t{1} << 20;

// An accepted image must be (C, H, W) with C as asked (or 1..4) and every value in [0, 1].
void check_image(const sieve::Tensor& img, int channels) {
  if (img.ndim() != 3 || img.dtype() != sieve::DType::f32) std::abort();
  if (channels != 0 ? img.size(0) != channels : img.size(0) < 1 || img.size(0) > 4) std::abort();
  if (img.size(1) < 1 || img.size(2) < 1 || img.size(1) * img.size(2) > kFuzzMaxPixels) std::abort();
  const float* p = img.data<float>();
  for (int64_t i = 0; i < img.numel(); ++i)
    if (!(p[i] >= 0.0f && p[i] <= 1.0f)) std::abort();
}

void decode(const uint8_t* data, size_t size) {
  for (const int channels : {0, 3}) {
    try {
      const sieve::Tensor img = sieve::decode_image(data, size, "fuzz.img", channels, kFuzzMaxPixels);
      check_image(img, channels);
      if (img.numel() <= 4096) check_image(sieve::resize_image(img, 7, 5), channels == 0 ? img.size(0) : 3);
    } catch (const sieve::Error& e) {
      if (std::strchr(e.what(), '\n') != nullptr) std::abort();  // errors are one line
    }
  }
}

// A copy of a PNG whose chunks (8-byte signature, then [length][type][data][CRC]) get correct
// CRCs, as far as whole chunks go; empty for anything else.
std::vector<uint8_t> with_png_crcs_fixed(const uint8_t* data, size_t size) {
  if (size < 8 || std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0) return {};
  std::vector<uint8_t> png(data, data + size);
  for (size_t at = 8; size - at >= 12;) {
    const uint32_t length =
        uint32_t{png[at]} << 24 | uint32_t{png[at + 1]} << 16 | uint32_t{png[at + 2]} << 8 | png[at + 3];
    if (length > size - at - 12) break;
    const auto crc = static_cast<uint32_t>(crc32(0, png.data() + at + 4, length + 4));
    for (int i = 0; i < 4; ++i) png[at + 8 + length + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
    at += 12 + size_t{length};
  }
  return png;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode(data, size);
  const std::vector<uint8_t> fixed = with_png_crcs_fixed(data, size);
  if (!fixed.empty()) decode(fixed.data(), fixed.size());
  return 0;
}
