// datasets/stb_decoder.cpp — the one translation unit that compiles stb_image (see stb_decoder.h).
//
// Configured: only the formats we accept, our side limit, no FILE* functions (every file's bytes
// come through read_whole_file, the same path the fuzzer drives), static linkage.
// Built with -fno-sanitize=shift (datasets/meson.build): stb 2.27's JPEG bit reader lets its bit
// count go negative on a corrupt stream and then shifts by 32 or more (upstream 2.28 returns an
// error instead; fuzz_image found it). That is undefined behaviour but not a memory error (x86
// and ARM mask the shift count), and it sits in stb's entropy decoding, which no check on the
// file's structure can rule out. Only this file loses that one check; ASan and every other UBSan
// check stay on here, and image_decode.cpp keeps them all.
#include <cstdlib>

#include "datasets/image_folder.h"
#include "datasets/stb_decoder.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_MAX_DIMENSIONS 16384  // = kMaxImageSide (a macro: stb uses it in #if)
// Zeroed allocations: stb 2.27 does not clear its JPEG decoder state, so a scan naming a Huffman
// table the file never defined decoded with whatever the heap held before (fuzz_image found it;
// image_decode.cpp's check_jpeg_tables now refuses such files). Zeroed memory keeps any state stb
// forgets to set repeatable rather than a read of old heap contents.
#define STBI_MALLOC(size) std::calloc(1, size)
#define STBI_REALLOC(p, size) std::realloc(p, size)
#define STBI_FREE(p) std::free(p)
#include <stb/stb_image.h>

static_assert(STBI_MAX_DIMENSIONS == sieve::kMaxImageSide);

namespace sieve::stb {

int info(const unsigned char* data, int len, int* width, int* height, int* channels) {
  return stbi_info_from_memory(data, len, width, height, channels);
}

unsigned char* load(const unsigned char* data, int len, int* width, int* height, int* channels, int want) {
  return stbi_load_from_memory(data, len, width, height, channels, want);
}

void free_pixels(void* pixels) { stbi_image_free(pixels); }

const char* failure_reason() { return stbi_failure_reason(); }

}  // namespace sieve::stb
