// ops/cpu/threads.h — how many threads the CPU kernels run on: a ceiling the user chooses, and
// fewer while other programs keep the machine's cores busy.
//
// The ceiling is what `sieve --threads N`, OMP_NUM_THREADS or the core count ask for. Before every
// CPU kernel, SIEVE_DISPATCH calls adapt_threads(), which at most every 50 ms counts the threads
// the machine runs now besides ours (the runnable count in /proc/loadavg less our own running
// threads) and runs on min(ceiling, usable CPUs − those) threads, at least one: more at once, fewer
// only when two more samples, 15 ms apart, agree (another program's OpenMP threads spin for a few
// milliseconds after each of its regions; that is not load worth giving a thread up for).
//
// Why: a parallel region is as slow as its slowest thread. On this project's 2-core machine, with
// one busy process beside it, the kernel's scheduler kept the busy process on a core of its own
// and our two threads on the other (sieve used 1.0 CPU of 2, measured with `time`): the ViT step
// took 128 ms on 2 threads and 108 ms on one, against 62 ms idle. Pinning threads to cores or
// letting an idle thread steal the chunks of a descheduled one did not help (a descheduled thread
// holds its chunk until its next time slice, and every region waits for it). Fewer threads than
// busy cores do.
//
// Results never depend on the running count: a kernel that splits a sum into partials (matmul's
// K slices, few-output reductions, norm and loss sums, the scan's dB/dC) splits it into
// thread_ceiling() pieces, whichever threads run them, and adds them in piece order; and OpenBLAS,
// whose own threading gives other bits on another thread count, is always called single-threaded
// (SingleThreadedBlas; ops/cpu/matmul.cpp cuts products itself). So a run under load gives the
// bits of the same run on an idle machine (tests/ops/test_threads.cpp).
//
// Where the process may use only some of the machine's CPUs (a container's cpuset, taskset), the
// machine-wide count says nothing about those CPUs, and the count stays at the ceiling.
// SIEVE_ADAPTIVE_THREADS=0 in the environment keeps the ceiling always (a machine of one's own,
// or timing a fixed count). Only the thread that calls the ops adapts (OpenMP's count is per
// calling thread); a program calling ops from several threads of its own keeps their counts.
// What it is not: where threads are used (ops/cpu/*.cpp). Extend: nothing to extend.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace sieve::cpu {

// The ceiling (first read from OpenMP's own count) and how to change it: set_thread_ceiling also
// runs on that many at once.
int thread_ceiling();
void set_thread_ceiling(int threads);

// Held around every BLAS call of a kernel: OpenBLAS's OpenMP build threads a call over OpenMP's
// count whenever it is made outside an active parallel region (it ignores
// openblas_set_num_threads then), so the count is 1 while the guard lives (inside a region it
// already runs single-threaded and the guard does nothing).
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int restore_;  // OpenMP's count to put back; 0: nothing to do
};

// Runs f with OpenBLAS threading itself over the ceiling: for raw BLAS references (`sieve bench
// ops`, the machine's sgemm peak), not for sieve's kernels.
void with_blas_threads(const std::function<void()>& f);

// Runs the kernels on `threads` now (1 ≤ threads ≤ the ceiling); adapt_threads may change it again.
void set_threads_now(int threads);
int threads_now();

// Called before every CPU kernel: cheap (a clock read) except every 50 ms.
void adapt_threads();
// The same check at once (tests, and a program that knows its load just changed).
void check_load_now();
// Adapting on or off (initially on unless SIEVE_ADAPTIVE_THREADS=0); off runs on the ceiling.
void set_adaptive(bool on);
bool is_adaptive();
// Whether the load can be read for the CPUs we use (we may use every CPU of the machine, and
// /proc is there); where not, adapt_threads keeps the ceiling.
bool load_is_readable();

// How many checks adapt_threads made and in how many it ran fewer threads than the ceiling.
struct ThreadCounts {
  int64_t checks = 0, lowered = 0;
};
ThreadCounts thread_counts();

// ---- the pieces, pure functions (tested on their own) ----

// Threads to run: the CPUs we may use less the runnable threads that are not ours, within
// [1, ceiling].
int threads_for_load(int ceiling, int usable_cpus, int others_runnable);

// The runnable count of /proc/loadavg ("0.50 0.40 0.30 3/245 12345" → 3); −1 when unreadable.
int runnable_of_loadavg(std::string_view text);

// Whether a /proc/PID/task/TID/stat line says the thread is running or runnable (state R).
bool running_of_task_stat(std::string_view text);

}  // namespace sieve::cpu
