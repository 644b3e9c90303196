// datasets/stb_decoder.h — the four stb_image calls image_decode.cpp makes, behind sieve names.
//
// stb_image is compiled in its own translation unit (stb_decoder.cpp) with static linkage, so
// nothing clashes with a libstb linked elsewhere, and so that the sanitizer builds can switch off
// UBSan's shift check for stb's code alone (see stb_decoder.cpp and datasets/meson.build).
// What it is not: the checks on the bytes (image_decode.cpp). Callers pass files those checks passed.
// Extend: expose another stb call here only when image_decode.cpp needs it.
#pragma once

namespace sieve::stb {

// stbi_info_from_memory: 1 and the header's width, height (negative for a top-down BMP) and
// channels, or 0.
int info(const unsigned char* data, int len, int* width, int* height, int* channels);
// stbi_load_from_memory: interleaved 8-bit pixels (H, W, C) with `want` channels, or null.
unsigned char* load(const unsigned char* data, int len, int* width, int* height, int* channels, int want);
void free_pixels(void* pixels);
const char* failure_reason();  // stb's reason for the last failure; may be null

}  // namespace sieve::stb
