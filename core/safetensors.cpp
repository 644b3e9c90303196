// core/safetensors.cpp — the safetensors reader and writer (format and rules in safetensors.h).
//
// What it is: a strict validator of the JSON header (every check happens before a byte of tensor
// data is touched), a copier of each tensor into an owned CPU tensor, and an atomic writer.
// What it is not: a lazy or memory-mapped tensor store — tensors never alias the file, so a file
// can be overwritten while its tensors are alive.
// Extend: a new dtype code is one row in kCodes plus, if it needs widening, a case in widen().
//
// Reading is shared by the two entry points: parse_header() validates and returns the list of
// entries; decode() then pulls each entry's bytes through a reader — memcpy from a buffer for
// parse_safetensors (the fuzz harness), pread straight into the tensor for load_safetensors (no
// second copy of a large checkpoint in memory, and no SIGBUS if the file shrinks under a mapping).
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <vector>

namespace sieve {

namespace {

using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so is this reader");

// A header larger than this is refused before it is read (the Rust reference uses the same cap).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeCode {
  const char* code;  // as spelled in the header
  size_t size;       // bytes per element in the file
  DType dtype;       // what sieve holds it as
  bool writable;
};
constexpr DTypeCode kCodes[] = {
    {"F32", 4, DType::f32, true},  {"F64", 8, DType::f64, true}, {"I64", 8, DType::i64, true},
    {"BF16", 2, DType::f32, false}, {"F16", 2, DType::f32, false},
};
constexpr const char* kReadable = "F32, F64, I64, BF16, F16";

// Names and strings from the file are cut to this many bytes in messages.
constexpr size_t kShownChars = 80;


struct Entry {
  std::string name;
  const DTypeCode* code = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the first byte after the header
};

struct Header {
  std::vector<Entry> entries;  // in name order
  Metadata metadata;
};

uint64_t read_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// True with *out set for a non-negative JSON integer that fits int64. nlohmann stores a
// non-negative literal as unsigned, a negative one as signed and anything with '.'/'e' as float.
bool as_size(const json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) return false;
  *out = v.get<uint64_t>();
  return *out <= static_cast<uint64_t>(INT64_MAX);
}

const char* json_kind(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return "a negative integer";
  if (v.is_number_unsigned()) return "too large";
  if (v.is_number_float()) return "not an integer";
  return v.type_name();
}

// The two guards nlohmann lacks, as a SAX pass before the real parse: duplicate keys (its objects
// are maps, so a repeated name would silently keep the last tensor) and nesting depth (a legal
// header is at most object → entry → array; a deeply nested hostile header would otherwise
// allocate per level). Why not nlohmann's parser callback: on every inner object's end it walks the
// whole enclosing object looking for discarded values, so 80,000 tensors took minutes; this pass
// is O(n log n) and the DOM parse after it linear.
struct HeaderGuard : nlohmann::json_sax<json> {
  const std::string& file;
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  int depth = 0;

  explicit HeaderGuard(const std::string& f) : file(f) {}
  bool open() {
    if (++depth > 3) fail_file(file, "header JSON is nested deeper than a safetensors header can be");
    return true;
  }
  bool start_object(std::size_t) override {
    keys.emplace_back();
    return open();
  }
  bool end_object() override {
    keys.pop_back();
    --depth;
    return true;
  }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override {
    --depth;
    return true;
  }
  bool key(string_t& name) override {
    if (!keys.back().insert(name).second) {
      const auto what = keys.size() == 1 ? "names the tensor" : "has the key";
      fail_file(file, "header {} '{}' twice", what, printable(name, kShownChars));
    }
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw e;  // reported below, as the DOM parse's would be
  }
};

json parse_json(const char* text, size_t n, const std::string& file) {
  try {
    HeaderGuard guard(file);
    json::sax_parse(text, text + n, &guard);
    return json::parse(text, text + n);
  } catch (const json::exception& e) {
    std::string why = e.what();
    if (auto at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);  // drop "[json.exception...]"
    fail_file(file, "header is not valid JSON: {}", printable(why, 200));
  }
}

Metadata parse_metadata(const json& value, const std::string& file) {
  SIEVE_CHECK(value.is_object(), "{}: __metadata__ must be an object of strings, got {} (the name is reserved)",
              printable(file, 4096), value.type_name());
  Metadata out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string())
      fail_file(file, "__metadata__ value for '{}' is {}, not a string", printable(key, kShownChars), v.type_name());
    out[key] = v.get<std::string>();
  }
  return out;
}

Entry parse_entry(const std::string& name, const json& value, uint64_t data_size, const std::string& file) {
  const std::string who = "tensor '" + printable(name, kShownChars) + "'";
  if (!value.is_object()) fail_file(file, "{}: entry is {}, not an object", who, value.type_name());
  for (const auto& [key, v] : value.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail_file(file, "{}: unknown key '{}' (expected dtype, shape, data_offsets)", who, printable(key, kShownChars));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!value.contains(key)) fail_file(file, "{}: missing key '{}'", who, key);

  Entry e;
  e.name = name;
  const json& dtype = value["dtype"];
  if (!dtype.is_string()) fail_file(file, "{}: dtype is {}, not a string", who, dtype.type_name());
  for (const auto& code : kCodes)
    if (dtype.get_ref<const std::string&>() == code.code) e.code = &code;
  if (e.code == nullptr)
    fail_file(file, "{}: unsupported dtype '{}' (sieve reads {})", who,
              printable(dtype.get<std::string>(), kShownChars), kReadable);

  const json& shape = value["shape"];
  if (!shape.is_array()) fail_file(file, "{}: shape is {}, not an array", who, shape.type_name());
  if (shape.size() > static_cast<size_t>(kMaxDims))
    fail_file(file, "{}: shape has {} dims, sieve supports at most {}", who, shape.size(), kMaxDims);
  uint64_t numel = 1, span = 1;  // span: the product of the non-zero sizes, what strides reach
  for (const json& s : shape) {
    uint64_t size;
    if (!as_size(s, &size)) fail_file(file, "{}: shape entry {} is {}", who, printable(s.dump(), 40), json_kind(s));
    e.shape.push_back(static_cast<int64_t>(size));
    // Both checked at every step, so (2^40, 2^40, 0) and (0, 2^40, 2^40) are refused too: their
    // strides would overflow even though they have no elements.
    if (__builtin_mul_overflow(numel, size, &numel) || numel > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(span, std::max<uint64_t>(size, 1), &span) || span > static_cast<uint64_t>(INT64_MAX))
      fail_file(file, "{}: shape {} has too many elements (the product overflows)", who,
                printable(shape.dump(), kShownChars));
  }

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail_file(file, "{}: data_offsets must be an array [begin, end], got {}", who, printable(offsets.dump(), 60));
  if (!as_size(offsets[0], &e.begin) || !as_size(offsets[1], &e.end))
    fail_file(file, "{}: data_offsets {} are not two non-negative integers", who, printable(offsets.dump(), 60));
  if (e.begin > e.end) fail_file(file, "{}: data_offsets begin {} > end {}", who, e.begin, e.end);
  if (e.end > data_size)
    fail_file(file, "{}: data_offsets [{}, {}] lie outside the {}-byte data section (truncated file?)", who, e.begin,
              e.end, data_size);
  uint64_t nbytes;
  if (__builtin_mul_overflow(numel, e.code->size, &nbytes) || nbytes != e.end - e.begin)
    fail_file(file, "{}: {} bytes in data_offsets [{}, {}], but shape {} of {} needs {} × {}", who, e.end - e.begin,
              e.begin, e.end, shape_str(e.shape), e.code->code, numel, e.code->size);
  return e;
}

Header parse_header(const char* text, size_t n, uint64_t data_size, const std::string& file) {
  const json root = parse_json(text, n, file);
  if (!root.is_object()) fail_file(file, "header is {}, not a JSON object", root.type_name());
  Header h;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__")
      h.metadata = parse_metadata(value, file);
    else
      h.entries.push_back(parse_entry(name, value, data_size, file));
  }
  // Overlap: sort by begin; each non-empty range must start at or after the previous ones end.
  // Gaps between tensors are allowed (other writers may align them); empty ranges overlap nothing.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : h.entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail_file(file, "tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data section",
                printable(by_offset[i - 1]->name, kShownChars), by_offset[i - 1]->begin, by_offset[i - 1]->end,
                printable(by_offset[i]->name, kShownChars), by_offset[i]->begin, by_offset[i]->end);
  // Bytes after the last tensor's data belong to nothing: an appended file or a wrong header.
  uint64_t last_end = 0;
  for (const Entry* e : by_offset) last_end = std::max(last_end, e->end);
  if (data_size > last_end)
    fail_file(file, "{} bytes follow the last tensor's data (the data section is {} bytes, the tensors use {}): "
              "appended to, or a wrong header", data_size - last_end, data_size, last_end);
  return h;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  else if (exponent == 31)
    magnitude = mantissa == 0 ? INFINITY : NAN;
  else
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), static_cast<int>(exponent) - 25);
  return sign ? -magnitude : magnitude;
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// read(dst, nbytes, offset) fills dst with the entry's bytes at `offset` within the data section.
template <typename Reader>
Tensor decode(const Entry& e, Reader&& read) {
  Tensor t = empty(e.shape, {.dtype = e.code->dtype});
  const size_t n = static_cast<size_t>(e.end - e.begin);
  if (n == 0) return t;
  if (e.code->size == dtype_size(e.code->dtype)) {
    read(t.raw_data(), n, e.begin);
    return t;
  }
  std::vector<uint16_t> raw(n / 2);  // BF16 / F16: widen to float32
  read(raw.data(), n, e.begin);
  float* out = t.data<float>();
  const bool bf16 = std::strcmp(e.code->code, "BF16") == 0;
  for (size_t i = 0; i < raw.size(); ++i) out[i] = bf16 ? bf16_to_float(raw[i]) : half_to_float(raw[i]);
  return t;
}

// Closes a file descriptor on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void pread_exact(int fd, void* dst, size_t n, uint64_t offset, const std::string& file) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_file(file, "read failed: {}", std::strerror(errno));
    if (got == 0) fail_file(file, "file ended early while reading (was it truncated during the read?)");
    p += got, n -= static_cast<size_t>(got), offset += static_cast<uint64_t>(got);
  }
}

void write_all(int fd, const void* src, size_t n, const std::string& file) {
  const auto* p = static_cast<const char*>(src);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail_file(file, "write failed: {}", std::strerror(errno));
    p += put, n -= static_cast<size_t>(put);
  }
}

// The checks shared by both readers on the first 8 bytes; returns the header length.
uint64_t check_header_length(uint64_t file_size, const uint8_t* first8, const std::string& file) {
  if (file_size < 8)
    fail_file(file, "file is {} bytes, too short for a safetensors header length (8 bytes)", file_size);
  const uint64_t n = read_le64(first8);
  if (n > kMaxHeaderBytes)
    fail_file(file, "header length {} exceeds the {} MB limit (not a safetensors file?)", n, kMaxHeaderBytes >> 20);
  if (n > file_size - 8)
    fail_file(file, "header length {} runs past the end of the {}-byte file (truncated?)", n, file_size);
  return n;
}

}  // namespace

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  const uint64_t n = check_header_length(size, data, name);
  const uint8_t* body = data + 8 + n;
  const Header h = parse_header(reinterpret_cast<const char*>(data + 8), n, size - 8 - n, name);
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries)
    out.tensors[e.name] = decode(e, [&](void* dst, size_t bytes, uint64_t at) { std::memcpy(dst, body + at, bytes); });
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail_file(path, "cannot open: {}", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail_file(path, "cannot stat: {}", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail_file(path, "not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  uint8_t first8[8] = {};
  if (size >= 8) pread_exact(f.fd, first8, 8, 0, path);
  const uint64_t n = check_header_length(size, first8, path);
  std::string text(n, '\0');
  pread_exact(f.fd, text.data(), n, 8, path);
  const Header h = parse_header(text.data(), n, size - 8 - n, path);
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries)
    out.tensors[e.name] =
        decode(e, [&](void* dst, size_t bytes, uint64_t at) { pread_exact(f.fd, dst, bytes, 8 + n + at, path); });
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  // Everything that can be refused is refused before the temporary file exists.
  json header = json::object();
  std::vector<Tensor> payload;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail_file(path, "cannot save a tensor named '__metadata__' (the name is reserved)");
    if (!t.defined()) fail_file(path, "cannot save tensor '{}': it is undefined", printable(name, kShownChars));
    Tensor host = t.detach();
    if (!host.device().is_cpu()) host = host.to(kCPU);
    host = host.contiguous();
    const DTypeCode* code = nullptr;
    for (const auto& c : kCodes)
      if (c.writable && c.dtype == host.dtype()) code = &c;
    if (code == nullptr)
      fail_file(path, "cannot save tensor '{}': no safetensors code for {}", printable(name, kShownChars),
                dtype_name(host.dtype()));
    const uint64_t nbytes = static_cast<uint64_t>(host.numel()) * code->size;
    header[name] = {{"dtype", code->code}, {"shape", host.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    payload.push_back(host);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    fail_file(path, "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // so the data starts 8-byte aligned
  const uint64_t n = text.size();

  const std::string tmp = path + ".tmp";
  Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (f.fd < 0) fail_file(path, "cannot create {}: {}", printable(tmp, 4096), std::strerror(errno));
  try {
    write_all(f.fd, &n, 8, tmp);
    write_all(f.fd, text.data(), text.size(), tmp);
    for (const Tensor& t : payload) write_all(f.fd, t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), tmp);
    if (::fsync(f.fd) != 0) fail_file(tmp, "fsync failed: {}", std::strerror(errno));
    const int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) fail_file(tmp, "close failed: {}", std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail_file(path, "cannot rename {} into place: {}", printable(tmp, 4096), std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());  // an existing file at path is untouched: only the rename replaces it
    throw;
  }
  // Make the rename itself durable; failure here leaves a complete file, so it is not an error.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}

}  // namespace sieve
