// dist/none.cpp — dist.h without MPI (meson option mpi=disabled, or OpenMPI not found): a world of
// one. A process that mpirun started as one of several is refused at init(), in one line.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "dist/dist.h"

namespace sieve::dist {

bool built_with_mpi() { return false; }

void init(int*, char***) {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (n == nullptr) n = std::getenv("PMI_SIZE");
  SIEVE_CHECK(n == nullptr || std::string(n) == "1", "started by mpirun as one of {} processes, but this sieve was "
              "built without MPI (apt-get install libopenmpi-dev, then rebuild: meson setup --reconfigure build)", n);
}

void finalize() {}
int rank() { return 0; }
int size() { return 1; }
int local_size() { return 1; }
void broadcast(void*, int64_t, int) {}
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
void reduce_scatter_sum(const float* data, const std::vector<int64_t>& counts, float* out) {
  std::copy(data, data + counts.at(0), out);
}
void allgather(const float* mine, const std::vector<int64_t>& counts, float* out) {
  std::copy(mine, mine + counts.at(0), out);
}
std::vector<char> gather_bytes(const std::vector<char>& mine, int) { return mine; }
void mpi_allreduce_sum(float*, int64_t) {}
void barrier() {}
void abort(int code) { std::exit(code); }

}  // namespace sieve::dist
