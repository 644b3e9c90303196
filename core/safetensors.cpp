// core/safetensors.cpp — the safetensors reader and writer (format and rules in safetensors.h).
//
// What it is: a strict validator of the JSON header (every check happens before a byte of tensor
// data is touched), a copier of each tensor into an owned CPU tensor, and an atomic writer.
// What it is not: a lazy or memory-mapped tensor store — tensors never alias the file, so a file
// can be overwritten while its tensors are alive.
// Extend: a new dtype code is one row in kCodes plus, if it needs widening, a case in widen().
//
// Reading is shared by the two entry points: parse_header() validates the header in one streaming
// pass and returns the list of entries; decode() then pulls each entry's bytes through a reader —
// memcpy from a buffer for parse_safetensors (the fuzz harness), pread for load_safetensors (large
// tensors straight into place, small ones through a 1 MB window: no second copy of a large
// checkpoint in memory, and no SIGBUS if the file shrinks under a mapping).
#include "core/safetensors.h"

#include "core/json_events.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
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
  std::vector<Entry> entries;     // in the header's order
  std::vector<size_t> by_name;    // entry indices in name order, the TensorMap's
  std::vector<size_t> by_offset;  // entry indices in the order of their bytes, the order they are read
  Metadata metadata;
};

// Indices 0..n-1 ordered by `less`; files written in order (sieve's, PyTorch's) skip the sort.
template <typename Less>
std::vector<size_t> sorted_indices(size_t n, Less less) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  if (!std::is_sorted(order.begin(), order.end(), less)) std::sort(order.begin(), order.end(), less);
  return order;
}

// Entry indices in name order. Sorted as (first 8 bytes of the name, big-endian; index) pairs
// in one contiguous array, which orders like the names and settles most comparisons without
// touching the strings: sorting a million entries by their strings directly took a third of a
// second, most of it cache misses.
std::vector<size_t> sorted_by_name(const std::vector<Entry>& es) {
  std::vector<std::pair<uint64_t, size_t>> keyed(es.size());
  for (size_t i = 0; i < es.size(); ++i) {
    uint64_t prefix = 0;
    for (size_t b = 0; b < 8; ++b) prefix = prefix << 8 | (b < es[i].name.size() ? static_cast<uint8_t>(es[i].name[b]) : 0);
    keyed[i] = {prefix, i};
  }
  const auto less = [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : es[a.second].name < es[b.second].name;
  };
  if (!std::is_sorted(keyed.begin(), keyed.end(), less)) std::sort(keyed.begin(), keyed.end(), less);
  std::vector<size_t> order(es.size());
  for (size_t i = 0; i < es.size(); ++i) order[i] = keyed[i].second;
  return order;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The header's checks, fed by the JSON reader in one pass (core/json_events.h): each entry is
// checked and built as its values arrive, with no JSON document in between (a document of a
// million entries cost seconds of allocation). A header's structure is fixed — root object →
// entry or __metadata__ object → shape or data_offsets array — so a value nested deeper is refused
// at once, which also bounds what a hostile header can make us allocate. Errors come in document
// order: the first thing wrong is the one reported.
class HeaderReader {
 public:
  HeaderReader(const std::string& file, uint64_t data_size) : file_(file), data_size_(data_size) {}
  Header take() { return std::move(header_); }

  void start_object() {
    switch (open()) {
      case At::top: return enter(At::root);
      case At::root: return enter(in_metadata_ ? At::metadata : At::entry);
      default: wrong("object", "{...}");
    }
  }
  void end_object() {
    if (here() == At::entry) finish_entry();
    leave();
  }
  void start_array() {
    const At at = open();
    if (at == At::entry && field_ == kShape) return enter(At::shape);
    if (at == At::entry && field_ == kOffsets) return enter(At::offsets);
    wrong("array", "[...]");
  }
  void end_array() {
    if (here() == At::offsets) {
      if (offsets_seen_ != 2)
        fail("{}: data_offsets must be an array [begin, end], got an array of {} values", who(), offsets_seen_);
      if (entry_.begin > entry_.end) fail("{}: data_offsets begin {} > end {}", who(), entry_.begin, entry_.end);
      if (entry_.end > data_size_)
        fail("{}: data_offsets [{}, {}] lie outside the {}-byte data section (truncated file?)", who(), entry_.begin,
             entry_.end, data_size_);
    }
    leave();
  }

  void key(std::string&& name) {
    switch (here()) {
      case At::root:
        in_metadata_ = name == "__metadata__";
        if (in_metadata_ && metadata_seen_) fail("header has the key '__metadata__' twice");
        metadata_seen_ |= in_metadata_;
        entry_ = Entry{};
        entry_.name = std::move(name);
        fields_seen_ = 0;
        return;
      case At::entry:
        field_ = name == "dtype" ? kDtype : name == "shape" ? kShape : name == "data_offsets" ? kOffsets : 0;
        if (field_ == 0)
          fail("{}: unknown key '{}' (expected dtype, shape, data_offsets)", who(), printable(name, kShownChars));
        if (fields_seen_ & field_) fail("header has the key '{}' twice (in {})", printable(name, kShownChars), who());
        fields_seen_ |= field_;
        return;
      default:  // At::metadata, the only other object
        metadata_key_ = std::move(name);
        if (header_.metadata.count(metadata_key_))
          fail("header has the key '{}' twice (in __metadata__)", printable(metadata_key_, kShownChars));
    }
  }

  void string(std::string&& s) {
    if (here() == At::metadata) {
      header_.metadata.emplace(std::move(metadata_key_), std::move(s));
      return;
    }
    if (here() != At::entry || field_ != kDtype) wrong("string", "\"" + printable(s, 40) + "\"");
    for (const auto& code : kCodes)
      if (s == code.code) entry_.code = &code;
    if (entry_.code == nullptr)
      fail("{}: unsupported dtype '{}' (sieve reads {})", who(), printable(s, kShownChars), kReadable);
  }
  void number(const JsonNumber& n) {
    if (!in_array()) wrong("number", printable(n.text, 40));
    if (n.kind != JsonNumber::whole || n.value > static_cast<uint64_t>(INT64_MAX)) not_a_size(n);
    if (here() == At::shape) return add_dim(n.value);
    if (offsets_seen_ < 2) (offsets_seen_ == 0 ? entry_.begin : entry_.end) = n.value;
    ++offsets_seen_;
  }
  void boolean(bool v) { wrong("boolean", v ? "true" : "false"); }
  void null() { wrong("null", "null"); }

 private:
  // Where a value can go, innermost open container first.
  enum class At { top, root, entry, metadata, shape, offsets };
  static constexpr int kDtype = 1, kShape = 2, kOffsets = 4;  // entry fields, as bits of fields_seen_

  At here() const { return stack_[depth_]; }
  bool in_array() const { return here() == At::shape || here() == At::offsets; }
  At open() const {
    if (depth_ == kMaxDepth) fail("header JSON is nested deeper than a safetensors header can be");
    return here();
  }
  void enter(At inner) { stack_[++depth_] = inner; }
  void leave() { --depth_; }
  std::string who() const { return "tensor '" + printable(entry_.name, kShownChars) + "'"; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    fail_file(file_, format, std::forward<Args>(args)...);
  }

  // A value of the wrong kind for where it stands; `text` shows it where the message quotes it.
  [[noreturn]] void wrong(const char* kind, const std::string& text) const {
    switch (here()) {
      case At::top: fail("header is {}, not a JSON object", kind);
      case At::root:
        if (in_metadata_) fail("__metadata__ must be an object of strings, got {} (the name is reserved)", kind);
        fail("{}: entry is {}, not an object", who(), kind);
      case At::metadata:
        fail("__metadata__ value for '{}' is {}, not a string", printable(metadata_key_, kShownChars), kind);
      case At::entry:
        if (field_ == kDtype) fail("{}: dtype is {}, not a string", who(), kind);
        if (field_ == kShape) fail("{}: shape is {}, not an array", who(), kind);
        fail("{}: data_offsets must be an array [begin, end], got {}", who(), text);
      case At::shape: fail("{}: shape entry {} is {}", who(), text, kind);
      case At::offsets: fail("{}: data_offsets entry {} is {}, not a non-negative integer", who(), text, kind);
    }
    fail("header JSON has a value where none can be");  // unreachable: every At is handled above
  }
  [[noreturn]] void not_a_size(const JsonNumber& n) const {
    const char* why = n.kind == JsonNumber::negative_whole ? "a negative integer"
                      : n.kind == JsonNumber::fraction     ? "not an integer"
                                                           : "too large";
    if (here() == At::offsets)
      fail("{}: data_offsets entry {} is {}: not two non-negative integers", who(), printable(n.text, 40), why);
    fail("{}: shape entry {} is {}", who(), printable(n.text, 40), why);
  }

  void add_dim(uint64_t size) {
    if (entry_.shape.size() == static_cast<size_t>(kMaxDims))
      fail("{}: shape has more than {} dims, sieve supports at most {}", who(), kMaxDims, kMaxDims);
    entry_.shape.push_back(static_cast<int64_t>(size));
    // Both checked at every step, so (2^40, 2^40, 0) and (0, 2^40, 2^40) are refused too: their
    // strides would overflow even though they have no elements.
    if (__builtin_mul_overflow(numel_, size, &numel_) || numel_ > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(span_, std::max<uint64_t>(size, 1), &span_) || span_ > static_cast<uint64_t>(INT64_MAX))
      fail("{}: shape {} has too many elements (the product overflows)", who(), shape_str(entry_.shape));
  }

  void finish_entry() {
    for (const auto& [bit, name] : {std::pair{kDtype, "dtype"}, {kShape, "shape"}, {kOffsets, "data_offsets"}})
      if (!(fields_seen_ & bit)) fail("{}: missing key '{}'", who(), name);
    uint64_t numel = 1, nbytes;
    for (const int64_t s : entry_.shape) numel *= static_cast<uint64_t>(s);  // cannot overflow: add_dim checked
    if (__builtin_mul_overflow(numel, entry_.code->size, &nbytes) || nbytes != entry_.end - entry_.begin)
      fail("{}: {} bytes in data_offsets [{}, {}], but shape {} of {} needs {} × {}", who(), entry_.end - entry_.begin,
           entry_.begin, entry_.end, shape_str(entry_.shape), entry_.code->code, numel, entry_.code->size);
    header_.entries.push_back(std::move(entry_));
    numel_ = span_ = 1;
    offsets_seen_ = 0;
  }

  static constexpr int kMaxDepth = 3;  // root → entry → array
  const std::string& file_;
  const uint64_t data_size_;
  Header header_;
  At stack_[kMaxDepth + 1] = {At::top};
  int depth_ = 0;
  Entry entry_;                // the entry being read
  int field_ = 0;              // which of its fields the next value fills
  int fields_seen_ = 0;        // its fields so far, as bits
  uint64_t numel_ = 1, span_ = 1;  // its shape's element count and stride span so far
  int64_t offsets_seen_ = 0;   // values in its data_offsets so far
  bool in_metadata_ = false, metadata_seen_ = false;
  std::string metadata_key_;
};

Header parse_header(const char* text, size_t n, uint64_t data_size, const std::string& file) {
  HeaderReader reader(file, data_size);
  JsonEvents<HeaderReader>({text, n}, file, "header").read(reader);
  Header h = reader.take();
  // In name order a name given twice is adjacent.
  const std::vector<Entry>& es = h.entries;
  h.by_name = sorted_by_name(es);
  for (size_t i = 1; i < es.size(); ++i)
    if (es[h.by_name[i]].name == es[h.by_name[i - 1]].name)
      fail_file(file, "header names the tensor '{}' twice", printable(es[h.by_name[i]].name, kShownChars));
  // Overlap: in offset order each non-empty range must start at or after the previous ones end.
  // Gaps between tensors are allowed (other writers may align them); empty ranges overlap nothing.
  h.by_offset = sorted_indices(es.size(), [&](size_t a, size_t b) { return es[a].begin < es[b].begin; });
  const Entry* previous = nullptr;
  uint64_t last_end = 0;
  for (const size_t i : h.by_offset) {
    const Entry& e = es[i];
    if (e.end == e.begin) continue;
    if (previous != nullptr && e.begin < previous->end)
      fail_file(file, "tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data section",
                printable(previous->name, kShownChars), previous->begin, previous->end,
                printable(e.name, kShownChars), e.begin, e.end);
    previous = &e;
    last_end = e.end;
  }
  // Bytes after the last tensor's data belong to nothing: an appended file or a wrong header.
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

// Decodes every entry in the order of its bytes in the file, so a windowed reader only moves
// forward (name order can jump back and forth: t1, t10, t100, t11, ...), then files them by name.
template <typename Reader>
TensorMap decode_all(const Header& h, Reader&& read) {
  std::vector<Tensor> decoded(h.entries.size());
  for (const size_t i : h.by_offset) decoded[i] = decode(h.entries[i], read);
  TensorMap out;
  for (const size_t i : h.by_name) out.emplace_hint(out.end(), h.entries[i].name, std::move(decoded[i]));
  return out;
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

// Reads the data section through a 1 MB window: a file of many small tensors costs a few large
// reads instead of a system call per tensor (a million of them took a second); a tensor as large
// as the window is read straight into place, so a big checkpoint is never held twice.
struct WindowReader {
  static constexpr uint64_t kWindowBytes = 1 << 20;
  int fd;
  uint64_t data_start, data_size;  // where the data section begins in the file, and its length
  const std::string& file;
  std::vector<uint8_t> window{};
  uint64_t window_at = 0, window_len = 0;  // the window's bytes, relative to the data section

  void operator()(void* dst, size_t n, uint64_t at) {
    if (n >= kWindowBytes) return pread_exact(fd, dst, n, data_start + at, file);
    if (at < window_at || at + n > window_at + window_len) {
      window_len = std::min(kWindowBytes, data_size - at);  // at + n <= data_size: parse_header checked
      window.resize(kWindowBytes);
      pread_exact(fd, window.data(), window_len, data_start + at, file);
      window_at = at;
    }
    std::memcpy(dst, window.data() + (at - window_at), n);
  }
};

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
  return {decode_all(h, [&](void* dst, size_t bytes, uint64_t at) { std::memcpy(dst, body + at, bytes); }), h.metadata};
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
  return {decode_all(h, WindowReader{f.fd, 8 + n, size - 8 - n, path}), h.metadata};
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
