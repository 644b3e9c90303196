// dist/mpi.cpp — dist.h on MPI (built where OpenMPI is found: meson option mpi).
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/error.h"
#include "dist/dist.h"

namespace sieve::dist {

namespace {

bool initialized = false;
int world_rank = 0, world_size = 1, machine_size = 1;

// The watchdog: a rank that waits in one collective longer than SIEVE_DDP_TIMEOUT seconds (default
// 600: a checkpoint written by rank 0 while the others wait is well within it) says so and exits,
// and mpirun ends the job — a hung or stopped rank cannot leave the others waiting forever. It
// exits rather than calling MPI_Abort, which only the main thread may call (MPI_THREAD_FUNNELED).
using Clock = std::chrono::steady_clock;
std::atomic<int64_t> waiting_since_ms{0};  // when the collective under way began; 0: none
std::atomic<const char*> waiting_in{""};
double timeout_seconds = 600;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

struct Waiting {  // marks a collective under way for the watchdog
  explicit Waiting(const char* what) {
    waiting_in = what;
    waiting_since_ms = now_ms();
  }
  ~Waiting() { waiting_since_ms = 0; }
  Waiting(const Waiting&) = delete;
  Waiting& operator=(const Waiting&) = delete;
};

void start_watchdog() {
  if (const char* text = std::getenv("SIEVE_DDP_TIMEOUT"); text != nullptr) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    SIEVE_CHECK(end != text && *end == '\0' && std::isfinite(v) && v > 0, "SIEVE_DDP_TIMEOUT: want seconds > 0, "
                "got '{}'", text);
    timeout_seconds = v;
  }
  // Time is counted in the watchdog's own ticks, not read off the clock: a rank that was itself
  // stopped (SIGSTOP) and is woken only to be ended does not count its stop as waiting.
  std::thread([] {
    int64_t watched = 0, ticks = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t since = waiting_since_ms.load();
      ticks = since != 0 && since == watched ? ticks + 1 : 0;
      watched = since;
      if (since == 0 || static_cast<double>(ticks) * 0.1 < timeout_seconds) continue;
      std::fprintf(stderr, "sieve (rank %d of %d): waited %.0f s in %s for the other ranks (one has hung or died; "
                   "SIEVE_DDP_TIMEOUT sets the limit); stopping the job\n", world_rank, world_size,
                   timeout_seconds, waiting_in.load());
      std::fflush(stderr);
      std::_Exit(1);
    }
  }).detach();
}

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

// The fixed-order sum of dist.h: rank r owns elements [r·chunk, (r + 1)·chunk) of the vector
// (padded to N·chunk); Alltoall hands each owner every rank's copy of its share, the owner sums them
// in rank order, Allgather hands every rank every share.
// copies: N consecutive copies of `count` elements, rank 0's first → their sum in copies[0, count),
// added in rank order: the one order every sum of this file keeps.
template <typename T>
void add_in_rank_order(T* copies, int64_t count) {
  for (int64_t r = 1; r < world_size; ++r)
    for (int64_t j = 0; j < count; ++j) copies[j] += copies[r * count + j];
}

template <typename T>
void fixed_order_sum(T* data, int64_t n) {
  if (world_size == 1 || n == 0) return;
  const Waiting waiting("an all-reduce");
  const int64_t N = world_size, chunk = (n + N - 1) / N;
  SIEVE_CHECK(chunk <= INT_MAX, "allreduce: {} elements are too many for one call", n);
  // Straight from and back into `data` when N divides n; through a padded copy otherwise.
  std::unique_ptr<T[]> padded;
  T* vec = data;
  if (n % N != 0) {
    padded = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(N * chunk));
    std::copy(data, data + n, padded.get());
    std::fill(padded.get() + n, padded.get() + N * chunk, T(0));
    vec = padded.get();
  }
  const auto copies = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(N * chunk));  // of my share
  MPI_Alltoall(vec, static_cast<int>(chunk), mpi_type<T>(), copies.get(), static_cast<int>(chunk), mpi_type<T>(),
               MPI_COMM_WORLD);
  add_in_rank_order(copies.get(), chunk);
  MPI_Allgather(copies.get(), static_cast<int>(chunk), mpi_type<T>(), vec, static_cast<int>(chunk), mpi_type<T>(),
                MPI_COMM_WORLD);
  if (padded) std::copy(padded.get(), padded.get() + n, data);
}

}  // namespace

bool built_with_mpi() { return true; }

void init(int* argc, char*** argv) {
  if (initialized || !launched_by_mpirun()) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm machine;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &machine);
  MPI_Comm_size(machine, &machine_size);
  MPI_Comm_free(&machine);
  if (world_size > 1) start_watchdog();
}

void finalize() {
  if (!initialized) return;
  MPI_Finalize();
  initialized = false;
}

int rank() { return world_rank; }
int size() { return world_size; }
int local_size() { return machine_size; }

void broadcast(void* data, int64_t bytes, int root) {
  if (world_size == 1) return;
  const Waiting waiting("a broadcast");
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes;) {  // MPI counts are ints
    const int piece = static_cast<int>(std::min<int64_t>(bytes - done, INT_MAX));
    MPI_Bcast(p + done, piece, MPI_BYTE, root, MPI_COMM_WORLD);
    done += piece;
  }
}

namespace {

// MPI's counts and displacements are ints: segments past 2^31 elements are refused in one line.
std::vector<int> int_counts(const std::vector<int64_t>& counts, const char* what) {
  std::vector<int> out;
  int64_t total = 0;
  for (int64_t c : counts) {
    total += c;
    SIEVE_CHECK(c >= 0 && total <= INT_MAX, "{}: {} elements are too many for one call", what, total);
    out.push_back(static_cast<int>(c));
  }
  SIEVE_CHECK(std::ssize(out) == world_size, "{}: {} segments for {} ranks", what, out.size(), world_size);
  return out;
}

std::vector<int> offsets_of(const std::vector<int>& counts) {
  std::vector<int> at(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) at[i] = at[i - 1] + counts[i - 1];
  return at;
}

}  // namespace

void reduce_scatter_sum(const float* data, const std::vector<int64_t>& counts, float* out) {
  const std::vector<int> send = int_counts(counts, "reduce_scatter");
  const int mine = send[static_cast<size_t>(world_rank)];
  if (world_size == 1) {
    std::copy(data, data + mine, out);
    return;
  }
  const Waiting waiting("a reduce-scatter");
  const std::vector<int> recv(static_cast<size_t>(world_size), mine);  // every rank's copy of my segment
  std::vector<float> copies(static_cast<size_t>(mine) * static_cast<size_t>(world_size));
  MPI_Alltoallv(data, send.data(), offsets_of(send).data(), MPI_FLOAT, copies.data(), recv.data(),
                offsets_of(recv).data(), MPI_FLOAT, MPI_COMM_WORLD);
  add_in_rank_order(copies.data(), mine);
  std::copy(copies.begin(), copies.begin() + mine, out);
}

void allgather(const float* mine, const std::vector<int64_t>& counts, float* out) {
  const std::vector<int> recv = int_counts(counts, "allgather");
  if (world_size == 1) {
    std::copy(mine, mine + recv[0], out);
    return;
  }
  const Waiting waiting("an all-gather");
  MPI_Allgatherv(mine, recv[static_cast<size_t>(world_rank)], MPI_FLOAT, out, recv.data(), offsets_of(recv).data(),
                 MPI_FLOAT, MPI_COMM_WORLD);
}

std::vector<char> gather_bytes(const std::vector<char>& mine, int root) {
  if (world_size == 1) return mine;
  SIEVE_CHECK(mine.size() <= INT_MAX, "gather_bytes: {} bytes are too many for one call", mine.size());
  const Waiting waiting("a gather");
  int n = static_cast<int>(mine.size());
  std::vector<int> sizes(static_cast<size_t>(world_size));
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  std::vector<char> all;
  std::vector<int> at;
  if (world_rank == root) {
    at = offsets_of(sizes);
    all.resize(static_cast<size_t>(at.back()) + static_cast<size_t>(sizes.back()));
  }
  MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), at.data(), MPI_BYTE, root, MPI_COMM_WORLD);
  return all;
}

void mpi_allreduce_sum(float* data, int64_t n) {
  if (world_size == 1) return;
  const Waiting waiting("MPI_Allreduce");
  for (int64_t done = 0; done < n;) {
    const int piece = static_cast<int>(std::min<int64_t>(n - done, INT_MAX));
    MPI_Allreduce(MPI_IN_PLACE, data + done, piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    done += piece;
  }
}

void barrier() {
  if (world_size == 1) return;
  const Waiting waiting("a barrier");
  MPI_Barrier(MPI_COMM_WORLD);
}

void allreduce_sum(float* data, int64_t n) { fixed_order_sum(data, n); }
void allreduce_sum(double* data, int64_t n) { fixed_order_sum(data, n); }

void abort(int code) {
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace sieve::dist
