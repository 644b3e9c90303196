// ops/profile.h — the scoped profiler: time, FLOPs and bytes of every kernel, by op, phase and module.
//
// While a Profiler lives on a thread, every kernel that thread launches through SIEVE_DISPATCH
// (ops/dispatch.h) adds one sample to the entry for (op, phase, scope):
//   - time:  wall time of the kernel call itself (not the front end's checks or allocation);
//   - FLOPs: the op's formula evaluated on the shapes it actually ran on (each call site passes
//            it; the formulas are listed in ops/README.md), so a model that drops samples or
//            tokens is counted as executed, never estimated;
//   - bytes: Σ numel·itemsize of the tensor arguments (everything the kernel reads or writes,
//            each element counted once per argument: a lower bound on memory traffic).
// The phase is forward unless the autograd engine is running (backward) or an optimizer is
// updating parameters (update). The scope is an opaque pointer: nn::Module forwards open one with
// their own address, autograd nodes remember the scope they were recorded in, and the engine
// reopens it around the node's backward, so a gradient's ops are charged to the module whose
// forward recorded them. Names for scopes (module paths) come from nn::module_paths().
//
//   profile::Profiler profiler;        // start counting on this thread
//   loss = model->forward(x) ...; loss.backward(); optimizer.step();
//   for (const profile::Entry& e : profiler.entries()) ...
//
// What it is not: a tracer (no timeline, only sums), or a cross-thread tool (a loader's prefetch
// thread is not counted). Kernels are timed on the host; CUDA kernels will need a synchronise (or
// events) before their times mean anything.
// Extend: a new phase is one enum value plus its name; a new op needs only its FLOP formula at
// its SIEVE_DISPATCH call.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "ops/op_list.h"

namespace sieve::profile {

enum class Phase { forward, backward, update };
const char* phase_name(Phase phase);

// Everything one (op, phase, scope) triple executed while the profiler was alive.
struct Entry {
  Op op = Op::count;
  Phase phase = Phase::forward;
  const void* scope = nullptr;  // the innermost module (or other scope) open at the time; null: none
  int64_t calls = 0;
  int64_t flops = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

class Profiler {
 public:
  Profiler();   // becomes this thread's active profiler (profilers nest: the newest one counts)
  ~Profiler();  // hands the thread back to the profiler that was active before
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Entries in first-seen order.
  const std::vector<Entry>& entries() const { return entries_; }
  int64_t total_flops() const;
  double total_seconds() const;
  void reset() {
    entries_.clear();
    index_.clear();
  }

  // Called by SIEVE_DISPATCH after each kernel.
  void add(Op op, int64_t flops, int64_t bytes, double seconds);

 private:
  std::vector<Entry> entries_;
  std::map<std::tuple<Op, Phase, const void*>, size_t> index_;  // key → position in entries_
  Profiler* previous_ = nullptr;
};

// This thread's active profiler, or null (the fast path: one thread-local read per kernel).
Profiler* active();

// The scope charged for kernels launched now on this thread (null when none is open).
const void* current_scope();

// Opens `scope` until the end of the enclosing block (nn::Module forwards pass `this`). Does
// nothing while no profiler is active, so an unprofiled forward pays one thread-local read.
class ScopeGuard {
 public:
  explicit ScopeGuard(const void* scope);
  ~ScopeGuard();
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  const void* previous_ = nullptr;
  bool opened_ = false;
};

// Sets the phase until the end of the enclosing block (the engine: backward; optimizers: update).
class PhaseGuard {
 public:
  explicit PhaseGuard(Phase phase);
  ~PhaseGuard();
  PhaseGuard(const PhaseGuard&) = delete;
  PhaseGuard& operator=(const PhaseGuard&) = delete;

 private:
  Phase previous_;
};

// ---- bytes moved: the tensor arguments of a kernel call, each counted once ----
inline int64_t bytes_of_arg(const Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(dtype_size(t.dtype())) : 0;
}
inline int64_t bytes_of_arg(const std::vector<Tensor>& ts) {
  int64_t total = 0;
  for (const Tensor& t : ts) total += bytes_of_arg(t);
  return total;
}
template <typename T>
  requires(!std::is_convertible_v<const T&, const Tensor&> && !std::is_same_v<T, std::vector<Tensor>>)
int64_t bytes_of_arg(const T&) {
  return 0;  // scalars, flags, option structs
}
template <typename... Args>
int64_t bytes_of(const Args&... args) {
  return (int64_t{0} + ... + bytes_of_arg(args));
}

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace sieve::profile
