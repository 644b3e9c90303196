// dist/dist.h — the processes of one training job and what they say to each other: data-parallel
// training's transport, on MPI (llm.c's design: MPI launches and talks; nothing home-made).
//
// A job is N processes ("ranks") started by `mpirun -np N sieve ...` (or `sieve train --nproc N`,
// which runs that mpirun). Without mpirun a process is a world of one and every call below is
// trivial. A build without MPI (meson option mpi=disabled, or no OpenMPI found) has the same API:
// a world of one, and a process started by mpirun with N > 1 is refused in one line at init().
//
//   init / finalize           MPI_Init_thread (funneled: only the main thread talks) / MPI_Finalize
//   rank, size, local_size    this process's index, the job's processes, those on this machine
//   broadcast(data, root)     root's bytes to every rank (the same initial weights everywhere)
//   allreduce_sum(x, n)       x ← Σ over ranks, elementwise, the same bits on every rank and in every
//                             run: a fixed order, not MPI's reduction (whose order the standard
//                             leaves open). Written as MPI_Alltoall, which only moves bytes, then a
//                             sum in rank order 0, 1, …, N−1 of each rank's share of the vector, then
//                             MPI_Allgather: a reduce-scatter and an all-gather, 2(N−1)/N × n
//                             elements sent per rank, as a ring's
//   reduce_scatter_sum, allgather, gather_bytes   ZeRO-1's (below)
//   abort(code)               ends every rank (MPI_Abort); a failing rank calls it so no other
//                             waits for it forever. A rank that hangs cannot: a watchdog thread
//                             ends any rank that waits in one collective longer than
//                             SIEVE_DDP_TIMEOUT seconds (default 600), with one line
//
// What it is not: the data-parallel step (dist/data_parallel.h: broadcast the weights, average the
// gradients, ZeRO-1), NCCL (GPU transport; later), or a launcher. Extend: a new collective is a function
// here with its body in mpi.cpp and its world-of-one case in none.cpp.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace sieve::dist {

// Joins the job mpirun started (its environment says so), or makes a world of one. Call once,
// first thing in main; a second call does nothing.
void init(int* argc, char*** argv);
void finalize();

int rank();
int size();
int local_size();  // ranks on this machine (to share its cores out)
inline bool is_root() { return rank() == 0; }

// Whether this process was started by mpirun (its environment says so; usable before init).
inline bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr;
}
// Whether this build can run a job of more than one process.
bool built_with_mpi();

void broadcast(void* data, int64_t bytes, int root = 0);
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);

// ZeRO-1's pair (dist/data_parallel.h). `data` is N segments, segment d of counts[d] floats (the
// same counts on every rank): reduce_scatter_sum writes into `out` (counts[rank()] floats) the sum
// over ranks of their segment rank(), in rank order — the sums allreduce_sum gives, to the bit;
// allgather concatenates every rank's `mine` (counts[rank] floats each) into `out` (Σ counts).
void reduce_scatter_sum(const float* data, const std::vector<int64_t>& counts, float* out);
void allgather(const float* mine, const std::vector<int64_t>& counts, float* out);
// Every rank's bytes, concatenated in rank order on `root` (empty elsewhere).
std::vector<char> gather_bytes(const std::vector<char>& mine, int root = 0);

// For `sieve bench ddp`: MPI's own MPI_Allreduce (its summation order is MPI's), the reference
// allreduce_sum is measured against; and a barrier, so both sides start timed calls together.
void mpi_allreduce_sum(float* data, int64_t n);
void barrier();

[[noreturn]] void abort(int code);

}  // namespace sieve::dist
