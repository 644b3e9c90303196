// core/thread_errors.h — carries an exception out of an OpenMP parallel region.
//
// An exception that escapes a parallel region is std::terminate: SIGABRT, no message, and the
// user's run is gone — a failed allocation of a per-thread buffer is enough. A thread that leaves
// a work-sharing loop early is no better: the others wait for it at the loop's barrier forever. So
// every region body that can throw runs inside ThreadErrors::guard, which keeps the first
// exception and lets the thread go on to the barriers (skipping the rest of its now pointless
// work); after the region, rethrow() raises it on the calling thread as an ordinary error.
//
//     ThreadErrors errors;
//     #pragma omp parallel
//     {
//       std::optional<Buffers> buf;
//       errors.guard([&] { buf.emplace(make_buffers()); });
//       #pragma omp for
//       for (int64_t i = 0; i < n; ++i) errors.guard([&] { work(*buf, i); });
//     }
//     errors.rethrow();
//
// It is not a way to report several errors: one is kept, which one is not specified.
// Extend: nothing to extend; wrap new region bodies that allocate or check in guard().
#pragma once

#include <atomic>
#include <exception>

namespace sieve {

class ThreadErrors {
 public:
  // Runs f() unless an error is already kept (by any thread); keeps f's exception if it throws.
  template <typename F>
  void guard(F&& f) noexcept {
    if (failed()) return;
    try {
      f();
    } catch (...) {
      keep(std::current_exception());
    }
  }
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  // Called after the region, on the calling thread.
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void keep(std::exception_ptr e) noexcept {
    bool expected = false;
    if (claimed_.compare_exchange_strong(expected, true)) {
      error_ = std::move(e);
      failed_.store(true, std::memory_order_release);
    }
  }
  std::exception_ptr error_;
  std::atomic<bool> claimed_{false}, failed_{false};
};

}  // namespace sieve
