// cuda/runtime.cpp — the CUDA backend's process-wide state: whether a GPU is visible, the one
// stream, the cuBLAS handle, the caching allocator and host↔device copies (cuda/backend.h).
//
// Why a caching allocator: cudaMalloc and cudaFree are slow (cudaFree also waits for the whole
// GPU), and a training step allocates and frees the same sizes every step. Freed blocks are kept
// in free lists keyed by their rounded size and handed to the next request of that size; one
// stream means a block freed by the host while a queued kernel still reads it is only reused by
// kernels queued after that one, so no event is needed. A failed cudaMalloc empties the cache
// and retries once. The live/peak counters are core/allocator.cpp's (it counts every device).
//
// Everything here is created on first use and lives to the end of the process. At exit one
// handler gives the cached blocks and the cuBLAS handle back (so compute-sanitizer's leak check
// reports only what a program itself leaked); it is registered on the first allocation, after
// the CUDA runtime registered its own, so it runs before the runtime shuts down. A tensor freed
// after it (held by a static) only goes back on the free list: no CUDA call happens that late.
//
// Extend: a second stream or device would make the cache per stream/device (not needed yet).
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "cuda/backend.h"
#include "cuda/blas.h"
#include "cuda/runtime.h"

namespace sieve::cuda {

void throw_cuda_error(const char* call, const char* where, cudaError_t error) {
  fail("{}: {} failed: {} ({})", where, call, cudaGetErrorString(error), cudaGetErrorName(error));
}

void throw_cublas_error(const char* call, const char* where, cublasStatus_t status) {
  fail("{}: {} failed: {} ({})", where, call, cublasGetStatusString(status), static_cast<int>(status));
}

namespace {

// ---------------------------------------------------------------- is there a GPU?

struct Probe {
  int count = 0;
  std::string reason;  // why count is 0
};

// Asked once. cudaGetDeviceCount fails (rather than crashing) when there is no driver or no GPU;
// the error is cleared so it does not surface at the next unrelated check.
const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    const cudaError_t error = cudaGetDeviceCount(&p.count);
    if (error != cudaSuccess) {
      p.count = 0;
      p.reason = fmt::format("{} ({})", cudaGetErrorString(error), cudaGetErrorName(error));
      cudaGetLastError();
    } else if (p.count == 0) {
      p.reason = "no CUDA device is visible";
    }
    return p;
  }();
  return result;
}

void require_device(const char* what) {
  SIEVE_CHECK(probe().count > 0, "{}: CUDA requested but no GPU is usable: {}", what, probe().reason);
}

// ---------------------------------------------------------------- the caching allocator

constexpr size_t kSmallStep = 512;               // requests below kLarge round up to 512 B
constexpr size_t kLarge = size_t{1} << 20;       // 1 MiB
constexpr size_t kLargeStep = size_t{2} << 20;   // larger ones to 2 MiB

size_t rounded_size(size_t nbytes) {
  const size_t step = nbytes < kLarge ? kSmallStep : kLargeStep;
  return nbytes == 0 ? kSmallStep : (nbytes + step - 1) / step * step;
}

struct DeviceCache {
  std::mutex mutex;
  std::unordered_map<void*, size_t> block_size;         // every block we handed out, by pointer
  std::map<size_t, std::vector<void*>> free_blocks;     // freed blocks by rounded size
  size_t cached = 0;

  // Callers hold the mutex.
  void release_all() {
    if (cached == 0) return;
    cudaStreamSynchronize(stream());  // cudaFree would wait anyway; this names nothing that can fail
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) {
        block_size.erase(p);
        cudaFree(p);
      }
    free_blocks.clear();
    cached = 0;
  }
};

DeviceCache& cache() {
  static DeviceCache* c = new DeviceCache();
  return *c;
}

cublasHandle_t created_blas_handle = nullptr;  // for the exit handler

void release_at_exit() {
  {
    DeviceCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.release_all();
  }
  if (created_blas_handle != nullptr) cublasDestroy(created_blas_handle);
  created_blas_handle = nullptr;
}

// ---------------------------------------------------------------- TF32

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{[] {
    const char* env = std::getenv("SIEVE_TF32");
    return env != nullptr && std::string(env) == "1";
  }()};
  return flag;
}

}  // namespace

// ---------------------------------------------------------------- backend.h

int device_count() { return probe().count; }
bool available() { return probe().count > 0; }
std::string unavailable_reason() { return probe().reason; }

cudaStream_t stream() {
  static cudaStream_t s = [] {
    require_device("cuda::stream");
    cudaStream_t created = nullptr;
    // Non-blocking: never serialised against work on the legacy default stream (cuBLAS or
    // libraries that use it).
    SIEVE_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    return created;
  }();
  return s;
}

cublasHandle_t blas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    SIEVE_CUBLAS_CHECK(cublasCreate(&created));
    SIEVE_CUBLAS_CHECK(cublasSetStream(created, stream()));
    created_blas_handle = created;
    return created;
  }();
  // Set on every use (a cheap field write) so set_tf32 takes effect on the next product.
  SIEVE_CUBLAS_CHECK(cublasSetMathMode(h, tf32_flag().load() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return h;
}

void set_tf32(bool on) { tf32_flag() = on; }
bool tf32_enabled() { return tf32_flag().load(); }

void* device_malloc(size_t nbytes) {
  require_device("allocating CUDA memory");
  const size_t rounded = rounded_size(nbytes);
  DeviceCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.find(rounded);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.cached -= rounded;
    return p;
  }
  static const bool exit_handler = std::atexit(release_at_exit) == 0;
  (void)exit_handler;
  void* p = nullptr;
  cudaError_t error = cudaMalloc(&p, rounded);
  if (error == cudaErrorMemoryAllocation) {  // memory tight: give the cache back and retry once
    cudaGetLastError();
    c.release_all();
    error = cudaMalloc(&p, rounded);
  }
  if (error != cudaSuccess) {
    cudaGetLastError();
    fail("allocating {} bytes of CUDA memory: cudaMalloc failed: {} ({})", nbytes, cudaGetErrorString(error),
         cudaGetErrorName(error));
  }
  c.block_size[p] = rounded;
  return p;
}

// Called from Storage's destructor: never throws, never waits.
void device_free(void* ptr) {
  if (ptr == nullptr) return;
  DeviceCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.block_size.find(ptr);
  if (it == c.block_size.end()) return;  // not ours (cannot happen); leaking beats a crash
  c.free_blocks[it->second].push_back(ptr);
  c.cached += it->second;
}

int64_t cached_bytes() {
  DeviceCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return static_cast<int64_t>(c.cached);
}

void empty_cache() {
  if (!available()) return;
  DeviceCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all();
}

void memcpy(void* dst, const void* src, size_t nbytes, int kind) {
  if (nbytes == 0) return;
  switch (kind) {
    case 0:  // host → device: the source is staged before the call returns, so it may be freed
      SIEVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()));
      return;
    case 1:  // device → host: the host is about to read dst
      SIEVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
      SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream()));
      return;
    case 2:
      SIEVE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
      return;
  }
  fail("cuda::memcpy: unknown copy kind {}", kind);
}

void synchronize() { SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace sieve::cuda
