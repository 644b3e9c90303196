// datasets/read_file.cpp — read_whole_file (see read_file.h).
#include "datasets/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace sieve::data {

OpenFile open_regular_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(path, "cannot open: {}", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_file(path, "not a regular file");
  }
  return {fd, static_cast<uint64_t>(st.st_size)};
}

std::vector<uint8_t> read_whole_file(const std::string& path, uint64_t max_bytes) {
  const auto [fd, size] = open_regular_file(path);
  if (size > max_bytes) {
    ::close(fd);
    fail_file(path, "file is {} bytes, over the {}-byte limit for this kind of file", size, max_bytes);
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t have = 0;
  while (have < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + have, bytes.size() - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = errno;
      ::close(fd);
      if (got == 0) fail_file(path, "file ended early while reading (was it truncated during the read?)");
      fail_file(path, "read failed: {}", std::strerror(err));
    }
    have += static_cast<size_t>(got);
  }
  ::close(fd);
  return bytes;
}

}  // namespace sieve::data
