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
#include <string>

#include "core/dtype.h"
#include "core/error.h"

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

// What a CPU allocation throws when it would take more memory than the machine can give. Linux
// overcommits: without this check a request far too large "succeeds", is touched, and the kernel's
// OOM killer ends the process (or another one) with no message. A request is refused when it is
// larger than the memory available now (MemAvailable, and a cgroup's memory.max if lower), less a
// margin, or than SIEVE_MEMORY_LIMIT's room (a cap on sieve's live tensor bytes: "512M", "8G"); the
// figures are re-read only when a request comes near them, so the check is free on the fast path.
// Callers that know which flag or key asked for the memory catch it and say so.
struct OutOfMemory : Error {
  using Error::Error;
};

// Bytes of tensor memory that could still be had now (free CPU cache included; see OutOfMemory).
int64_t cpu_memory_available();

// While alive, CPU tensor allocations that would take the live bytes more than `bytes` above
// what was live when it was made throw OutOfMemory. Building a model from a checkpoint runs under
// one sized from the checkpoint's weights, so a config that asks for 32 GB of layers is refused
// after a few MB, not after the machine is full. Budgets nest (the tightest holds); one thread.
class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t bytes);
  ~MemoryBudget();
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

 private:
  int64_t previous_end_;
};

// A byte count for messages: "812 B", "3.1 MB", "32.0 GB" (powers of 1000).
std::string format_bytes(double bytes);

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
