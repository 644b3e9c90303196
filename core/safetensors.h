// core/safetensors.h — reading and writing the safetensors format (checkpoints, golden files).
//
// The format: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian tensor bytes, offsets relative to the end of the header.
// Written: F32, F64, I64. Read: those plus BF16 and F16 (widened to float32).
// Every file is treated as hostile: sizes are checked before any read, offsets must lie in the
// file, not overlap, and match shape × dtype size; no byte may follow the last tensor's data; a
// name may appear once; the header parses in O(n log n) of its tensors. Any violation is a
// sieve::Error naming the file.
// Writes go to "<path>.tmp", are flushed, then renamed over path.
//
// Extend: a new dtype code goes in the table in core/safetensors.cpp.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace sieve {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;  // CPU tensors, in name order
  Metadata metadata;
};

SafetensorsFile load_safetensors(const std::string& path);
// Parses an in-memory file (the fuzz harness uses this); `name` is used in error messages.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name);
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});

}  // namespace sieve
