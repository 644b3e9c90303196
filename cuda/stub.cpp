// cuda/stub.cpp — the CUDA backend of a build without CUDA: every entry point of cuda/backend.h
// throws one clear error, so `--device cuda` on such a build fails with a message instead of a
// crash. No CUDA tensor can be made here (device_malloc throws), so the kernels of
// cuda/kernels.h are never reached: ops/dispatch.h compiles its CUDA branch only with SIEVE_CUDA.
//
// A CUDA build (meson.build: cuda_built) compiles cuda/runtime.cpp and cuda/*.cu instead of this
// file. Extend: a new entry point of cuda/backend.h gets its throwing twin here.
#include "core/error.h"
#include "cuda/backend.h"

namespace sieve::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  fail("{}: sieve was built without CUDA (reconfigure with -Dcuda=enabled on a machine with nvcc)", what);
}
}  // namespace

bool available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "sieve was built without CUDA"; }
void* device_malloc(size_t) { no_cuda("allocating CUDA memory"); }
void device_free(void*) { no_cuda("freeing CUDA memory"); }
int64_t cached_bytes() { return 0; }
void empty_cache() {}
void memcpy(void*, const void*, size_t, int) { no_cuda("copying to or from CUDA memory"); }
void reference_sgemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                     int64_t) {
  no_cuda("cuda::reference_sgemm");
}
void synchronize() { no_cuda("cuda::synchronize"); }
void set_tf32(bool) {}
bool tf32_enabled() { return false; }

}  // namespace sieve::cuda
