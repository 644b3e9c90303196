// datasets/idx.cpp — the IDX reader (format, rules and memory cost in idx.h).
//
// What it is: one parser, parse(), that pulls bytes through a reader — memcpy from a buffer for
// parse_idx (the fuzz harness), gzread for load_idx (zlib reads raw and gzipped files alike) — so
// the two entry points cannot drift apart. Every size is checked before the data is allocated.
// What it is not: a decompressor of in-memory gzip (parse_idx takes raw bytes only).
// Extend: a new element type is a row in kTypes and a case in IdxArray::to_tensor().
#include "datasets/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

#include "datasets/read_file.h"

namespace sieve {

namespace {

struct TypeRow {
  IdxType type;
  const char* name;
  size_t size;
};
constexpr TypeRow kTypes[] = {
    {IdxType::u8, "ubyte", 1},  {IdxType::i8, "sbyte", 1},   {IdxType::i16, "int16", 2},
    {IdxType::i32, "int32", 4}, {IdxType::f32, "float32", 4}, {IdxType::f64, "float64", 8},
};

const TypeRow* find_type(uint8_t code) {
  for (const TypeRow& row : kTypes)
    if (static_cast<uint8_t>(row.type) == code) return &row;
  return nullptr;
}


uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

constexpr uint64_t kUnknownSize = UINT64_MAX;
// Data is read in steps of this size, so memory follows what a gzip stream really holds.
constexpr size_t kChunk = 64u << 20;

// read(dst, n) returns how many bytes it put in dst: n, or fewer only at the end of the input.
// known_size is the input's total size when known up front (memory, raw files): then a short or
// over-long file is refused before anything is allocated. For gzip it is kUnknownSize.
template <typename Read>
IdxArray parse(Read&& read, uint64_t known_size, const std::string& file) {
  uint8_t magic[4];
  const size_t got = read(magic, 4);
  if (got < 4) fail_file(file, "file is {} bytes, too short for the 4-byte IDX magic", got);
  if (magic[0] != 0 || magic[1] != 0)
    fail_file(file, "bad magic {:02x} {:02x} {:02x} {:02x}: an IDX file starts 00 00 TT NN (not an IDX file?)",
              magic[0], magic[1], magic[2], magic[3]);
  const TypeRow* type = find_type(magic[2]);
  if (type == nullptr)
    fail_file(file, "unknown IDX element type 0x{:02x} (known: 08 ubyte, 09 sbyte, 0B int16, 0C int32, 0D float32, "
              "0E float64)", magic[2]);
  const int nd = magic[3];
  if (nd == 0 || nd > kMaxDims) fail_file(file, "header says {} dims; sieve reads IDX files of 1 to {}", nd, kMaxDims);

  std::array<uint8_t, 4 * kMaxDims> raw{};
  const size_t header = 4 + 4 * static_cast<size_t>(nd);
  if (read(raw.data(), 4 * nd) < 4 * static_cast<size_t>(nd))
    fail_file(file, "file ends inside the header ({} dims need {} header bytes)", nd, header);
  IdxArray out;
  out.type = type->type;
  // The product of the non-zero sizes must fit int64 even when a zero makes the array empty:
  // the tensor's strides are built from it (a fuzzer found (0, 2^31, 2^31, ...) overflowing them).
  uint64_t numel = 1, span = 1;
  bool overflow = false;
  for (int d = 0; d < nd; ++d) {
    const uint32_t size = be32(&raw[4 * d]);
    out.dims.push_back(size);
    numel *= size;  // cannot overflow: numel <= span
    overflow = overflow || __builtin_mul_overflow(span, std::max<uint32_t>(size, 1), &span) ||
               span > static_cast<uint64_t>(INT64_MAX);
  }
  uint64_t nbytes = 0;
  if (overflow || __builtin_mul_overflow(numel, type->size, &nbytes))
    fail_file(file, "sizes {} overflow (their product does not fit in 64 bits)", shape_str(out.dims));
  if (nbytes > kMaxIdxBytes)
    fail_file(file, "sizes {} of {} need {} bytes of data, over the {} GiB limit", shape_str(out.dims), type->name,
              nbytes, kMaxIdxBytes >> 30);
  if (known_size != kUnknownSize && known_size - header < nbytes)
    fail_file(file, "sizes {} of {} need {} bytes of data, but the file has {} after the header (truncated?)",
              shape_str(out.dims), type->name, nbytes, known_size - header);
  if (known_size != kUnknownSize && known_size - header > nbytes)
    fail_file(file, "{} bytes of trailing garbage after the {}-byte data section (refused: an IDX file ends with its "
              "data)", known_size - header - nbytes, nbytes);

  size_t have = 0;
  while (have < nbytes) {
    const size_t step = std::min<uint64_t>(kChunk, nbytes - have);
    out.bytes.resize(have + step);
    const size_t n = read(out.bytes.data() + have, step);
    have += n;
    if (n < step)
      fail_file(file, "data ends after {} of {} bytes (sizes {} of {}; truncated?)", have, nbytes,
                shape_str(out.dims), type->name);
  }
  // For gzip this last read also makes zlib check the stream's CRC and length trailer.
  uint8_t extra;
  if (read(&extra, 1) != 0)
    fail_file(file, "trailing garbage after the {}-byte data section (refused: an IDX file ends with its data)",
              nbytes);
  return out;
}

// Closes the gzip handle (and with it the file descriptor) on every path out.
struct Gz {
  gzFile f = nullptr;
  ~Gz() {
    if (f != nullptr) gzclose(f);
  }
};

template <typename T>
T load_be(const uint8_t* p) {
  std::array<uint8_t, sizeof(T)> b;
  std::reverse_copy(p, p + sizeof(T), b.begin());  // the file is big-endian, this machine is not
  return std::bit_cast<T>(b);
}
static_assert(std::endian::native == std::endian::little, "load_be assumes a little-endian host");

// Decodes n elements of type Src into Dst, multiplying by scale when Dst is floating.
template <typename Src, typename Dst>
void convert(const uint8_t* in, Dst* out, int64_t n, double scale) {
  for (int64_t i = 0; i < n; ++i) {
    const Src v = load_be<Src>(in + i * static_cast<int64_t>(sizeof(Src)));
    if constexpr (std::is_floating_point_v<Dst>)
      out[i] = static_cast<Dst>(static_cast<double>(v) * scale);
    else
      out[i] = static_cast<Dst>(v);
  }
}

template <typename Dst>
void convert_any(const IdxArray& a, Dst* out, double scale) {
  const int64_t n = a.numel();
  switch (a.type) {
    case IdxType::u8: return convert<uint8_t>(a.bytes.data(), out, n, scale);
    case IdxType::i8: return convert<int8_t>(a.bytes.data(), out, n, scale);
    case IdxType::i16: return convert<int16_t>(a.bytes.data(), out, n, scale);
    case IdxType::i32: return convert<int32_t>(a.bytes.data(), out, n, scale);
    case IdxType::f32: return convert<float>(a.bytes.data(), out, n, scale);
    case IdxType::f64: return convert<double>(a.bytes.data(), out, n, scale);
  }
}

}  // namespace

const char* idx_type_name(IdxType t) {
  for (const TypeRow& row : kTypes)
    if (row.type == t) return row.name;
  return "?";
}

size_t idx_type_size(IdxType t) {
  for (const TypeRow& row : kTypes)
    if (row.type == t) return row.size;
  return 0;
}

Tensor IdxArray::to_tensor(DType dtype, double scale) const {
  SIEVE_CHECK(bytes.size() == static_cast<size_t>(numel()) * idx_type_size(type),
              "IdxArray::to_tensor: {} bytes do not match sizes {} of {}", bytes.size(), shape_str(dims),
              idx_type_name(type));
  Tensor t = empty(dims, {.dtype = dtype});
  switch (dtype) {
    case DType::f32: convert_any(*this, t.data<float>(), scale); break;
    case DType::f64: convert_any(*this, t.data<double>(), scale); break;
    case DType::i64:
      SIEVE_CHECK(type != IdxType::f32 && type != IdxType::f64,
                  "IdxArray::to_tensor: {} values cannot become int64 (only integer IDX types can)",
                  idx_type_name(type));
      SIEVE_CHECK(scale == 1.0, "IdxArray::to_tensor: an int64 result takes no scale (got {})", scale);
      convert_any(*this, t.data<int64_t>(), 1.0);
      break;
  }
  return t;
}

IdxArray parse_idx(const uint8_t* data, size_t size, const std::string& name) {
  size_t at = 0;
  auto read = [&](void* dst, size_t n) {
    n = std::min(n, size - at);
    if (n > 0) std::memcpy(dst, data + at, n);
    at += n;
    return n;
  };
  return parse(read, size, name);
}

IdxArray load_idx(const std::string& path) {
  const auto [fd, file_size] = data::open_regular_file(path);
  Gz gz{gzdopen(fd, "rb")};  // from here on gzclose closes fd
  if (gz.f == nullptr) {
    ::close(fd);
    fail_file(path, "cannot open: zlib could not allocate its state");
  }
  gzbuffer(gz.f, 1u << 17);
  // gzdirect right after gzdopen peeks at the first bytes: 1 means not gzip, read as is.
  const bool raw = gzdirect(gz.f) == 1;
  auto read = [&](void* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      const unsigned ask = static_cast<unsigned>(std::min<size_t>(n - done, INT_MAX));
      const int got = gzread(gz.f, static_cast<char*>(dst) + done, ask);
      // zlib flags a stream cut short (even one missing only its CRC trailer) as Z_BUF_ERROR while
      // gzread still returns 0 or a partial count, so the error state is checked on every end.
      int code = Z_OK;
      const char* why = gzerror(gz.f, &code);
      if (got < 0 || code != Z_OK) {
        if (code == Z_ERRNO) fail_file(path, "read failed: {}", std::strerror(errno));
        if (code == Z_BUF_ERROR) fail_file(path, "gzip stream is truncated ({})", printable(why ? why : "", 200));
        fail_file(path, "gzip data is corrupt: {}", printable(why ? why : "unknown zlib error", 200));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  };
  return parse(read, raw ? file_size : kUnknownSize, path);
}

}  // namespace sieve
