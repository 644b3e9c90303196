// tests/core/test_safetensors.cpp — the safetensors reader and writer: round trips, the dtypes only
// read (BF16, F16), a file in the layout PyTorch's safetensors package writes, every kind of
// hostile header, and the atomic write.
//
// Not here: fuzzing (tests/fuzz/ drives parse_safetensors with random bytes).
// Extend: a new hostile case is one CHECK_REFUSED(header, data bytes, "words of the message").
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/safetensors.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using namespace sieve;
using sieve::test::TempDir;

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file from a header text and the data section's bytes (zeros unless given).
std::vector<uint8_t> make_file(const std::string& header, std::vector<uint8_t> data = {}) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i)));  // little-endian
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The error parse_safetensors raises on bytes, or "" when it accepts them.
std::string refusal(const std::vector<uint8_t>& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "hostile.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() == DType::i64) return a.to_vector<int64_t>() == b.to_vector<int64_t>();
  return a.to_vector<double>() == b.to_vector<double>();
}

}  // namespace

// The message must name the file, mention the problem and stay on one line.
#define CHECK_REFUSED(bytes, words)                                              \
  do {                                                                           \
    const std::string msg_ = refusal(bytes);                                     \
    INFO("message: ", msg_);                                                     \
    CHECK(msg_.rfind("hostile.safetensors: ", 0) == 0);                          \
    CHECK(msg_.find(words) != std::string::npos);                                \
    CHECK(msg_.find('\n') == std::string::npos);                                 \
  } while (0)

TEST_CASE("safetensors: round trip of every written dtype, 0-d and empty tensors, metadata") {
  TempDir dir;
  const std::string path = dir / "all.safetensors";
  TensorMap tensors{
      {"f32", from_vector<float>({1.5f, -2.0f, 3.25f, 1e-30f, INFINITY, -0.0f}, {2, 3})},
      {"f64", from_vector<double>({M_PI, -1e300, 5e-324}, {3})},
      {"i64", from_vector<int64_t>({INT64_MIN, -1, 0, INT64_MAX}, {2, 2})},
      {"scalar", scalar(7.0)},
      {"empty.f64", empty({0, 5}, {.dtype = DType::f64})},
      {"empty.i64", empty({0}, {.dtype = DType::i64})},
      {"blocks.0.attn.qkv.weight", from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2})},
  };
  const Metadata metadata{{"config", R"({"dim": 64, "depth": 2})"}, {"note", "ünïcode \"quoted\"\nnewline"}};
  save_safetensors(path, tensors, metadata);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.metadata == metadata);
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (const auto& entry : tensors) {
    const std::string& name = entry.first;  // not a structured binding: INFO captures it
    const Tensor& t = entry.second;
    INFO(name);
    REQUIRE(loaded.tensors.count(name) == 1);
    CHECK(same_tensor(loaded.tensors.at(name), t));
    CHECK(loaded.tensors.at(name).device() == kCPU);
  }
  CHECK(loaded.tensors.at("scalar").ndim() == 0);
  CHECK(std::signbit(loaded.tensors.at("f32").to_vector<float>()[5]));

  // The in-memory parser sees the same file; the data section starts 8-byte aligned.
  const auto bytes = read_bytes(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  const SafetensorsFile parsed = parse_safetensors(bytes.data(), bytes.size(), path);
  CHECK(parsed.metadata == metadata);
  for (const auto& [name, t] : tensors) CHECK(same_tensor(parsed.tensors.at(name), t));
}

TEST_CASE("safetensors: no metadata and no tensors round trip") {
  TempDir dir;
  save_safetensors(dir / "none.safetensors", {});
  const SafetensorsFile loaded = load_safetensors(dir / "none.safetensors");
  CHECK(loaded.tensors.empty());
  CHECK(loaded.metadata.empty());
}

TEST_CASE("safetensors: non-contiguous tensors are saved in row-major order") {
  TempDir dir;
  const Tensor base = from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  const Tensor transposed = base.t();                           // (4, 3), strides (1, 4)
  const Tensor strided = base.slice(1, 0, 4, 2);                // (3, 2), every other column
  const Tensor broadcast = from_vector<double>({1, 2}, {2, 1}).expand({2, 3});  // stride 0
  REQUIRE_FALSE(transposed.is_contiguous());
  REQUIRE_FALSE(strided.is_contiguous());
  save_safetensors(dir / "views.safetensors", {{"t", transposed}, {"s", strided}, {"b", broadcast}});
  const SafetensorsFile loaded = load_safetensors(dir / "views.safetensors");
  CHECK(loaded.tensors.at("t").to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(loaded.tensors.at("s").to_vector<float>() == std::vector<float>{0, 2, 4, 6, 8, 10});
  CHECK(loaded.tensors.at("b").to_vector<double>() == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(loaded.tensors.at("t").shape() == Shape{4, 3});
}

TEST_CASE("safetensors: BF16 and F16 are read and widened to float32") {
  // BF16 is the top half of a float32; F16 covers normal, subnormal, zero, inf and NaN.
  const std::vector<uint16_t> bf16{0x3f80, 0xc020, 0x4049, 0x0000, 0x8000, 0x7f80, 0x0001};
  const std::vector<uint16_t> f16{0x3c00, 0xc000, 0x3555, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x8000, 0x7e00};
  std::vector<uint8_t> data(2 * (bf16.size() + f16.size()));
  std::memcpy(data.data(), bf16.data(), 2 * bf16.size());
  std::memcpy(data.data() + 2 * bf16.size(), f16.data(), 2 * f16.size());
  const auto file = make_file(R"({"b":{"dtype":"BF16","shape":[7],"data_offsets":[0,14]},)"
                              R"("h":{"dtype":"F16","shape":[3,3],"data_offsets":[14,32]}})",
                              data);
  const SafetensorsFile f = parse_safetensors(file.data(), file.size(), "half.safetensors");
  const Tensor b = f.tensors.at("b"), h = f.tensors.at("h");
  CHECK(b.dtype() == DType::f32);
  CHECK(h.shape() == Shape{3, 3});
  const auto bv = b.to_vector<float>();
  CHECK(bv[0] == 1.0f);
  CHECK(bv[1] == -2.5f);
  CHECK(bv[2] == 3.140625f);
  CHECK(bv[3] == 0.0f);
  CHECK((bv[4] == 0.0f && std::signbit(bv[4])));
  CHECK(std::isinf(bv[5]));
  CHECK(bv[6] == std::ldexp(1.0f, -133));  // smallest BF16 subnormal
  const auto hv = h.to_vector<float>();
  CHECK(hv[0] == 1.0f);
  CHECK(hv[1] == -2.0f);
  CHECK(hv[2] == doctest::Approx(1.0 / 3.0).epsilon(1e-3));
  CHECK(hv[3] == std::ldexp(1.0f, -24));            // smallest subnormal
  CHECK(hv[4] == std::ldexp(1023.0f, -24));         // largest subnormal
  CHECK(hv[5] == 65504.0f);                         // largest normal
  CHECK((std::isinf(hv[6]) && hv[6] < 0));
  CHECK((hv[7] == 0.0f && std::signbit(hv[7])));
  CHECK(std::isnan(hv[8]));
}

TEST_CASE("safetensors: a file in the layout PyTorch's safetensors package writes") {
  // Made with torch 1.13 (the safetensors package is not in Debian, so its layout was reproduced:
  // metadata first, tensors by element size then name, compact JSON padded with spaces):
  //   t = {"d": tensor(2.5, f64), "idx": tensor([0, -1, 7, 1 << 40]), "w": arange(6.).reshape(2, 3) / 4 - .5,
  //        "b": tensor([1.0, -2.5, 3.140625], bf16), "h": tensor([[0.5, -65504.], [inf, 5.96e-08]], f16)}
  //   raw = v.view(torch.int16).numpy().tobytes() for the 2-byte dtypes, v.numpy().tobytes() otherwise
  const std::string header =
      R"({"__metadata__":{"format":"pt","model":"vit-tiny"},"d":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("idx":{"dtype":"I64","shape":[4],"data_offsets":[8,40]},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[40,64]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[64,70]},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[70,78]}}       )";
  const std::vector<uint8_t> data{
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
      0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f,
      0x00, 0x00, 0x40, 0x3f, 0x80, 0x3f, 0x20, 0xc0, 0x49, 0x40, 0x00, 0x38, 0xff, 0xfb, 0x00, 0x7c, 0x01, 0x00};
  REQUIRE(header.size() == 336);
  TempDir dir;
  write_bytes(dir / "torch.safetensors", make_file(header, data));
  const SafetensorsFile f = load_safetensors(dir / "torch.safetensors");
  CHECK(f.metadata == Metadata{{"format", "pt"}, {"model", "vit-tiny"}});
  CHECK(f.tensors.size() == 5);
  CHECK(f.tensors.at("d").ndim() == 0);
  CHECK(f.tensors.at("d").item() == 2.5);
  CHECK(f.tensors.at("idx").to_vector<int64_t>() == std::vector<int64_t>{0, -1, 7, int64_t{1} << 40});
  CHECK(f.tensors.at("w").to_vector<float>() == std::vector<float>{-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f});
  CHECK(f.tensors.at("b").to_vector<float>() == std::vector<float>{1.0f, -2.5f, 3.140625f});
  const auto h = f.tensors.at("h").to_vector<float>();
  CHECK(h[0] == 0.5f);
  CHECK(h[1] == -65504.0f);
  CHECK(std::isinf(h[2]));
  CHECK(h[3] == std::ldexp(1.0f, -24));
}

TEST_CASE("safetensors: hostile sizes and framing are refused") {
  CHECK_REFUSED(std::vector<uint8_t>{}, "too short");
  CHECK_REFUSED(std::vector<uint8_t>(7, 0), "too short");
  auto past_end = make_file("{}");
  past_end[0] = 200;  // claims 200 header bytes, has 2
  CHECK_REFUSED(past_end, "runs past the end");
  auto huge = make_file("{}");
  std::fill(huge.begin(), huge.begin() + 8, 0xff);  // 2^64 − 1
  CHECK_REFUSED(huge, "exceeds the 100 MB limit");
  CHECK_REFUSED(make_file(""), "not valid JSON");
  CHECK_REFUSED(make_file(R"({"a": {"dtype": "F32")"), "not valid JSON");
  CHECK_REFUSED(make_file("{\"a\xff\": 1}"), "not valid JSON");  // invalid UTF-8
  CHECK_REFUSED(make_file("[1, 2]"), "not a JSON object");
  CHECK_REFUSED(make_file("{} trailing"), "not valid JSON");
  CHECK_REFUSED(make_file(std::string(100000, '[') + std::string(100000, ']')), "header is array, not a JSON object");
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":)" + std::string(100000, '[')), "nested deeper");
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":[[[1]]],"data_offsets":[0,4]}})"), "nested deeper");
}

TEST_CASE("safetensors: hostile tensor entries are refused") {
  const std::vector<uint8_t> d16(16);
  auto entry = [&](const std::string& body) { return make_file(R"({"x":)" + body + "}", d16); };
  CHECK_REFUSED(entry("[1]"), "tensor 'x': entry is array, not an object");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[4]})"), "missing key 'data_offsets'");
  CHECK_REFUSED(entry(R"({"shape":[4],"data_offsets":[0,16]})"), "missing key 'dtype'");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16],"foo":1})"), "unknown key 'foo'");
  CHECK_REFUSED(entry(R"({"dtype":"I32","shape":[4],"data_offsets":[0,16]})"), "unsupported dtype 'I32'");
  CHECK_REFUSED(entry(R"({"dtype":"float","shape":[4],"data_offsets":[0,16]})"), "unsupported dtype 'float'");
  CHECK_REFUSED(entry(R"({"dtype":4,"shape":[4],"data_offsets":[0,16]})"), "dtype is number");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), "shape is number");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), "negative");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[4.0],"data_offsets":[0,16]})"), "not an integer");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,16]})"), "not an integer");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":["4"],"data_offsets":[0,16]})"), "is string");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,16]})"), "too large");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]})"), "overflows");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]})"), "overflows");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})"), "overflows");
  // numel fits int64 but numel × 8 does not: the byte count must not wrap to a small number.
  CHECK_REFUSED(entry(R"({"dtype":"F64","shape":[2305843009213693953],"data_offsets":[0,8]})"), "needs");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"), "at most 8");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), "needs 3 × 4");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})"), "outside the 16-byte data section");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[16,12]})"), "begin 16 > end 12");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), "not two non-negative integers");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), "must be an array [begin, end]");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[1],"data_offsets":"0,4"})"), "must be an array [begin, end]");
  CHECK_REFUSED(entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16],"dtype":"F64"})"), "has the key 'dtype' twice");
}

TEST_CASE("safetensors: overlaps, duplicate names and __metadata__ misuse are refused") {
  const std::vector<uint8_t> d16(16);
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          d16),
                "overlap");
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                          d16),
                "overlap");
  // nlohmann would merge these into one entry; the reader must notice the name is there twice.
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          d16),
                "names the tensor 'a' twice");
  CHECK_REFUSED(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("\u0061":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          d16),
                "twice");
  CHECK_REFUSED(make_file(R"({"__metadata__":{"epochs":3}})"), "value for 'epochs' is number, not a string");
  CHECK_REFUSED(make_file(R"({"__metadata__":["a"]})"), "__metadata__ must be an object of strings");
  CHECK_REFUSED(make_file(R"({"__metadata__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d16),
                "__metadata__ value for 'shape' is array");  // the first wrong value in the file's order
  CHECK_REFUSED(make_file(R"({"__metadata__":{"a":"1"},"__metadata__":{"b":"2"}})"), "'__metadata__' twice");
  CHECK_REFUSED(make_file(R"({"__metadata__":{"a":"1","a":"2"}})"), "has the key 'a' twice");
  // A name with a newline and a 1000-byte name: the message stays one short line.
  const std::string msg = refusal(make_file("{\"bad\\nname" + std::string(1000, 'z') + "\":3}"));
  CHECK(msg.find("bad\\x0aname") != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.size() < 300);
}

// load_safetensors reads small tensors through a 1 MB window and large ones straight into place:
// a large tensor between small ones, and small ones whose bytes straddle the window's end, must
// all come back whole.
TEST_CASE("safetensors: a file of small and large tensors loads through the read window intact") {
  TempDir dir;
  TensorMap tensors;
  for (int i = 0; i < 3000; ++i) {  // ~1.4 MB of small tensors, so the window must move
    std::vector<float> v(113 + i % 7);
    for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(i * 1000 + static_cast<int>(j));
    tensors[fmt::format("s{:04}", i)] = from_vector<float>(v, {static_cast<int64_t>(v.size())});
  }
  std::vector<double> big(200000);  // 1.6 MB: larger than the window
  for (size_t j = 0; j < big.size(); ++j) big[j] = 0.5 * static_cast<double>(j);
  tensors["s1500big"] = from_vector<double>(big, {400, 500});
  save_safetensors(dir / "mixed.safetensors", tensors);
  const SafetensorsFile loaded = load_safetensors(dir / "mixed.safetensors");
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    CHECK(same_tensor(loaded.tensors.at(name), t));
  }
}

TEST_CASE("safetensors: gaps and empty ranges are accepted") {
  // Another writer may align tensors; an empty tensor's range may sit anywhere, even inside another.
  const auto file = make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                              R"("e":{"dtype":"F64","shape":[0,3],"data_offsets":[10,10]}})",
                              std::vector<uint8_t>(12));
  const SafetensorsFile f = parse_safetensors(file.data(), file.size(), "gaps.safetensors");
  CHECK(f.tensors.at("e").shape() == Shape{0, 3});
  CHECK(f.tensors.at("a").item() == 0.0);
}

TEST_CASE("safetensors: every truncation and every header byte flip of a good file fails cleanly") {
  TempDir dir;
  save_safetensors(dir / "good.safetensors",
                   {{"w", from_vector<float>({1, 2, 3, 4}, {2, 2})}, {"i", from_vector<int64_t>({5}, {1})}},
                   {{"k", "v"}});
  const auto good = read_bytes(dir / "good.safetensors");
  for (size_t len = 0; len < good.size(); ++len) {
    const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    CHECK_MESSAGE(!refusal(cut).empty(), "truncated to ", len, " bytes was accepted");
  }
  uint64_t n;
  std::memcpy(&n, good.data(), 8);
  for (size_t at = 0; at < 8 + n; ++at) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      auto bad = good;
      bad[at] ^= flip;
      (void)refusal(bad);  // may be accepted (e.g. a changed metadata letter); must never crash
    }
  }
}

TEST_CASE("safetensors: load_safetensors names the file in its errors") {
  TempDir dir;
  auto message = [](const std::string& path) {
    try {
      load_safetensors(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string missing = dir / "missing.safetensors";
  CHECK(message(missing).find(missing + ": cannot open") == 0);
  CHECK(message(dir.path.string()).find("not a regular file") != std::string::npos);
  save_safetensors(dir / "t.safetensors", {{"w", zeros({64})}});
  auto bytes = read_bytes(dir / "t.safetensors");
  bytes.resize(bytes.size() - 10);
  write_bytes(dir / "t.safetensors", bytes);
  const std::string msg = message(dir / "t.safetensors");
  CHECK(msg.find(dir / "t.safetensors") == 0);
  CHECK(msg.find("outside") != std::string::npos);
}

TEST_CASE("safetensors: the write is atomic") {
  TempDir dir;
  const std::string path = dir / "ckpt.safetensors";
  save_safetensors(path, {{"w", ones({3})}}, {{"step", "1"}});
  const auto before = read_bytes(path);
  auto refused = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };

  // Tensors that cannot be saved are refused before anything is written.
  CHECK(refused([&] { save_safetensors(path, {{"w", zeros({3})}, {"u", Tensor()}}); }).find("undefined") !=
        std::string::npos);
  CHECK(refused([&] { save_safetensors(path, {{"__metadata__", zeros({1})}}); }).find("reserved") !=
        std::string::npos);
  CHECK(read_bytes(path) == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  // The temporary file cannot be created: a missing directory.
  const std::string nowhere = dir / "no/such/dir/x.safetensors";
  CHECK(refused([&] { save_safetensors(nowhere, {{"w", ones({3})}}); }).find(nowhere + ": cannot create") == 0);

  // The write succeeds but the rename fails (the target is a non-empty directory): the temporary
  // file must be removed.
  const std::string blocked = dir / "blocked.safetensors";
  fs::create_directories(fs::path(blocked) / "inside");
  CHECK(refused([&] { save_safetensors(blocked, {{"w", ones({3})}}); }).find("cannot rename") != std::string::npos);
  CHECK_FALSE(fs::exists(blocked + ".tmp"));

  // Overwriting works and leaves no temporary file.
  save_safetensors(path, {{"w", zeros({2})}});
  CHECK(load_safetensors(path).tensors.at("w").shape() == Shape{2});
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors: bytes after the last tensor's data are refused") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CHECK(refusal(make_file(header, std::vector<uint8_t>(4))).empty());
  CHECK_REFUSED(make_file(header, std::vector<uint8_t>(12)), "8 bytes follow the last tensor's data");
  CHECK_REFUSED(make_file("{}", std::vector<uint8_t>(3)), "3 bytes follow the last tensor's data");
}

// The header's guards (duplicate names, depth) once walked the whole header for every tensor:
// 80,000 tensors took minutes, and a million took 8 s even after that was fixed (a JSON document
// built and walked twice, a read per tensor). A million now parse in one streaming pass; a
// quadratic parser would hit the suite's timeout here rather than pass slowly.
TEST_CASE("safetensors: a header of a million tensors parses, and a duplicate name among them is found") {
  const int n = 1000000;
  std::string header = "{";
  header.reserve(80 * n);
  for (int i = 0; i < n; ++i)
    fmt::format_to(std::back_inserter(header), "{}\"t{}\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{},{}]}}",
                   i ? "," : "", i, 4 * i, 4 * i + 4);
  const std::vector<uint8_t> file = make_file(header + "}", std::vector<uint8_t>(4 * n));
  const SafetensorsFile parsed = parse_safetensors(file.data(), file.size(), "many.safetensors");
  CHECK(parsed.tensors.size() == n);
  CHECK_REFUSED(make_file(header + ",\"t7\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                          std::vector<uint8_t>(4 * n)),
                "header names the tensor 't7' twice");
}
