// tests/fuzz/fuzz_safetensors.cpp — libFuzzer harness for the safetensors reader.
//
// What it is: feeds arbitrary bytes to parse_safetensors. A sieve::Error is the expected answer
// to garbage; anything else — a crash, a sanitizer report, another exception type, an allocation
// past libFuzzer's -malloc_limit_mb, an error message spanning lines — is a finding.
// What it is not: a test of the writer (tests/core/test_safetensors.cpp round-trips that).
// Run: tests/fuzz/run-fuzz [seconds]. Without -Dfuzz=true the same function is linked with
// replay_main.cpp and replays the corpus under `meson test` (the 'fuzz-corpus' test).
// Extend: a new parser (IDX, images) gets its own harness file and corpus folder beside this one.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sieve::SafetensorsFile f = sieve::parse_safetensors(data, size, "fuzz.safetensors");
    // What was accepted must fit in the input: widening BF16/F16 at most doubles the bytes.
    size_t held = 0;
    for (const auto& [name, t] : f.tensors) held += static_cast<size_t>(t.numel()) * sieve::dtype_size(t.dtype());
    if (held > 2 * size) std::abort();
  } catch (const sieve::Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr) std::abort();  // errors are one line
  }
  return 0;
}
