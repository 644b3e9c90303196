// core/allocator.cpp — aligned CPU allocations with counters, and a cache of large blocks;
// CUDA memory comes from cuda/ (its own caching allocator, cuda/runtime.cpp), counted here alike.
//
// Why a cache: glibc serves big blocks with a fresh mmap and returns them to the OS on free, so
// every large tensor would pay a page fault per 4 KiB on first touch — a 64 MB output costs more
// in faults than the op itself. Freed blocks of at least kCacheMin bytes are kept in a free list
// keyed by their rounded size and handed to the next request of that size (training steps repeat
// the same sizes), up to kCacheMax bytes in all; past that the blocks freed longest ago go back
// to the OS first, so a process whose sizes change (a test pass at batch 256, then training at 16)
// caches its new sizes instead of faulting them in on every step. empty_cache() gives all back.
//
// Why a memory check (OutOfMemory, MemoryBudget in allocator.h): the OS overcommits, so a request
// far beyond the machine's memory succeeds and ends in the OOM killer; sieve refuses it instead.
#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "cuda/backend.h"

namespace sieve {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCacheMin = size_t{1} << 16;  // 64 KiB: below this glibc's own bins are fast
constexpr size_t kCacheMax = size_t{4} << 30;  // by default never keep more than 4 GiB idle

// Free large CPU blocks, oldest first, and by rounded size (each size's list oldest first too, as
// blocks are kept in the order they are freed).
struct BlockCache {
  struct Block {
    void* ptr;
    size_t size;
  };
  std::mutex mutex;
  std::list<Block> by_age;
  std::map<size_t, std::vector<std::list<Block>::iterator>> by_size;
  size_t cached_bytes = 0, limit = kCacheMax;

  void* take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = by_size.find(rounded);
    if (it == by_size.end() || it->second.empty()) return nullptr;
    const auto block = it->second.back();  // the newest: likeliest still in the CPU's caches
    it->second.pop_back();
    void* ptr = block->ptr;
    by_age.erase(block);
    cached_bytes -= rounded;
    return ptr;
  }
  bool keep(void* ptr, size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex);
    if (rounded > limit) return false;
    while (cached_bytes + rounded > limit) {  // make room: the block freed longest ago goes
      const Block oldest = by_age.front();
      std::vector<std::list<Block>::iterator>& same = by_size[oldest.size];
      same.erase(same.begin());  // that size's oldest is the front of its list
      by_age.pop_front();
      cached_bytes -= oldest.size;
      std::free(oldest.ptr);
    }
    by_size[rounded].push_back(by_age.insert(by_age.end(), {ptr, rounded}));
    cached_bytes += rounded;
    return true;
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex);
    release_locked();
  }
  void release_locked() {
    for (const Block& b : by_age) std::free(b.ptr);
    by_age.clear();
    by_size.clear();
    cached_bytes = 0;
  }
};

BlockCache& cpu_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive statics
  return *cache;
}

// Large blocks round to 4 KiB pages so slightly different sizes share a list.
size_t rounded_size(size_t nbytes) {
  const size_t granule = nbytes >= kCacheMin ? 4096 : kAlignment;
  return nbytes == 0 ? kAlignment : (nbytes + granule - 1) / granule * granule;
}

struct Counters {
  std::atomic<int64_t> live{0}, peak{0}, allocations{0};
};

Counters& counters(Device device) {
  static Counters cpu, cuda;
  return device.is_cpu() ? cpu : cuda;
}

void count_alloc(Device device, size_t nbytes) {
  Counters& c = counters(device);
  int64_t now = c.live += static_cast<int64_t>(nbytes);
  c.allocations++;
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

// --- The memory check (OutOfMemory in allocator.h) ---

// A "Name:   123 kB" line of /proc/meminfo in bytes, or -1.
int64_t meminfo_bytes(const std::string& name) {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == name + ":") return kb * 1024;
  }
  return -1;
}

// A number in a cgroup v2 file ("max" or absent: -1).
int64_t cgroup_number(const char* file) {
  std::ifstream in(std::string("/sys/fs/cgroup/") + file);
  std::string text;
  if (!(in >> text) || text == "max") return -1;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return -1;
  }
}

// SIEVE_MEMORY_LIMIT: a cap on sieve's live CPU tensor bytes ("512M", "8G", "1000000"; k, M, G
// are powers of 1000), for a shared machine or a test; -1 when unset.
int64_t memory_limit_from_environment() {
  static const int64_t limit = [] {
    const char* text = std::getenv("SIEVE_MEMORY_LIMIT");
    if (text == nullptr || *text == '\0') return int64_t{-1};
    char* end = nullptr;
    const double number = std::strtod(text, &end);
    double scale = 1;
    if (*end == 'k' || *end == 'K') scale = 1e3, ++end;
    else if (*end == 'M') scale = 1e6, ++end;
    else if (*end == 'G') scale = 1e9, ++end;
    else if (*end == 'T') scale = 1e12, ++end;
    if (end == text || *end != '\0' || !(number >= 0) || number * scale > 9e18)
      throw Error(fmt::format("SIEVE_MEMORY_LIMIT: '{}' is not a byte count (such as 512M or 8G)", printable(text, 40)));
    return static_cast<int64_t>(number * scale);
  }();
  return limit;
}

// What more could be had now, and what bounds it (for the message): the OS's MemAvailable and a
// cgroup's room, less a margin left for everything else (5% of the machine, at most 1 GiB), and
// SIEVE_MEMORY_LIMIT's room. This process's cached blocks are not counted (they are freed first).
struct Room {
  int64_t bytes = std::numeric_limits<int64_t>::max();
  const char* bound = "no limit";
};

Room room_now() {
  Room room;
  int64_t os = meminfo_bytes("MemAvailable");
  const int64_t cap = cgroup_number("memory.max"), used = cgroup_number("memory.current");
  if (cap > 0 && used >= 0) os = os < 0 ? cap - used : std::min(os, cap - used);
  if (os >= 0) {
    const int64_t total = std::max<int64_t>(meminfo_bytes("MemTotal"), 0);
    room = {os - std::min<int64_t>(total / 20, int64_t{1} << 30), "this machine's free memory, less a margin"};
  }
  const int64_t limit = memory_limit_from_environment();
  if (limit >= 0 && limit - counters(kCPU).live.load() < room.bytes)
    room = {limit - counters(kCPU).live.load(), "SIEVE_MEMORY_LIMIT's room"};
  room.bytes = std::max<int64_t>(room.bytes, 0);
  return room;
}

struct MemoryCheck {
  std::mutex mutex;
  // Allocations that keep live bytes at or below this need no look at /proc: it is half of the
  // headroom seen at the last look (the other half is left for the world outside this process).
  std::atomic<int64_t> fast_limit{-1};
  std::atomic<int64_t> budget_end{std::numeric_limits<int64_t>::max()};  // the tightest MemoryBudget
};

MemoryCheck& memory_check() {
  static MemoryCheck* check = new MemoryCheck();
  return *check;
}

int64_t as_request(size_t rounded) {
  return static_cast<int64_t>(std::min<size_t>(rounded, std::numeric_limits<int64_t>::max() / 4));
}

// Throws OutOfMemory when `rounded` more live CPU bytes would pass the tightest MemoryBudget.
void check_budget(size_t rounded) {
  const int64_t end = memory_check().budget_end.load(std::memory_order_relaxed);
  if (end == std::numeric_limits<int64_t>::max()) return;
  const int64_t live = counters(kCPU).live.load(std::memory_order_relaxed), request = as_request(rounded);
  if (live + request > end)
    throw OutOfMemory(fmt::format("out of memory: {} more would pass what this step may take (only {} of its "
                                  "budget left)", format_bytes(static_cast<double>(request)),
                                  format_bytes(static_cast<double>(std::max<int64_t>(end - live, 0)))));
}

// Throws OutOfMemory unless `rounded` more bytes can be had (no cached block serves them).
void check_room(size_t rounded) {
  MemoryCheck& m = memory_check();
  const int64_t live = counters(kCPU).live.load(std::memory_order_relaxed), request = as_request(rounded);
  if (live + request <= m.fast_limit.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(m.mutex);
  Room room = room_now();
  if (request > room.bytes / 2) {  // near the edge: give back the cached blocks and look again
    cpu_cache().release_all();
    room = room_now();
  }
  if (request > room.bytes)
    throw OutOfMemory(fmt::format("out of memory: {} more would not fit in the {} that can be had ({}; sieve's "
                                  "tensors hold {})", format_bytes(static_cast<double>(request)),
                                  format_bytes(static_cast<double>(room.bytes)), room.bound,
                                  format_bytes(static_cast<double>(live))));
  // Until live bytes pass half of the room seen now, no need to look again.
  m.fast_limit.store(room.bytes == std::numeric_limits<int64_t>::max() ? room.bytes : live + room.bytes / 2,
                     std::memory_order_relaxed);
}

}  // namespace

int64_t cpu_memory_available() {
  const int64_t available = room_now().bytes;
  if (available == std::numeric_limits<int64_t>::max()) return available;
  std::lock_guard<std::mutex> lock(cpu_cache().mutex);
  return available + static_cast<int64_t>(cpu_cache().cached_bytes);
}

MemoryBudget::MemoryBudget(int64_t bytes) {
  MemoryCheck& m = memory_check();
  previous_end_ = m.budget_end.load();
  const int64_t live = counters(kCPU).live.load();
  m.budget_end.store(std::min(previous_end_, live + std::max<int64_t>(bytes, 0)));
}

MemoryBudget::~MemoryBudget() { memory_check().budget_end.store(previous_end_); }

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000 && u < 6) bytes /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

void* device_alloc(Device device, size_t nbytes) {
  void* ptr = nullptr;
  if (device.is_cpu()) {
    const size_t rounded = rounded_size(nbytes);
    check_budget(rounded);
    if (rounded >= kCacheMin) ptr = cpu_cache().take(rounded);
    if (ptr == nullptr) {
      check_room(rounded);
      ptr = std::aligned_alloc(kAlignment, rounded);
    }
    if (ptr == nullptr && rounded >= kCacheMin) {  // memory tight: drop the cache and retry once
      cpu_cache().release_all();
      ptr = std::aligned_alloc(kAlignment, rounded);
    }
    if (ptr == nullptr)  // a ulimit -v, or a request the OS refuses outright
      throw OutOfMemory(fmt::format("out of memory: the system refused {} more (sieve's tensors hold {})",
                                    format_bytes(static_cast<double>(nbytes)),
                                    format_bytes(static_cast<double>(counters(kCPU).live.load()))));
  } else {
    ptr = cuda::device_malloc(nbytes);
  }
  count_alloc(device, nbytes);
  return ptr;
}

void device_free(Device device, void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  if (device.is_cpu()) {
    const size_t rounded = rounded_size(nbytes);
    if (rounded < kCacheMin || !cpu_cache().keep(ptr, rounded)) std::free(ptr);
  } else
    cuda::device_free(ptr);
  counters(device).live -= static_cast<int64_t>(nbytes);
}

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  MemoryStats stats{c.live.load(), c.peak.load(), c.allocations.load(), 0};
  if (device.is_cpu()) {
    std::lock_guard<std::mutex> lock(cpu_cache().mutex);
    stats.cached_bytes = static_cast<int64_t>(cpu_cache().cached_bytes);
  } else {
    stats.cached_bytes = cuda::cached_bytes();  // cuda/runtime.cpp's caching allocator (0 in the stub)
  }
  return stats;
}

void empty_cache(Device device) {
  if (device.is_cpu())
    cpu_cache().release_all();
  else
    cuda::empty_cache();
}

size_t set_cpu_cache_limit(size_t bytes) {
  BlockCache& cache = cpu_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const size_t before = cache.limit;
  cache.limit = bytes;
  if (cache.cached_bytes > bytes) cache.release_locked();
  return before;
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak = c.live.load();
}

Storage::Storage(Device device_, size_t nbytes_) : nbytes(nbytes_), device(device_) {
  data = device_alloc(device, nbytes);
}

Storage::~Storage() { device_free(device, data, nbytes); }

Device Device::parse(const std::string& text) {
  if (text == "cpu") return kCPU;
  if (text == "cuda") return kCUDA;
  if (text.rfind("cuda:", 0) == 0) {
    const std::string idx = text.substr(5);
    SIEVE_CHECK(!idx.empty() && idx.size() < 4 && idx.find_first_not_of("0123456789") == std::string::npos,
                "unknown device '{}' (expected cpu, cuda or cuda:N)", text);
    return Device{DeviceType::cuda, std::stoi(idx)};
  }
  fail("unknown device '{}' (expected cpu, cuda or cuda:N)", text);
}

}  // namespace sieve
