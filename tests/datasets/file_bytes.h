// tests/datasets/file_bytes.h — whole files as bytes, for the data-reader tests that write their
// own good and bad files (test_datasets.cpp, test_image_folder.cpp).
// What it is not: a reader under test (datasets/read_file.h is the library's).
// Extend: add a helper here only when both test files need it.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace sieve::test {

using Bytes = std::vector<uint8_t>;

inline void write_raw(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline Bytes read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace sieve::test
