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
#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
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

}  // namespace

void* device_alloc(Device device, size_t nbytes) {
  void* ptr = nullptr;
  if (device.is_cpu()) {
    const size_t rounded = rounded_size(nbytes);
    if (rounded >= kCacheMin) ptr = cpu_cache().take(rounded);
    if (ptr == nullptr) ptr = std::aligned_alloc(kAlignment, rounded);
    if (ptr == nullptr && rounded >= kCacheMin) {  // memory tight: drop the cache and retry once
      cpu_cache().release_all();
      ptr = std::aligned_alloc(kAlignment, rounded);
    }
    SIEVE_CHECK(ptr != nullptr, "out of CPU memory allocating {} bytes", nbytes);
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
