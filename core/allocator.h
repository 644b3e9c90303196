// core/allocator.h — where tensor bytes come from, and the live/peak byte counters.
//
// CPU memory is 64-byte aligned (one cache line, one AVX-512 register) so kernels can use aligned
// vector loads. Every allocation and free updates per-device counters; the VTP study reports peak
// memory from them. CUDA memory comes from cuda/ (the stub throws when built without CUDA).
//
// Extend: a new device kind needs alloc/free here and its own counters slot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace sieve {

struct MemoryStats {
  int64_t live_bytes = 0;    // currently allocated by tensors
  int64_t peak_bytes = 0;    // high-water mark since start or the last reset_peak_memory
  int64_t allocations = 0;   // number of allocations made
  int64_t cached_bytes = 0;  // freed blocks kept for reuse (not counted as live)
};

void* device_alloc(Device device, size_t nbytes);
void device_free(Device device, void* ptr, size_t nbytes);

MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);  // peak := live
void empty_cache(Device device);        // returns cached free blocks to the system
// At most this many bytes of freed CPU blocks are kept (default 4 GiB; past it the blocks freed
// longest ago are returned first). Returns the previous limit; a lower one empties the cache.
size_t set_cpu_cache_limit(size_t bytes);

// The bytes behind one or more tensors (views share it). Frees itself when the last view goes.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;

  Storage(Device device, size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

}  // namespace sieve
