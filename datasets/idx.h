// datasets/idx.h — the IDX reader (the format of MNIST and Fashion-MNIST), raw or gzipped.
//
// The format: a 4-byte magic 00 00 TT NN (TT the element type, NN the number of dims), NN
// big-endian u32 sizes, then the elements row-major and big-endian. Types:
//   08 ubyte  09 sbyte  0B int16  0C int32  0D float32  0E float64
// What it is: a strict reader. It refuses a wrong magic, an unknown type, 0 or more than 8 dims,
// sizes whose product overflows or passes kMaxIdxBytes, a data section shorter than the sizes say
// (truncated) and bytes after it (trailing garbage: refused, because a well-formed IDX file ends
// exactly where its data does, so extra bytes mean a wrong or corrupted file). Every refusal is a
// one-line sieve::Error that begins with the file's name.
// What it is not: a dataset (datasets/vision.h turns IDX files into MNIST image/label tensors),
// nor a writer.
//
// Memory: IdxArray keeps the data section compact, as the file's bytes (MNIST train images:
// 47 MB, 1 byte per pixel); to_tensor() converts on request, which costs 4 bytes per element for
// float32 (188 MB for MNIST train) or 8 for float64/int64. sieve has no uint8 dtype on purpose.
//
// Extend: a new element type is one row in the table in datasets/idx.cpp and a case in decode().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sieve {

enum class IdxType : uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

const char* idx_type_name(IdxType t);  // "ubyte", "sbyte", "int16", "int32", "float32", "float64"
size_t idx_type_size(IdxType t);       // bytes per element: 1, 1, 2, 4, 4, 8

// The data section may hold at most this many bytes (2 GiB; MNIST train images are 47 MB). A
// gzipped file is decompressed in steps, so a small hostile file claiming huge sizes allocates
// only what it really decompresses to.
constexpr uint64_t kMaxIdxBytes = 2ull << 30;

struct IdxArray {
  IdxType type = IdxType::u8;
  Shape dims;                  // the sizes from the header, in order
  std::vector<uint8_t> bytes;  // the data section as in the file: big-endian, row-major

  int64_t numel() const { return numel_of(dims); }
  // The values as a CPU tensor of dims' shape. float32/float64 take any type (an int32 above
  // 2^24 is rounded in float32); int64 takes the integer types only. Values are multiplied by
  // scale (1/255 maps ubyte pixels to [0, 1]); an integer result takes no scale.
  Tensor to_tensor(DType dtype = DType::f32, double scale = 1.0) const;
};

// Reads `path`, raw or gzip-compressed (zlib tells them apart by the first bytes).
IdxArray load_idx(const std::string& path);
// Parses an uncompressed IDX file held in memory (the fuzz harness); `name` is used in errors.
IdxArray parse_idx(const uint8_t* data, size_t size, const std::string& name);

}  // namespace sieve
