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

namespace sieve {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sieve

// SIEVE_CHECK(cond, "fmt", args...): throw sieve::Error with a formatted message when cond is false.
#define SIEVE_CHECK(cond, ...)                        \
  do {                                                \
    if (!(cond)) [[unlikely]] ::sieve::fail(__VA_ARGS__); \
  } while (0)
