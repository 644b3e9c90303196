// tests/core/test_memory.cpp — the allocator refuses what cannot be had (core/allocator.h:
// OutOfMemory, MemoryBudget) instead of overcommitting into the OOM killer.
#include <limits>

#include "core/allocator.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("a memory budget refuses what would pass it, the tightest of nested budgets holds, and it ends with its scope") {
  {
    MemoryBudget budget(1 << 20);        // 1 MB
    Tensor small = empty({1000});        // 4 kB: inside
    CHECK_THROWS_AS(empty({1 << 20}), OutOfMemory);  // 4 MB: past it
    {
      MemoryBudget loose(int64_t{1} << 40);
      CHECK_THROWS_WITH_AS(empty({1 << 20}), doctest::Contains("budget"), OutOfMemory);
    }
    CHECK_THROWS_AS(empty({1 << 20}), OutOfMemory);  // the inner one's end restored the outer one
  }
  CHECK(empty({1 << 20}).numel() == 1 << 20);
}

TEST_CASE("a request larger than the machine's free memory is refused before anything is allocated") {
  const int64_t room = cpu_memory_available();
  REQUIRE(room > 0);
  if (room < std::numeric_limits<int64_t>::max() / 8) {  // a machine that says what it has
    const int64_t live = memory_stats(kCPU).live_bytes;
    CHECK_THROWS_WITH_AS(empty({room / 2 + 1024}), doctest::Contains("out of memory"), OutOfMemory);  // 2× the room
    CHECK(memory_stats(kCPU).live_bytes == live);
  }
  // Overflowing sizes are refused too (the shape check or this one), never wrapped around.
  CHECK_THROWS_AS(empty({int64_t{1} << 61}), Error);
}

TEST_CASE("byte counts read as people write them") {
  CHECK(format_bytes(812) == "812 B");
  CHECK(format_bytes(3.14e6) == "3.1 MB");
  CHECK(format_bytes(32e9) == "32.0 GB");
}
