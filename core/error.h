// core/error.h — the one exception type sieve throws, and the check macro that builds it.
//
// Every user-facing failure (bad shape, wrong dtype, index out of range, a hostile file, a CUDA
// request on a machine without CUDA) is a sieve::Error whose message names the op or file, the
// shapes, dtypes and devices involved. Internal invariants use the same macro: an error message is
// cheaper than a crash for whoever hits it.
//
// Extend: nothing to extend; write `SIEVE_CHECK(cond, "op: what went wrong {}", detail)`.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace sieve {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Text that came from a file (a tensor name, a file name) made safe for a one-line message:
// control bytes escaped as \xNN, and cut after `max` bytes so a hostile 100 MB name does not
// become a 100 MB message.
inline std::string printable(std::string_view text, size_t max = 4096) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (text.size() > max) out += "...";
  return out;
}

// The error every file reader throws: "<file>: <problem>".
template <typename... Args>
[[noreturn]] void fail_file(const std::string& file, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(printable(file) + ": " + fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sieve

// SIEVE_CHECK(cond, "fmt", args...): throw sieve::Error with a formatted message when cond is false.
#define SIEVE_CHECK(cond, ...)                        \
  do {                                                \
    if (!(cond)) [[unlikely]] ::sieve::fail(__VA_ARGS__); \
  } while (0)
