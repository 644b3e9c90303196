// cuda/backend.h — the CUDA entry points the rest of sieve may call. No CUDA header is included
// here or anywhere outside cuda/: the rest of the tree sees plain C++ declarations.
//
// Built without CUDA (or until the CUDA issue lands), cuda/stub.cpp defines these and each throws
// sieve::Error("... sieve was built without CUDA"). The CUDA build replaces the stub with real
// launchers in cuda/*.cu.
//
// Extend: declare a launcher here, define it in cuda/<family>.cu and in the stub.
#pragma once

#include <cstddef>

namespace sieve::cuda {

bool available();                    // true when built with CUDA and a GPU is visible
int device_count();
void* device_malloc(size_t nbytes);  // from the caching allocator
void device_free(void* ptr);
// Copies between host and device memory (kind: 0 host→device, 1 device→host, 2 device→device).
void memcpy(void* dst, const void* src, size_t nbytes, int kind);
void synchronize();

}  // namespace sieve::cuda
