// cuda/stub.cpp — the CUDA backend of a build without CUDA: every entry point throws one clear
// error, so `--device cuda` on such a build fails with a message instead of a crash.
//
// The real backend (a later issue) compiles cuda/*.cu instead of this file.
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
void* device_malloc(size_t) { no_cuda("allocating CUDA memory"); }
void device_free(void*) { no_cuda("freeing CUDA memory"); }
void memcpy(void*, const void*, size_t, int) { no_cuda("copying to or from CUDA memory"); }
void synchronize() { no_cuda("cuda::synchronize"); }

}  // namespace sieve::cuda
