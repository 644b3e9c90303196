// ops/profile.cpp — the profiler's thread-local state and its accumulation (see profile.h).
#include "ops/profile.h"

namespace sieve::profile {

namespace {

thread_local Profiler* t_active = nullptr;
thread_local const void* t_scope = nullptr;
thread_local Phase t_phase = Phase::forward;

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::forward: return "forward";
    case Phase::backward: return "backward";
    case Phase::update: return "update";
  }
  return "?";
}

Profiler::Profiler() : previous_(t_active) { t_active = this; }

Profiler::~Profiler() { t_active = previous_; }

Profiler* active() { return t_active; }
const void* current_scope() { return t_scope; }

void Profiler::add(Op op, int64_t flops, int64_t bytes, double seconds) {
  auto [it, fresh] = index_.try_emplace({op, t_phase, t_scope}, entries_.size());
  if (fresh) entries_.push_back(Entry{.op = op, .phase = t_phase, .scope = t_scope});
  Entry& e = entries_[it->second];
  e.calls += 1;
  e.flops += flops;
  e.bytes += bytes;
  e.seconds += seconds;
}

int64_t Profiler::total_flops() const {
  int64_t total = 0;
  for (const Entry& e : entries_) total += e.flops;
  return total;
}

double Profiler::total_seconds() const {
  double total = 0;
  for (const Entry& e : entries_) total += e.seconds;
  return total;
}

ScopeGuard::ScopeGuard(const void* scope) {
  if (t_active == nullptr) return;
  previous_ = t_scope;
  t_scope = scope;
  opened_ = true;
}

ScopeGuard::~ScopeGuard() {
  if (opened_) t_scope = previous_;
}

PhaseGuard::PhaseGuard(Phase phase) : previous_(t_phase) { t_phase = phase; }
PhaseGuard::~PhaseGuard() { t_phase = previous_; }

}  // namespace sieve::profile
