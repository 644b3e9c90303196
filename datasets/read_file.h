// datasets/read_file.h — read a whole file into memory, refusing what is not a regular file
// (internal to datasets/: the CIFAR-10 batches and the image files go through it).
//
// What it is: open + fstat + read in a loop, with one-line errors that name the file ("cannot
// open: No such file or directory", "not a regular file", "file is N bytes, over the limit");
// open_regular_file() is the first half alone (the IDX reader hands the descriptor to zlib).
// What it is not: a memory map or a streaming reader; files here are at most a few hundred MB.
// Extend: nothing to extend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sieve::data {

// The file's bytes; a file larger than max_bytes is refused before anything is read.
std::vector<uint8_t> read_whole_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

// An open descriptor (O_CLOEXEC, read-only) of a regular file, and its size; the caller closes it.
struct OpenFile {
  int fd = -1;
  uint64_t size = 0;
};
OpenFile open_regular_file(const std::string& path);

}  // namespace sieve::data
