// tests/datasets/test_image_folder.cpp — image decoding (PNG, BMP, JPEG), channel conversion,
// bilinear resize, image folders, and every kind of bad image file, on files the tests write
// with stb_image_write (plus three JPEGs of the fuzz corpus that stb_image_write cannot make).
//
// Not here: fuzzing (tests/fuzz/fuzz_image.cpp drives decode_image with random bytes).
// Extend: a new bad-file case is one refused(file bytes, "words of the message").
#include <algorithm>
#include <filesystem>
#include <string_view>

#include <zlib.h>

#include "datasets/image_folder.h"
#include "tests/datasets/file_bytes.h"
#include "tests/helpers.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

namespace fs = std::filesystem;
using namespace sieve;
using namespace sieve::test;  // TempDir, contains, error_of, Bytes, read_raw, write_raw

namespace {

// w × h × comp bytes, interleaved as stb writes them; value (y·w + x)·comp + c, times `step`.
Bytes pattern(int w, int h, int comp, int step = 7) {
  Bytes px;
  for (int i = 0; i < w * h * comp; ++i) px.push_back(static_cast<uint8_t>(i * step % 256));
  return px;
}

void write_image(const std::string& path, int w, int h, int comp, const Bytes& px) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  int ok = 0;
  if (ext == ".png") ok = stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp);
  if (ext == ".bmp") ok = stbi_write_bmp(path.c_str(), w, h, comp, px.data());
  if (ext == ".jpg") ok = stbi_write_jpg(path.c_str(), w, h, comp, px.data(), 100);
  REQUIRE_MESSAGE(ok != 0, "could not write ", path);
}

// The (C, H, W) float image that interleaved bytes px (H, W, C) should decode to.
std::vector<float> chw(const Bytes& px, int w, int h, int comp) {
  std::vector<float> out(px.size());
  for (int c = 0; c < comp; ++c)
    for (int p = 0; p < w * h; ++p) out[c * w * h + p] = static_cast<float>(px[p * comp + c] * (1.0 / 255.0));
  return out;
}

// A 54-byte BMP header (BITMAPINFOHEADER, 24 bits) claiming w × h pixels, with no pixel data.
Bytes bmp_header(uint32_t w, uint32_t h) {
  Bytes b = {'B', 'M'};
  auto put = [&](uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  put(54 + w * h * 3, 4), put(0, 4), put(54, 4);             // file size, reserved, data offset
  put(40, 4), put(w, 4), put(h, 4), put(1, 2), put(24, 2);  // header size, w, h, planes, bits
  put(0, 4), put(0, 4), put(0, 4), put(0, 4), put(0, 4), put(0, 4);
  return b;
}

}  // namespace

TEST_CASE("image: PNG (grey, RGB, RGBA) and BMP decode exactly to (C, H, W) in [0, 1]") {
  TempDir dir;
  for (const auto& [name, comp] : std::vector<std::pair<std::string, int>>{
           {"g.png", 1}, {"rgb.png", 3}, {"rgba.png", 4}, {"rgb.bmp", 3}, {"rgba.bmp", 4}}) {
    CAPTURE(name);
    const Bytes px = pattern(5, 3, comp);
    write_image(dir / name, 5, 3, comp, px);
    const Tensor img = load_image(dir / name);
    CHECK(img.shape() == Shape{comp, 3, 5});
    CHECK(img.to_vector<float>() == chw(px, 5, 3, comp));
    // The same bytes from memory give the same image.
    const Bytes file = read_raw(dir / name);
    CHECK(decode_image(file.data(), file.size(), name).to_vector<float>() == img.to_vector<float>());
  }
}

TEST_CASE("image: progressive JPEGs decode; the progressive twin of a baseline JPEG gives its pixels") {
  // Seeds of the fuzz corpus, made with libjpeg-turbo: `jpegtran -progressive rgb_16x8.jpg` (a
  // lossless re-encoding) and `cjpeg -grayscale -progressive -restart 1` of a 24 × 16 gradient.
  const std::string corpus = std::string(SIEVE_GOLDEN_DIR) + "/../fuzz/corpus_image/";
  const Tensor baseline = load_image(corpus + "rgb_16x8.jpg");
  CHECK(load_image(corpus + "progressive_16x8.jpg").to_vector<float>() == baseline.to_vector<float>());
  CHECK(load_image(corpus + "progressive_grey_restart_24x16.jpg").shape() == Shape{1, 16, 24});
  const std::string e = error_of([&] { load_image(corpus + "arithmetic_24x16.jpg"); });
  CHECK_MESSAGE(contains(e, "JPEG frame type FFC9 (lossless, hierarchical or arithmetic coding) is not supported"), e);
}

TEST_CASE("image: a top-down BMP (negative height) decodes like its bottom-up twin") {
  TempDir dir;
  const Bytes px = pattern(2, 3, 3);
  write_image(dir / "up.bmp", 2, 3, 3, px);
  const Bytes up = read_raw(dir / "up.bmp");
  REQUIRE(up.size() == 54 + 3 * 8);  // rows of 6 bytes padded to 8, stored bottom row first
  Bytes down(up.begin(), up.begin() + 54);
  for (int row = 2; row >= 0; --row)
    down.insert(down.end(), up.begin() + 54 + 8 * row, up.begin() + 54 + 8 * (row + 1));
  const uint32_t minus3 = static_cast<uint32_t>(-3);
  for (int i = 0; i < 4; ++i) down[22 + i] = static_cast<uint8_t>(minus3 >> (8 * i));
  const Tensor img = decode_image(down.data(), down.size(), "down.bmp");
  CHECK(img.shape() == Shape{3, 3, 2});
  CHECK(img.to_vector<float>() == chw(px, 2, 3, 3));
}

TEST_CASE("image: JPEG decodes close to what was written; channels are converted on request") {
  TempDir dir;
  Bytes smooth;  // a gentle gradient, which JPEG keeps well at quality 100
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) smooth.push_back(static_cast<uint8_t>(40 + 8 * x + 4 * y + 20 * c));
  write_image(dir / "a.jpg", 16, 16, 3, smooth);
  const Tensor img = load_image(dir / "a.jpg");
  CHECK(img.shape() == Shape{3, 16, 16});
  CHECK_CLOSE(img, from_vector(chw(smooth, 16, 16, 3), {3, 16, 16}), 0.03, 0);

  const Bytes px = pattern(4, 2, 3);
  write_image(dir / "rgb.png", 4, 2, 3, px);
  const Tensor grey = load_image(dir / "rgb.png", 1);
  REQUIRE(grey.shape() == Shape{1, 2, 4});
  // stb's RGB → grey: (77 r + 150 g + 29 b) >> 8.
  CHECK(grey.to_vector<float>()[5] ==
        static_cast<float>(((77 * px[15] + 150 * px[16] + 29 * px[17]) >> 8) * (1.0 / 255.0)));
  const Tensor rgba = load_image(dir / "rgb.png", 4);
  CHECK(rgba.shape() == Shape{4, 2, 4});
  CHECK(rgba.narrow(0, 3, 1).to_vector<float>() == std::vector<float>(8, 1.0f));  // opaque alpha added
  CHECK(contains(error_of([&] { load_image(dir / "rgb.png", 5); }), "channels must be 0 (as in the file) or 1..4"));
}

TEST_CASE("image: truncated, corrupt, empty, missing and oversized files are refused, naming the file") {
  TempDir dir;
  write_image(dir / "good.png", 8, 8, 3, pattern(8, 8, 3));
  const Bytes good = read_raw(dir / "good.png");
  auto refused = [&](const std::string& name, const Bytes& bytes, const std::string& words) {
    write_raw(dir / name, bytes);
    const std::string e = error_of([&] { load_image(dir / name); });
    CHECK_MESSAGE(contains(e, dir / name + ": "), e);
    CHECK_MESSAGE(contains(e, words), e);
    CHECK_MESSAGE(e.find('\n') == std::string::npos, e);
  };
  // Cut inside the compressed pixels, or just before the IEND chunk.
  refused("cut.png", Bytes(good.begin(), good.begin() + static_cast<long>(good.size() / 2)), "PNG is cut short: chunk");
  refused("noend.png", Bytes(good.begin(), good.end() - 12), "PNG is cut short: it ends at byte");
  // A flipped bit in the compressed pixels, which stb_image alone would decode to wrong pixels.
  const std::string_view tag = "IDAT";
  const auto idat = static_cast<size_t>(std::search(good.begin(), good.end(), tag.begin(), tag.end()) - good.begin());
  Bytes flipped = good;
  flipped[idat + 6] ^= 0x10;
  refused("flipped.png", flipped, "PNG chunk IDAT at byte 33 fails its CRC check");
  // A correct CRC over a broken zlib header: stb's reason is passed on.
  Bytes bad_zlib = good;
  bad_zlib[idat + 4] = 0xff;
  const uint32_t length =
      bad_zlib[idat - 4] << 24 | bad_zlib[idat - 3] << 16 | bad_zlib[idat - 2] << 8 | bad_zlib[idat - 1];
  const uint32_t crc = static_cast<uint32_t>(crc32(0, bad_zlib.data() + idat, length + 4));
  for (int i = 0; i < 4; ++i) bad_zlib[idat + 4 + length + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  refused("zlib.png", bad_zlib, "cannot decode the PNG: bad zlib header");
  // An empty critical chunk "QUXX" with a correct CRC, before IEND: refused by its name.
  Bytes odd(good.begin(), good.end() - 12);
  const Bytes quxx = {'Q', 'U', 'X', 'X'};
  const auto quxx_crc = static_cast<uint32_t>(crc32(0, quxx.data(), 4));
  for (uint8_t b : Bytes{0, 0, 0, 0, 'Q', 'U', 'X', 'X', static_cast<uint8_t>(quxx_crc >> 24),
                         static_cast<uint8_t>(quxx_crc >> 16), static_cast<uint8_t>(quxx_crc >> 8),
                         static_cast<uint8_t>(quxx_crc)})
    odd.push_back(b);
  odd.insert(odd.end(), good.end() - 12, good.end());
  refused("quxx.png", odd, "is critical but unknown");
  refused("header.png", Bytes(good.begin(), good.begin() + 20), "PNG header is corrupt or cut short");
  refused("empty.png", {}, "not a PNG, JPEG or BMP file (0 bytes)");
  refused("text.png", Bytes{'h', 'e', 'l', 'l', 'o', '\n'},
          "not a PNG, JPEG or BMP file (6 bytes, starting 68 65 6c 6c)");
  // A 54-byte BMP claiming 10000 × 10000 pixels (100 M) is refused before anything is allocated.
  refused("huge.bmp", bmp_header(10000, 10000), "image of 10000×10000 pixels refused");
  refused("wide.bmp", bmp_header(20000, 1), "image of 20000×1 pixels refused (limits: 16384 per side");
  // A BMP whose header is fine but whose pixels are missing (stb_image alone reads zeros).
  refused("nopixels.bmp", bmp_header(4, 4), "BMP is cut short: 4×4 pixels of 24 bits need 102 bytes, the file has 54");
  write_image(dir / "good.jpg", 16, 16, 3, pattern(16, 16, 3));
  const Bytes jpg = read_raw(dir / "good.jpg");
  refused("cut.jpg", Bytes(jpg.begin(), jpg.end() - 100), "cannot decode the JPEG: ");
  // A Huffman table claiming 16 × 20 = 320 codes: stb_image 2.27 would write past its arrays.
  Bytes dht = jpg;
  const Bytes dht_marker = {0xff, 0xc4};
  const auto table =
      static_cast<size_t>(std::search(dht.begin(), dht.end(), dht_marker.begin(), dht_marker.end()) - dht.begin()) + 4;
  std::fill_n(dht.begin() + static_cast<long>(table) + 1, 16, 20);
  refused("dht.jpg", dht, fmt::format("JPEG Huffman table at byte {} has 320 codes", table));
  // A scan whose first component names DC and AC tables 2, which the file never defines (stb
  // 2.27 alone would decode with whatever its memory held).
  Bytes undefined = jpg;
  const Bytes sos_marker = {0xff, 0xda};
  const auto sos = static_cast<size_t>(
      std::search(undefined.begin(), undefined.end(), sos_marker.begin(), sos_marker.end()) - undefined.begin());
  undefined[sos + 6] = 0x22;
  refused("undefined.jpg", undefined,
          fmt::format("JPEG scan at byte {} uses a Huffman table the file never defined", sos));

  const std::string missing = error_of([&] { load_image(dir / "missing.png"); });
  CHECK_MESSAGE((contains(missing, dir / "missing.png") && contains(missing, "cannot open")), missing);
  // The fuzz harness lowers the pixel limit.
  CHECK(contains(error_of([&] { decode_image(good.data(), good.size(), "m.png", 0, 63); }),
                 "m.png: image of 8×8 pixels refused"));
}

TEST_CASE("resize_image: bilinear with pixel centres aligned (PyTorch align_corners=False)") {
  const Tensor img = from_vector<float>({1, 3, 5, 7}, {1, 2, 2});  // rows (1, 3), (5, 7)
  // Up 2×: along a side [a, b] → [a, .75a + .25b, .25a + .75b, b].
  const Tensor up = resize_image(img, 4, 4);
  CHECK_CLOSE(up, from_vector<float>({1, 1.5f, 2.5f, 3, 2, 2.5f, 3.5f, 4, 4, 4.5f, 5.5f, 6, 5, 5.5f, 6.5f, 7},
                                     {1, 4, 4}),
              1e-6, 0);
  // Down 2×: each output is the mean of a 2 × 2 block.
  const Tensor down = resize_image(from_vector<float>({0, 2, 4, 6, 8, 10, 12, 14}, {2, 2, 2}), 1, 1);
  CHECK_CLOSE(down, from_vector<float>({3, 11}, {2, 1, 1}), 1e-6, 0);
  CHECK(resize_image(img, 2, 2).to_vector<float>() == img.to_vector<float>());  // same size: unchanged
  CHECK_CLOSE(resize_image(full({3, 5, 7}, 0.25), 11, 2), full({3, 11, 2}, 0.25), 1e-7, 0);
  CHECK(contains(error_of([&] { resize_image(zeros({2, 2}), 4, 4); }), "expected a float32 (C, H, W) image"));
  CHECK(contains(error_of([&] { resize_image(img, 0, 4); }), "size 0×4 must be 1..16384 per side"));
}

TEST_CASE("image folder: sorted classes and files, hidden and non-image files skipped, sizes unified") {
  TempDir dir;
  fs::create_directories(dir / "b_dog");
  fs::create_directories(dir / "a_cat");
  fs::create_directories(dir / ".hidden_class");
  const Bytes cat1 = pattern(4, 4, 3, 5), cat2 = pattern(4, 4, 1, 3), dog = pattern(8, 2, 3, 11);
  write_image(dir / "a_cat/2.png", 4, 4, 3, cat1);
  write_image(dir / "a_cat/10.bmp", 4, 4, 1, cat2);  // "10.bmp" sorts before "2.png"
  write_image(dir / "b_dog/x.PNG", 8, 2, 3, dog);   // upper-case extension; resized to 4 × 4
  write_image(dir / ".hidden_class/h.png", 4, 4, 3, cat1);
  write_image(dir / "a_cat/.h.png", 4, 4, 3, cat1);
  write_raw(dir / "a_cat/notes.txt", {'h', 'i'});
  write_raw(dir / "README", {'h', 'i'});

  const ImageFolder set = load_image_folder(dir.path.string(), 4, 4, 3);
  CHECK(set.classes == std::vector<std::string>{"a_cat", "b_dog"});
  CHECK(set.images.shape() == Shape{3, 3, 4, 4});
  CHECK(set.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1});
  // 10.bmp first: grey, replicated to RGB by stb.
  std::vector<float> grey3 = chw(cat2, 4, 4, 1);
  for (int c = 0; c < 2; ++c) grey3.insert(grey3.end(), grey3.begin(), grey3.begin() + 16);
  CHECK(set.images.narrow(0, 0, 1).to_vector<float>() == grey3);
  CHECK(set.images.narrow(0, 1, 1).to_vector<float>() == chw(cat1, 4, 4, 3));
  CHECK(set.images.narrow(0, 2, 1).to_vector<float>() ==
        resize_image(from_vector(chw(dog, 8, 2, 3), {3, 2, 8}), 4, 4).to_vector<float>());

  const ImageFolder grey = load_image_folder(dir.path.string(), 2, 3, 1);
  CHECK(grey.images.shape() == Shape{3, 1, 2, 3});
}

TEST_CASE("image folder: missing folder, no classes, an empty class and a bad image are refused") {
  TempDir dir;
  const std::string d = dir.path.string();
  std::string e = error_of([&] { load_image_folder(dir / "nope", 4, 4); });
  CHECK_MESSAGE((contains(e, dir / "nope") && contains(e, "not a folder")), e);
  write_raw(dir / "loose.png", {1});
  e = error_of([&] { load_image_folder(d, 4, 4); });
  CHECK_MESSAGE((contains(e, d) && contains(e, "no class sub-folders")), e);

  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  write_image(dir / "a/1.png", 2, 2, 3, pattern(2, 2, 3));
  write_raw(dir / "b/readme.txt", {1});
  e = error_of([&] { load_image_folder(d, 4, 4); });
  CHECK_MESSAGE((contains(e, dir / "b") && contains(e, "holds no .png, .jpg, .jpeg or .bmp files")), e);

  write_raw(dir / "b/bad.jpg", {0xff, 0xd8, 0xff, 0x00, 0x01});
  e = error_of([&] { load_image_folder(d, 4, 4); });
  CHECK_MESSAGE(contains(e, dir / "b/bad.jpg"), e);
  CHECK(contains(error_of([&] { load_image_folder(d, 4, 4, 0); }), "channels must be 1..4"));
}
