// tests/datasets/test_datasets.cpp — the IDX reader (raw and gzip, every element type, every kind
// of bad file) and the MNIST and CIFAR-10 loaders, on small files the tests write themselves.
//
// Not here: the real data sets (tools/fetch-data downloads them; no test depends on the network)
// and fuzzing (tests/fuzz/fuzz_idx.cpp drives parse_idx with random bytes).
// Extend: a new bad-input case is one CHECK_REFUSED(bytes, "words of the message").
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <filesystem>

#include "datasets/idx.h"
#include "datasets/vision.h"
#include "tests/datasets/file_bytes.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using namespace sieve;
using sieve::test::TempDir;
using sieve::test::contains;
using sieve::test::error_of;
using sieve::test::Bytes;
using sieve::test::read_raw;
using sieve::test::write_raw;

namespace {

void put_be(Bytes& out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// An IDX file: magic for `type`, the sizes, then `data` (already big-endian) as given.
Bytes idx_file(uint8_t type, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_be(out, d, 4);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  const auto n = static_cast<unsigned>(bytes.size());
  if (n > 0) REQUIRE(gzwrite(f, bytes.data(), n) == static_cast<int>(n));
  REQUIRE(gzclose(f) == Z_OK);
}

// The error parse_idx raises on bytes ("" when it accepts them) must name the file and the problem.
#define CHECK_REFUSED(bytes, words)                                                          \
  do {                                                                                       \
    const Bytes b_ = (bytes);                                                                \
    const std::string e_ = error_of([&] { parse_idx(b_.data(), b_.size(), "bad.idx"); });    \
    CHECK_MESSAGE(contains(e_, "bad.idx: "), e_);                                            \
    CHECK_MESSAGE(contains(e_, words), e_);                                                  \
  } while (0)

// n MNIST-like images (pixel i of image k = (k * 7 + i) % 256) and labels k % 10.
Bytes mnist_images(uint32_t n) {
  Bytes px;
  for (uint32_t k = 0; k < n; ++k)
    for (uint32_t i = 0; i < 784; ++i) px.push_back(static_cast<uint8_t>((k * 7 + i) % 256));
  return idx_file(0x08, {n, 28, 28}, px);
}
Bytes mnist_labels(uint32_t n) {
  Bytes l;
  for (uint32_t k = 0; k < n; ++k) l.push_back(static_cast<uint8_t>(k % 10));
  return idx_file(0x08, {n}, l);
}

// A CIFAR-10 batch of n records: label (first + k) % 10, pixel p of record k = (k + p) % 256.
Bytes cifar_batch(int n, int first) {
  Bytes out;
  for (int k = 0; k < n; ++k) {
    out.push_back(static_cast<uint8_t>((first + k) % 10));
    for (int p = 0; p < 3072; ++p) out.push_back(static_cast<uint8_t>((k + p) % 256));
  }
  return out;
}

}  // namespace

TEST_CASE("idx: every element type decodes big-endian values") {
  Bytes u8 = {0, 1, 127, 128, 255, 7};
  IdxArray a = parse_idx(idx_file(0x08, {2, 3}, u8).data(), 4 + 8 + 6, "u8.idx");
  CHECK(a.type == IdxType::u8);
  CHECK(a.dims == Shape{2, 3});
  CHECK(a.bytes == u8);  // compact: the file's bytes
  CHECK(a.to_tensor(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 127, 128, 255, 7});
  CHECK_CLOSE(a.to_tensor(DType::f32, 1.0 / 255.0),
              from_vector<float>({0, 1 / 255.f, 127 / 255.f, 128 / 255.f, 1, 7 / 255.f}, {2, 3}), 1e-7, 0);

  Bytes i8 = {0xff, 0x80, 0x7f};
  CHECK(parse_idx(idx_file(0x09, {3}, i8).data(), 4 + 4 + 3, "i8").to_tensor(DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{-1, -128, 127});
  Bytes i16;
  put_be(i16, 0x1234, 2), put_be(i16, 0xfffe, 2);
  CHECK(parse_idx(idx_file(0x0B, {2}, i16).data(), 12, "i16").to_tensor(DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{0x1234, -2});
  Bytes i32;
  put_be(i32, 0x12345678, 4), put_be(i32, 0x80000000u, 4);
  CHECK(parse_idx(idx_file(0x0C, {1, 2}, i32).data(), 4 + 8 + 8, "i32").to_tensor(DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{0x12345678, INT32_MIN});
  Bytes f32;
  put_be(f32, std::bit_cast<uint32_t>(1.5f), 4), put_be(f32, std::bit_cast<uint32_t>(-0.25f), 4);
  CHECK(parse_idx(idx_file(0x0D, {2, 1, 1}, f32).data(), 4 + 12 + 8, "f32").to_tensor().to_vector<float>() ==
        std::vector<float>{1.5f, -0.25f});
  Bytes f64;
  put_be(f64, std::bit_cast<uint64_t>(3.25), 8), put_be(f64, std::bit_cast<uint64_t>(-1e300), 8);
  const IdxArray d = parse_idx(idx_file(0x0E, {2}, f64).data(), 4 + 4 + 16, "f64");
  CHECK(d.to_tensor(DType::f64).to_vector<double>() == std::vector<double>{3.25, -1e300});
  CHECK(contains(error_of([&] { d.to_tensor(DType::i64); }), "float64 values cannot become int64"));
  CHECK(contains(error_of([&] { a.to_tensor(DType::i64, 0.5); }), "takes no scale"));

  // Empty and 8-dim arrays are fine.
  CHECK(parse_idx(idx_file(0x08, {0, 28}, {}).data(), 12, "empty").numel() == 0);
  CHECK(parse_idx(idx_file(0x08, {1, 1, 1, 1, 1, 1, 1, 2}, {4, 5}).data(), 4 + 32 + 2, "8d").dims.size() == 8);
}

TEST_CASE("idx: load_idx reads raw and gzipped files alike") {
  TempDir dir;
  Bytes data;
  for (int i = 0; i < 3 * 5 * 7; ++i) put_be(data, static_cast<uint16_t>(i * 300 - 1000), 2);
  const Bytes file = idx_file(0x0B, {3, 5, 7}, data);
  write_raw(dir / "a.idx", file);
  write_gz(dir / "a.idx.gz", file);
  const IdxArray raw = load_idx(dir / "a.idx");
  const IdxArray gz = load_idx(dir / "a.idx.gz");
  CHECK(raw.dims == Shape{3, 5, 7});
  CHECK(gz.dims == raw.dims);
  CHECK(gz.bytes == raw.bytes);
  CHECK(raw.to_tensor(DType::i64).to_vector<int64_t>()[4] == 4 * 300 - 1000);
}

TEST_CASE("idx: every bad header or size is refused, naming the file") {
  CHECK_REFUSED((Bytes{0, 0, 8}), "too short for the 4-byte IDX magic");
  CHECK_REFUSED((Bytes{}), "file is 0 bytes");
  CHECK_REFUSED((Bytes{0x1f, 0x8b, 8, 0}), "bad magic 1f 8b 08 00");
  CHECK_REFUSED(idx_file(0x0A, {1}, {0}), "unknown IDX element type 0x0a");
  CHECK_REFUSED(idx_file(0x08, {}, {}), "header says 0 dims");
  CHECK_REFUSED(idx_file(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {0}), "header says 9 dims");
  CHECK_REFUSED((Bytes{0, 0, 8, 3, 0, 0, 0, 1, 0, 0}), "file ends inside the header");
  CHECK_REFUSED(idx_file(0x0E, {0xffffffff, 0xffffffff, 0xffffffff, 0}, {}), "overflow");
  // Empty, but the strides of the other sizes would overflow (a fuzz finding, kept in corpus_idx/).
  CHECK_REFUSED(idx_file(0x08, {0, 0x80000000, 0x80000000, 4}, {}), "overflow");
  CHECK_REFUSED(idx_file(0x08, {65536, 65536}, {}), "over the 2 GiB limit");
  CHECK_REFUSED(idx_file(0x08, {0xffffffff, 0xffffffff}, {}), "overflow");
  CHECK_REFUSED(idx_file(0x08, {60000, 28, 28}, {1, 2, 3}), "need 47040000 bytes of data, but the file has 3");
  CHECK_REFUSED(idx_file(0x0C, {2}, {0, 0, 0, 1, 0, 0, 0}), "truncated?");
  CHECK_REFUSED(idx_file(0x08, {2}, {1, 2, 3}), "1 bytes of trailing garbage");
}

TEST_CASE("idx: bad files on disk: missing, directory, truncated or corrupt gzip, trailing bytes") {
  TempDir dir;
  auto refused = [&](const std::string& name, const std::string& words) {
    const std::string e = error_of([&] { load_idx(dir / name); });
    CHECK_MESSAGE(contains(e, dir / name), e);
    CHECK_MESSAGE(contains(e, words), e);
  };
  refused("missing.idx", "cannot open");
  fs::create_directories(dir / "sub.idx");
  refused("sub.idx", "not a regular file");

  const Bytes good = mnist_images(2);
  write_raw(dir / "short.idx", Bytes(good.begin(), good.end() - 1));
  refused("short.idx", "truncated?");
  Bytes extra = good;
  extra.push_back(0);
  write_raw(dir / "extra.idx", extra);
  refused("extra.idx", "1 bytes of trailing garbage");
  write_gz(dir / "extra.idx.gz", extra);
  refused("extra.idx.gz", "trailing garbage after the 1568-byte data section");
  write_gz(dir / "short.idx.gz", Bytes(good.begin(), good.end() - 10));
  refused("short.idx.gz", "data ends after 1558 of 1568 bytes");

  // A gzip stream cut short: inside the data, and after the data but before the CRC trailer.
  write_gz(dir / "good.idx.gz", good);
  const Bytes gz = read_raw(dir / "good.idx.gz");
  write_raw(dir / "cut.idx.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
  refused("cut.idx.gz", "truncated");
  write_raw(dir / "notrailer.idx.gz", Bytes(gz.begin(), gz.end() - 4));
  refused("notrailer.idx.gz", "truncated");
  Bytes flipped = gz;
  flipped[flipped.size() - 6] ^= 0xff;  // inside the CRC-32 trailer
  write_raw(dir / "crc.idx.gz", flipped);
  refused("crc.idx.gz", "gzip data is corrupt");
  CHECK(load_idx(dir / "good.idx.gz").bytes.size() == 2 * 784);
}

TEST_CASE("mnist: images (N, 1, 28, 28) in [0, 1] and int64 labels, raw or gzipped") {
  TempDir dir;
  write_raw(dir / "train-images-idx3-ubyte", mnist_images(3));
  write_raw(dir / "train-labels-idx1-ubyte", mnist_labels(3));
  write_gz(dir / "t10k-images-idx3-ubyte.gz", mnist_images(12));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", mnist_labels(12));

  const ImageSet train = load_mnist(dir.path.string(), true);
  CHECK(train.images.shape() == Shape{3, 1, 28, 28});
  CHECK(train.images.dtype() == DType::f32);
  CHECK(train.labels.shape() == Shape{3});
  CHECK(train.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2});
  const auto px = train.images.to_vector<float>();
  CHECK(px[784 + 5] == doctest::Approx((7 + 5) / 255.0));
  CHECK(px[255] == doctest::Approx(1.0));
  CHECK(*std::min_element(px.begin(), px.end()) == 0.0f);
  CHECK(*std::max_element(px.begin(), px.end()) <= 1.0f);

  const ImageSet test = load_mnist(dir.path.string(), false);
  CHECK(test.images.shape() == Shape{12, 1, 28, 28});
  CHECK(test.labels.to_vector<int64_t>()[11] == 1);
}

TEST_CASE("mnist: missing files, wrong shapes, count mismatch and bad labels are refused") {
  TempDir dir;
  const std::string d = dir.path.string();
  CHECK(contains(error_of([&] { load_mnist(d, true); }), "no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"));

  write_raw(dir / "train-images-idx3-ubyte", idx_file(0x08, {1, 27, 28}, Bytes(27 * 28)));
  write_raw(dir / "train-labels-idx1-ubyte", mnist_labels(1));
  std::string e = error_of([&] { load_mnist(d, true); });
  CHECK_MESSAGE((contains(e, dir / "train-images-idx3-ubyte") && contains(e, "ubyte (1, 27, 28)")), e);

  write_raw(dir / "train-images-idx3-ubyte", mnist_images(2));
  write_raw(dir / "train-labels-idx1-ubyte", idx_file(0x0C, {2}, Bytes(8)));
  e = error_of([&] { load_mnist(d, true); });
  CHECK_MESSAGE((contains(e, dir / "train-labels-idx1-ubyte") && contains(e, "int32 (2,)")), e);

  write_raw(dir / "train-labels-idx1-ubyte", mnist_labels(3));
  e = error_of([&] { load_mnist(d, true); });
  CHECK_MESSAGE((contains(e, dir / "train-labels-idx1-ubyte") && contains(e, "3 labels, but") &&
                 contains(e, "has 2 images")), e);

  write_raw(dir / "train-labels-idx1-ubyte", idx_file(0x08, {2}, {3, 12}));
  e = error_of([&] { load_mnist(d, true); });
  CHECK_MESSAGE((contains(e, dir / "train-labels-idx1-ubyte") && contains(e, "label 12 at index 1")), e);

  // A bad IDX file surfaces the reader's error, naming that file.
  write_raw(dir / "train-images-idx3-ubyte", Bytes{1, 2, 3, 4});
  e = error_of([&] { load_mnist(d, true); });
  CHECK_MESSAGE((contains(e, dir / "train-images-idx3-ubyte") && contains(e, "bad magic")), e);
}

TEST_CASE("cifar10: five train batches, one test batch, CHW pixels in [0, 1]") {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) write_raw(dir / fmt::format("data_batch_{}.bin", i), cifar_batch(2, 2 * (i - 1)));
  write_raw(dir / "test_batch.bin", cifar_batch(3, 7));

  const ImageSet train = load_cifar10(dir.path.string(), true);
  CHECK(train.images.shape() == Shape{10, 3, 32, 32});
  CHECK(train.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto px = train.images.to_vector<float>();
  // Record 1 of batch 1 is image 1; channel 2 (blue), row 3, column 4 is pixel 2048 + 100.
  CHECK(px[3072 + 2048 + 3 * 32 + 4] == doctest::Approx(((1 + 2048 + 100) % 256) / 255.0));

  const ImageSet test = load_cifar10(dir.path.string(), false);
  CHECK(test.images.shape() == Shape{3, 3, 32, 32});
  CHECK(test.labels.to_vector<int64_t>() == std::vector<int64_t>{7, 8, 9});

  // The archive's own folder is found from its parent.
  TempDir parent;
  fs::create_directories(parent / "cifar-10-batches-bin");
  write_raw(parent / "cifar-10-batches-bin/test_batch.bin", cifar_batch(1, 4));
  CHECK(load_cifar10(parent.path.string(), false).labels.to_vector<int64_t>() == std::vector<int64_t>{4});
}

TEST_CASE("cifar10: missing batch, size not a multiple of 3073, bad label are refused") {
  TempDir dir;
  const std::string d = dir.path.string();
  std::string e = error_of([&] { load_cifar10(d, false); });
  CHECK_MESSAGE((contains(e, dir / "test_batch.bin") && contains(e, "not found")), e);

  Bytes b = cifar_batch(2, 0);
  b.pop_back();
  write_raw(dir / "test_batch.bin", b);
  e = error_of([&] { load_cifar10(d, false); });
  CHECK_MESSAGE((contains(e, dir / "test_batch.bin") && contains(e, "6145 bytes is not a whole number")), e);
  write_raw(dir / "test_batch.bin", {});
  e = error_of([&] { load_cifar10(d, false); });
  CHECK_MESSAGE(contains(e, "0 bytes is not a whole number"), e);

  b = cifar_batch(3, 0);
  b[2 * 3073] = 10;
  write_raw(dir / "test_batch.bin", b);
  e = error_of([&] { load_cifar10(d, false); });
  CHECK_MESSAGE((contains(e, dir / "test_batch.bin") && contains(e, "label 10 at record 2")), e);

  write_raw(dir / "data_batch_1.bin", cifar_batch(1, 0));
  e = error_of([&] { load_cifar10(d, true); });
  CHECK_MESSAGE((contains(e, dir / "data_batch_2.bin") && contains(e, "not found")), e);
}
