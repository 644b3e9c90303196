// ops/cpu/threads.cpp — the thread ceiling and the load-aware running count (see threads.h).
#include "ops/cpu/threads.h"

#include <dirent.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

namespace sieve::cpu {

namespace {

constexpr int64_t kCheckEveryNs = 50'000'000;  // 50 ms: a few training steps; a read costs ~30 µs
// A busy sample is believed only when kConfirmations more, kConfirmAfterNs apart, are busy too:
// another program's OpenMP threads spin for up to ~10 ms after each of its parallel regions
// (libgomp's default), and `sieve bench` alternates with PyTorch step by step, so a sample right
// after its step sees load that is gone a moment later. (One confirmation 10 ms later still cost
// the bench's idle sieve step 62 → 71 ms; two, 15 ms apart, none.)
constexpr int64_t kConfirmAfterNs = 15'000'000;
constexpr int kConfirmations = 2;

std::atomic<int> ceiling{0};  // 0: not read yet
std::atomic<int> running{0};
std::atomic<int64_t> next_check_ns{0};
std::atomic<int64_t> checks{0}, lowered{0};
std::atomic<int> busy_seen{0};    // the most threads the unconfirmed busy samples left us (0: none)
std::atomic<int> busy_streak{0};  // busy samples in a row, not yet acted on

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::atomic<int> adaptive_mode{-1};  // −1: not read from the environment yet

// CPUs this process may run on (its affinity mask: a container's or taskset's limit).
int usable_cpus() {
  static const int cpus = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, omp_get_num_procs());
  }();
  return cpus;
}

// Whether /proc/loadavg describes the CPUs we run on: it counts the whole machine's runnable
// threads, so where we may use only some of its CPUs (a container's cpuset, taskset) the others'
// threads may all be elsewhere, and the count says nothing about ours. There we do not adapt.
bool load_describes_our_cpus() {
  static const bool whole = usable_cpus() >= sysconf(_SC_NPROCESSORS_ONLN);
  return whole;
}

void run_on(int threads) {
  omp_set_num_threads(threads);
  running.store(threads, std::memory_order_relaxed);
}

std::string read_small_file(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Our threads that are running or runnable now (this one, reading, among them).
int own_running_threads() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + entry->d_name + "/stat";
    count += running_of_task_stat(read_small_file(path.c_str())) ? 1 : 0;
  }
  closedir(dir);
  return std::max(count, 1);
}

}  // namespace

int thread_ceiling() {
  int c = ceiling.load(std::memory_order_relaxed);
  if (c == 0) {
    c = std::max(1, omp_get_max_threads());
    int expected = 0;
    if (ceiling.compare_exchange_strong(expected, c)) {
      run_on(c);
    } else {
      c = expected;
    }
  }
  return c;
}

void with_blas_threads(const std::function<void()>& f) {
  omp_set_num_threads(thread_ceiling());  // what OpenBLAS's OpenMP build threads over
  f();
  omp_set_num_threads(running.load(std::memory_order_relaxed));
}

SingleThreadedBlas::SingleThreadedBlas() : restore_(omp_in_parallel() ? 0 : omp_get_max_threads()) {
  if (restore_ > 1) omp_set_num_threads(1);
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (restore_ > 1) omp_set_num_threads(restore_);
}

void set_thread_ceiling(int threads) {
  ceiling.store(std::max(1, threads), std::memory_order_relaxed);
  run_on(std::max(1, threads));
}

void set_threads_now(int threads) { run_on(std::clamp(threads, 1, thread_ceiling())); }

int threads_now() {
  thread_ceiling();  // reads the ceiling (and so the running count) on first use
  return running.load(std::memory_order_relaxed);
}

bool is_adaptive() {
  int mode = adaptive_mode.load(std::memory_order_relaxed);
  if (mode < 0) {
    const char* v = std::getenv("SIEVE_ADAPTIVE_THREADS");
    mode = v == nullptr || std::string_view(v) != "0" ? 1 : 0;
    adaptive_mode.store(mode, std::memory_order_relaxed);
  }
  return mode == 1;
}

void set_adaptive(bool on) {
  adaptive_mode.store(on ? 1 : 0, std::memory_order_relaxed);
  if (!on) run_on(thread_ceiling());
}

namespace {

// What the machine leaves us now: min(ceiling, usable CPUs − others' runnable threads); −1 without /proc.
int threads_the_load_leaves(int top) {
  const int system = runnable_of_loadavg(read_small_file("/proc/loadavg"));
  if (system < 0) return -1;
  return threads_for_load(top, usable_cpus(), system - own_running_threads());
}

// One sample, acted on: more threads at once; fewer only once kConfirmations more samples,
// kConfirmAfterNs apart, saw load too (then as many as the lightest of those loads allows).
// Returns when to sample next.
int64_t sample(int64_t now, bool confirm_at_once) {
  const int top = thread_ceiling();
  if (!is_adaptive() || omp_in_parallel() || top <= 1 || !load_describes_our_cpus()) return now + kCheckEveryNs;
  const int want = threads_the_load_leaves(top);
  if (want < 0) return now + kCheckEveryNs;  // no /proc: stay as we are
  checks.fetch_add(1, std::memory_order_relaxed);
  const int current = running.load(std::memory_order_relaxed);
  if (want >= current) {
    busy_streak.store(0, std::memory_order_relaxed);
    busy_seen.store(0, std::memory_order_relaxed);
    if (want > current) run_on(want);
    return now + kCheckEveryNs;
  }
  const int most = std::max(want, busy_seen.load(std::memory_order_relaxed));
  if (!confirm_at_once && busy_streak.fetch_add(1, std::memory_order_relaxed) < kConfirmations) {
    busy_seen.store(most, std::memory_order_relaxed);
    return now + kConfirmAfterNs;
  }
  busy_streak.store(0, std::memory_order_relaxed);
  busy_seen.store(0, std::memory_order_relaxed);
  lowered.fetch_add(1, std::memory_order_relaxed);
  run_on(most);
  return now + kCheckEveryNs;
}

}  // namespace

void adapt_threads() {
  const int64_t now = now_ns();
  if (now < next_check_ns.load(std::memory_order_relaxed)) return;
  next_check_ns.store(now + kCheckEveryNs, std::memory_order_relaxed);  // no second caller meanwhile
  next_check_ns.store(sample(now, false), std::memory_order_relaxed);
}

void check_load_now() { next_check_ns.store(sample(now_ns(), true), std::memory_order_relaxed); }

bool load_is_readable() { return load_describes_our_cpus() && runnable_of_loadavg(read_small_file("/proc/loadavg")) >= 0; }

ThreadCounts thread_counts() { return {checks.load(), lowered.load()}; }

int threads_for_load(int ceiling_threads, int cpus, int others) {
  return std::clamp(cpus - std::max(others, 0), 1, std::max(ceiling_threads, 1));
}

int runnable_of_loadavg(std::string_view text) {
  // Fields: three load averages, then "runnable/total", then the last pid.
  size_t at = 0;
  for (int field = 0; field < 3; ++field) {
    at = text.find(' ', at);
    if (at == std::string_view::npos) return -1;
    ++at;
  }
  const size_t slash = text.find('/', at);
  if (slash == std::string_view::npos) return -1;
  int value = -1;
  const auto [end, error] = std::from_chars(text.data() + at, text.data() + slash, value);
  return error == std::errc() && end == text.data() + slash ? value : -1;
}

bool running_of_task_stat(std::string_view text) {
  // "TID (COMM) S ...": the command may hold spaces and parentheses, so the state follows the last ')'.
  const size_t close = text.rfind(')');
  return close != std::string_view::npos && close + 3 < text.size() && text[close + 2] == 'R' &&
         text[close + 3] == ' ';
}

}  // namespace sieve::cpu
