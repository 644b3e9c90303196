// datasets/image_decode.cpp — decode_image / load_image: PNG, JPEG and BMP bytes → (C, H, W).
//
// What it is: the checks stb_image leaves out, done before it decodes (stb itself is compiled in
// stb_decoder.cpp, limited to PNG, JPEG and BMP and to kMaxImageSide per side):
//   - the format is told by its magic bytes, so an error names it (stb's own reason after a
//     failed probe is that of the last format it tried, e.g. "bad png sig" for a JPEG);
//   - the size in the header against the limits, before stb allocates any pixels;
//   - PNG: every chunk whole and passing its CRC-32 (stb checks neither, nor zlib's Adler-32, so a
//     flipped bit in the compressed pixels would decode to wrong pixels without a word), and no
//     critical chunk stb does not know;
//   - BMP: the file holds the pixel rows its header promises (stb reads past the end as zeros);
//   - JPEG: a frame type stb decodes (baseline or progressive Huffman), no Huffman table of more
//     than 256 codes, no scan using a table never defined (stb 2.27 trusts both: fuzz_image found
//     them); stb's allocations are zeroed besides (see STBI_MALLOC).
// JPEG has no checksums; stb itself refuses a cut stream ("expected marker").
// What it is not: resizing or folders (image_folder.cpp), or a writer.
// Extend: a new format is an STBI_ONLY_ line in stb_decoder.cpp, a row in kFormats and, when stb
// is lax about it, a check_<format>() here.
#include <zlib.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "datasets/image_folder.h"
#include "datasets/read_file.h"
#include "datasets/stb_decoder.h"

namespace sieve {

namespace {

enum class Format { png, jpeg, bmp };

struct FormatRow {
  Format format;
  const char* name;
  std::string_view magic;  // the bytes every file of the format starts with
};
constexpr FormatRow kFormats[] = {
    {Format::png, "PNG", std::string_view("\x89PNG\r\n\x1a\n", 8)},
    {Format::jpeg, "JPEG", "\xff\xd8\xff"},
    {Format::bmp, "BMP", "BM"},
};

// An image file is at most a few times its pixels (BMP: 4 bytes per pixel plus headers).
constexpr uint64_t kMaxImageFileBytes = 4 * static_cast<uint64_t>(kMaxImagePixels) + (1u << 20);

const FormatRow* sniff(const uint8_t* data, size_t size) {
  for (const FormatRow& row : kFormats)
    if (size >= row.magic.size() &&
        std::string_view(reinterpret_cast<const char*>(data), row.magic.size()) == row.magic)
      return &row;
  return nullptr;
}

std::string stb_reason() {
  const char* why = stb::failure_reason();
  // A PNG chunk stb does not know yields its 4 type bytes, which may hold a NUL (then: nothing).
  return why != nullptr && *why != '\0' ? printable(why, 200) : "corrupt data (stb_image gave no reason)";
}

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | uint32_t{p[0]};
}

// PNG after its 8-byte signature: chunks [length u32][type 4][data][CRC-32 of type + data], up to IEND.
void check_png_chunks(const uint8_t* data, size_t size, const std::string& name) {
  for (size_t at = 8;;) {
    if (size - at < 12) fail_file(name, "PNG is cut short: it ends at byte {} without an IEND chunk", size);
    const uint32_t length = be32(data + at);
    const std::string type = printable(std::string_view(reinterpret_cast<const char*>(data + at + 4), 4));
    if (length > size - at - 12)
      fail_file(name, "PNG is cut short: chunk {} at byte {} needs {} bytes, {} are left", type, at, length,
                size - at - 12);
    const uLong crc = crc32(0, data + at + 4, length + 4);
    if (crc != be32(data + at + 8 + length))
      fail_file(name, "PNG chunk {} at byte {} fails its CRC check (the file is corrupt)", type, at);
    // A critical chunk (upper-case first letter) stb does not know is refused here: stb would
    // build its message in a static buffer, which threads decoding side by side would share.
    const bool critical = (data[at + 4] & 0x20) == 0;
    if (critical && type != "IHDR" && type != "PLTE" && type != "IDAT" && type != "IEND" && type != "CgBI")
      fail_file(name, "PNG chunk {} at byte {} is critical but unknown (not a PNG stb_image can read)", type, at);
    at += 12 + size_t{length};
    if (type == "IEND") return;
  }
}

// stb_image 2.27 (Debian 12's) trusts a JPEG's Huffman tables in two ways that fuzz_image found:
//   - the 16 code counts of a table: a sum over 256 writes past its 257-entry arrays (upstream
//     added the check in 2.28);
//   - that a scan names only tables the file defined: otherwise it decodes with whatever its
//     (uncleared) memory held — out-of-bounds reads, or a different image on every run.
// So the segments are walked as stb walks them and both are refused first: skip to a 0xFF, skip
// fill 0xFFs, read the marker; a stuffed 0xFF00 or RSTn (inside entropy-coded data) has no
// length; any other marker's segment is its 2-byte length long. stb reads 0 past the end of the
// bytes, so this walk does too. It runs before stbi_info, which reads DHT segments as well.
void check_jpeg_tables(const uint8_t* data, size_t size, const std::string& name) {
  const auto byte = [&](size_t i) -> size_t { return i < size ? data[i] : 0; };
  bool defined[2][4] = {};  // [class: 0 DC, 1 AC][table id]
  bool progressive = false;
  for (size_t at = 2; at < size;) {  // after SOI
    while (at < size && data[at] != 0xff) ++at;
    while (at < size && data[at] == 0xff) ++at;
    if (at >= size) return;
    const size_t marker = data[at++];
    if (marker == 0xd9) return;                                          // EOI: stb stops
    if (marker == 0x00 || (marker >= 0xd0 && marker <= 0xd8)) continue;  // stuffed byte, RSTn, SOI
    const size_t length = byte(at) << 8 | byte(at + 1);
    if (marker == 0xc2) progressive = true;
    // The other frame types (SOF3, 5-7, 9-11, 13-15): stb_image decodes only SOF0-2.
    if (marker >= 0xc3 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc)
      fail_file(name, "JPEG frame type FF{:02X} (lossless, hierarchical or arithmetic coding) is not supported; "
                "stb_image decodes baseline and progressive Huffman JPEGs", marker);
    if (marker == 0xc4) {  // DHT: tables of [class/id][16 counts][sum of counts values], as stb loops
      int64_t left = static_cast<int64_t>(length) - 2;
      for (size_t table = at + 2; left > 0;) {
        const size_t kind = byte(table) >> 4, id = byte(table) & 15;
        if (kind > 1 || id > 3) return;  // stb refuses the file here
        size_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += byte(table + i);
        if (codes > 256)
          fail_file(name, "JPEG Huffman table at byte {} has {} codes, more than the 256 possible (corrupt file)",
                    table, codes);
        defined[kind][id] = true;
        left -= static_cast<int64_t>(17 + codes);
        table += 17 + codes;
      }
    }
    if (marker == 0xda) {  // SOS: [count n][n × (component, DC table << 4 | AC table)][Ss][Se][Ah/Al]
      const size_t n = byte(at + 2), first = byte(at + 3 + 2 * n), refine = byte(at + 5 + 2 * n) >> 4;
      // A baseline scan codes DC and AC; a progressive one DC (its first pass only) or AC.
      const bool uses_dc = !progressive || (first == 0 && refine == 0), uses_ac = !progressive || first > 0;
      for (size_t k = 0; k < n; ++k) {
        const size_t tables = byte(at + 4 + 2 * k);
        if ((uses_dc && !defined[0][(tables >> 4) & 3]) || (uses_ac && !defined[1][tables & 3]))
          fail_file(name, "JPEG scan at byte {} uses a Huffman table the file never defined (corrupt file)", at - 2);
      }
    }
    at += length;
  }
}

// BMP: the pixel rows start at the header's data offset; each row is padded to 4 bytes.
void check_bmp_size(const uint8_t* data, size_t size, const std::string& name, int64_t w, int64_t h) {
  if (size < 30) return;  // stb_image refuses a header this short itself
  const uint32_t header = le32(data + 14);
  const int64_t bpp = header == 12 ? (data[24] | data[25] << 8) : (data[28] | data[29] << 8);
  if (bpp < 1 || bpp > 32) return;  // stb_image refuses these ("bad bpp")
  const int64_t row = (w * bpp + 31) / 32 * 4, last_row = (w * bpp + 7) / 8;  // the last row's padding may be missing
  const int64_t need = int64_t{le32(data + 10)} + row * (h - 1) + last_row;
  if (static_cast<int64_t>(size) < need)
    fail_file(name, "BMP is cut short: {}×{} pixels of {} bits need {} bytes, the file has {}", w, h, bpp, need, size);
}

}  // namespace

Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int channels, int64_t max_pixels) {
  SIEVE_CHECK(channels >= 0 && channels <= 4, "decode_image: channels must be 0 (as in the file) or 1..4, got {}",
              channels);
  const FormatRow* format = sniff(data, size);
  if (format == nullptr) {
    std::string start;
    for (size_t i = 0; i < std::min<size_t>(size, 4); ++i) start += fmt::format(" {:02x}", data[i]);
    fail_file(name, "not a PNG, JPEG or BMP file ({} bytes{}{})", size, size > 0 ? ", starting" : "", start);
  }
  if (size > static_cast<size_t>(INT_MAX)) fail_file(name, "{} bytes is too large for an image file", size);
  const int len = static_cast<int>(size);

  if (format->format == Format::jpeg) check_jpeg_tables(data, size, name);
  // The header alone first: the size is checked before stb allocates any pixels.
  int info_w = 0, info_h = 0, file_channels = 0;
  if (stb::info(data, len, &info_w, &info_h, &file_channels) == 0)
    fail_file(name, "{} header is corrupt or cut short", format->name);
  // stb reports a top-down BMP's height as its header stores it, negative; the image has |h| rows.
  const int64_t w = info_w, h = std::abs(int64_t{info_h});
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide || w * h > max_pixels)
    fail_file(name, "image of {}×{} pixels refused (limits: {} per side, {} pixels in all)", w, h, kMaxImageSide,
              max_pixels);
  if (format->format == Format::png) check_png_chunks(data, size, name);
  if (format->format == Format::bmp) check_bmp_size(data, size, name, w, h);

  const int want = channels != 0 ? channels : file_channels;
  int dw = 0, dh = 0, dc = 0;
  const std::unique_ptr<unsigned char, void (*)(void*)> pixels(stb::load(data, len, &dw, &dh, &dc, want),
                                                               stb::free_pixels);
  if (pixels == nullptr) fail_file(name, "cannot decode the {}: {}", format->name, stb_reason());
  if (dw != w || dh != h) fail_file(name, "header says {}×{} pixels but decoding gave {}×{}", w, h, dw, dh);

  // stb gives rows of interleaved channels (H, W, C); sieve wants (C, H, W).
  Tensor image = empty({want, h, w});
  float* out = image.data<float>();
  const int64_t plane = w * h;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < want; ++c)
      out[c * plane + p] = static_cast<float>(pixels.get()[p * want + c] * (1.0 / 255.0));  // as load_mnist
  return image;
}

Tensor load_image(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = data::read_whole_file(path, kMaxImageFileBytes);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

}  // namespace sieve
