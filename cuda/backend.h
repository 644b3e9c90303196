// cuda/backend.h — the CUDA entry points the rest of sieve may call: availability, memory,
// copies, synchronisation, cuBLAS's TF32 switch. No CUDA header is included here or anywhere
// outside cuda/: the rest of the tree sees plain C++ declarations. The kernels themselves are
// declared in cuda/kernels.h (ops/dispatch.h is their only caller).
//
// A CUDA build defines these in cuda/runtime.cpp; a build without CUDA in cuda/stub.cpp, where
// each throws sieve::Error("... sieve was built without CUDA") (available() is false there).
//
// Streams and synchronisation: sieve uses one CUDA stream per process; every kernel, cuBLAS call
// and copy is queued on it, so they run in order without host waits. The host waits only when
// it reads device memory (memcpy to the host, hence Tensor::to(kCPU), item(), to_vector()) and
// while a profiler times kernels.
//
// Extend: declare an entry point here, define it in cuda/runtime.cpp and in cuda/stub.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sieve::cuda {

bool available();                    // built with CUDA and a GPU is visible; never throws
int device_count();                  // 0 when no driver or no GPU; never throws
std::string unavailable_reason();    // why available() is false ("" when it is true)

// Device memory from the caching allocator: a freed block is kept and handed to the next
// request of the same rounded size (512 B steps up to 1 MiB, then 2 MiB steps).
void* device_malloc(size_t nbytes);
void device_free(void* ptr);
int64_t cached_bytes();  // bytes of freed blocks kept for reuse
void empty_cache();      // returns the cached blocks to the driver

// Copies between host and device memory (kind: 0 host→device, 1 device→host, 2 device→device).
// Host→device and device→device are queued on the stream; device→host waits for the stream and
// the copy, so the host may read dst when it returns.
void memcpy(void* dst, const void* src, size_t nbytes, int kind);
void synchronize();  // waits for everything queued on sieve's stream

// TF32 tensor cores for float32 products (cuBLAS): off by default, so float32 matmuls round like
// the CPU's. The environment variable SIEVE_TF32=1 turns it on at start-up; this switch at any time.
void set_tf32(bool on);
bool tf32_enabled();

// The references `sieve bench ops --device cuda` times sieve against (tools/bench/ops.cpp): one raw
// cublasSgemm on row-major float32 device buffers (C = op(A)·op(B), as cblas_sgemm's RowMajor
// call), queued on sieve's stream with sieve's cuBLAS handle; the caller synchronises.
void reference_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc);

}  // namespace sieve::cuda
