// core/allocator.cpp — aligned CPU allocations with counters, and a cache of large blocks;
// CUDA memory comes from cuda/ (its own caching allocator, cuda/runtime.cpp), counted here alike.
//
// Why a cache: glibc serves big blocks with a fresh mmap and returns them to the OS on free, so
// every large tensor would pay a page fault per 4 KiB on first touch — a 64 MB output costs more
// in faults than the op itself. Freed blocks of at least kCacheMin bytes are kept in a free list
// keyed by their rounded size and handed to the next request of that size (training steps repeat
// the same sizes), up to kCacheMax bytes in all. empty_cache() gives them back to the OS.
#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "cuda/backend.h"

namespace sieve {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCacheMin = size_t{1} << 16;  // 64 KiB: below this glibc's own bins are fast
constexpr size_t kCacheMax = size_t{4} << 30;  // never keep more than 4 GiB idle

// Free large CPU blocks by rounded size.
struct BlockCache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;
  size_t cached_bytes = 0;

  void* take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = free_blocks.find(rounded);
    if (it == free_blocks.end() || it->second.empty()) return nullptr;
    void* ptr = it->second.back();
    it->second.pop_back();
    cached_bytes -= rounded;
    return ptr;
  }
  bool keep(void* ptr, size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex);
    if (cached_bytes + rounded > kCacheMax) return false;
    free_blocks[rounded].push_back(ptr);
    cached_bytes += rounded;
    return true;
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [size, blocks] : free_blocks)
      for (void* ptr : blocks) std::free(ptr);
    free_blocks.clear();
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
