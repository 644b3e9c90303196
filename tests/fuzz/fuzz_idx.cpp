// tests/fuzz/fuzz_idx.cpp — libFuzzer harness for the IDX reader (datasets/idx.h).
//
// What it is: feeds arbitrary bytes to parse_idx and, when they are accepted and small, converts
// them with to_tensor. A sieve::Error is the expected answer to garbage; anything else — a crash,
// a sanitizer report, another exception type, an allocation past -malloc_limit_mb, an accepted
// array holding more bytes than the input, an error message spanning lines — is a finding.
// What it is not: a test of gzip handling (zlib's; tests/datasets covers load_idx on .gz files).
// Run: tests/fuzz/run-fuzz [seconds]. Without -Dfuzz=true the same function is linked with
// replay_main.cpp and replays corpus_idx/ under `meson test` (the 'fuzz-idx-corpus' test).
// Extend: nothing to extend; a new reader gets its own harness beside this one.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "datasets/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sieve::IdxArray a = sieve::parse_idx(data, size, "fuzz.idx");
    if (a.bytes.size() > size) std::abort();  // what was accepted must fit in the input
    if (a.bytes.size() != static_cast<size_t>(a.numel()) * sieve::idx_type_size(a.type)) std::abort();
    if (a.numel() <= 4096) {
      a.to_tensor(sieve::DType::f32, 1.0 / 255.0);
      a.to_tensor(sieve::DType::f64);
      if (a.type != sieve::IdxType::f32 && a.type != sieve::IdxType::f64) a.to_tensor(sieve::DType::i64);
    }
  } catch (const sieve::Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr) std::abort();  // errors are one line
  }
  return 0;
}
