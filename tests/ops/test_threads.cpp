// tests/ops/test_threads.cpp — the CPU kernels' thread count (ops/cpu/threads.h): the pieces that
// read the machine's load, that a busy machine lowers the count, and — what makes lowering it safe —
// that every kernel splitting a sum into partials gives the same bits on any running count below
// the same ceiling (matmul's K slices and row blocks, few-output sums, layer_norm's weight
// gradients, cross-entropy's mean, the selective scan's dA/dB/dC/dD).
//
// CPU only: the thread count is the CPU backend's (CUDA kernels do not read it).
// Not here: OpenMP regions carrying exceptions (tests/core/test_thread_errors.cpp).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "ops/cpu/threads.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "tests/helpers.h"

using namespace sieve;
using test::randn_leaf;

namespace {

// Restores the ceiling and adapting as they were when it goes.
struct ThreadSettings {
  int ceiling = cpu::thread_ceiling();
  bool adaptive = cpu::is_adaptive();
  ~ThreadSettings() {
    cpu::set_thread_ceiling(ceiling);
    cpu::set_adaptive(adaptive);
  }
};

// The outputs of f on `running` threads under a ceiling of 2, adapting off.
std::vector<std::vector<double>> run_on(int running, const std::function<std::vector<Tensor>()>& f) {
  cpu::set_thread_ceiling(2);
  cpu::set_adaptive(false);
  cpu::set_threads_now(running);
  std::vector<std::vector<double>> out;
  for (const Tensor& t : f()) out.push_back(t.to(DType::f64).to_vector<double>());
  return out;
}

void check_same_bits_on_one_and_two_threads(const char* what, const std::function<std::vector<Tensor>()>& f) {
  const ThreadSettings restore;
  const auto two = run_on(2, f);
  const auto one = run_on(1, f);
  INFO(std::string(what));
  REQUIRE(two.size() == one.size());
  for (size_t i = 0; i < two.size(); ++i) {
    CAPTURE(i);
    CHECK(two[i] == one[i]);  // exact: the same partials added in the same order
  }
}

// The gradients of `leaves` after backward of sum(out · w), w fixed: every input's gradient.
std::vector<Tensor> with_grads(const Tensor& out, const std::vector<Tensor>& leaves) {
  for (Tensor t : leaves) t.zero_grad();
  sum(out * randn_leaf(out.shape(), 99, false, out.dtype())).backward();
  std::vector<Tensor> all{out.detach()};
  for (Tensor t : leaves) all.push_back(t.grad());
  return all;
}

}  // namespace

TEST_CASE("threads_for_load: the usable CPUs less the others' runnable threads, within [1, ceiling]") {
  CHECK(cpu::threads_for_load(2, 2, 0) == 2);
  CHECK(cpu::threads_for_load(2, 2, 1) == 1);  // one busy process on two cores: one thread
  CHECK(cpu::threads_for_load(2, 2, 5) == 1);  // never fewer than one
  CHECK(cpu::threads_for_load(8, 16, 4) == 8);  // room for the whole ceiling
  CHECK(cpu::threads_for_load(16, 16, 4) == 12);
  CHECK(cpu::threads_for_load(4, 16, -3) == 4);  // a count read mid-change: no more than the ceiling
}

TEST_CASE("the load readers parse /proc's lines and refuse what is not one") {
  CHECK(cpu::runnable_of_loadavg("0.50 0.40 0.30 3/245 12345\n") == 3);
  CHECK(cpu::runnable_of_loadavg("12.01 9.00 7.25 17/1024 99") == 17);
  CHECK(cpu::runnable_of_loadavg("") == -1);
  CHECK(cpu::runnable_of_loadavg("0.50 0.40 0.30") == -1);
  CHECK(cpu::runnable_of_loadavg("0.50 0.40 0.30 x/245 1") == -1);
  // The command name may hold spaces and parentheses: the state follows the last ')'.
  CHECK(cpu::running_of_task_stat("1234 (sieve) R 1 1234 1234 0"));
  CHECK_FALSE(cpu::running_of_task_stat("1234 (sieve) S 1 1234 1234 0"));
  CHECK(cpu::running_of_task_stat("77 (a) S (b)) R 1 2 3"));
  CHECK_FALSE(cpu::running_of_task_stat("77 (odd) R"));  // no field after the state: not a stat line
  CHECK_FALSE(cpu::running_of_task_stat(""));
}

TEST_CASE("a machine whose cores are all busy runs the kernels on one thread") {
  if (!cpu::load_is_readable()) {
    MESSAGE("skipped: this process may use only some of the machine's CPUs (or /proc is missing), so "
            "sieve keeps its thread ceiling here");
    return;
  }
  const ThreadSettings restore;
  const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  cpu::set_thread_ceiling(std::max(2, cpus));
  cpu::set_adaptive(true);
  std::vector<pid_t> busy;
  for (int i = 0; i < std::max(2, cpus); ++i) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // system calls and a loop only: a fork of a threaded process
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      volatile unsigned long spins = 0;
      for (;;) spins = spins + 1;
    }
    busy.push_back(pid);
  }
  usleep(20000);  // let them start running
  cpu::check_load_now();
  const int threads = cpu::threads_now();
  const cpu::ThreadCounts counts = cpu::thread_counts();
  for (pid_t pid : busy) kill(pid, SIGKILL);
  for (pid_t pid : busy) waitpid(pid, nullptr, 0);
  CHECK(threads == 1);
  CHECK(counts.lowered >= 1);
  cpu::set_adaptive(false);  // off again: back on the ceiling at once
  CHECK(cpu::threads_now() == cpu::thread_ceiling());
}

TEST_CASE("cpu kernel: results do not depend on how many threads run, below the same ceiling") {
  check_same_bits_on_one_and_two_threads("matmul: K slices (K long, M·N small)", [] {
    const Tensor a = randn_leaf({64, 4096}, 1, true, DType::f32), b = randn_leaf({4096, 48}, 2, true, DType::f32);
    return with_grads(matmul(a, b), {a, b});
  });
  check_same_bits_on_one_and_two_threads("matmul: row blocks (M long), with a bias", [] {
    const Tensor a = randn_leaf({3000, 64}, 3, true, DType::f32), b = randn_leaf({64, 96}, 4, true, DType::f32), bias = randn_leaf({96}, 5, true, DType::f32);
    return with_grads(matmul(a, b, bias), {a, b, bias});
  });
  check_same_bits_on_one_and_two_threads("matmul: few rows, many columns (column blocks), and its gradients", [] {
    const Tensor a = randn_leaf({32, 784}, 18, true, DType::f32), b = randn_leaf({784, 100}, 19, true, DType::f32);
    const Tensor bias = randn_leaf({100}, 20, true, DType::f32);
    return with_grads(matmul(a, b, bias), {a, b, bias});
  });
  check_same_bits_on_one_and_two_threads("matmul: a product too small to cut (one BLAS call)", [] {
    const Tensor a = randn_leaf({64, 784}, 23, true, DType::f32), b = randn_leaf({32, 784}, 24, true, DType::f32);
    const Tensor bias = randn_leaf({32}, 25, true, DType::f32);
    return with_grads(matmul(a, b.t(), bias), {a, b, bias});
  });
  check_same_bits_on_one_and_two_threads("matmul: a batch of two large products, one at a time", [] {
    const Tensor a = randn_leaf({2, 300, 700}, 21, true, DType::f32), b = randn_leaf({2, 700, 300}, 22, true, DType::f32);
    return with_grads(matmul(a, b), {a, b});
  });
  check_same_bits_on_one_and_two_threads("sum of one long vector, float32 and float64", [] {
    const Tensor x = randn_leaf({200001}, 6, false, DType::f32), y = randn_leaf({100003}, 7, false);
    return std::vector<Tensor>{sum(x), sum(y), mean(x)};
  });
  check_same_bits_on_one_and_two_threads("layer_norm: the weight and bias gradients", [] {
    const Tensor x = randn_leaf({4099, 64}, 8, true, DType::f32), w = randn_leaf({64}, 9, true, DType::f32), b = randn_leaf({64}, 10, true, DType::f32);
    return with_grads(layer_norm(x, w, b, 1e-5), {x, w, b});
  });
  check_same_bits_on_one_and_two_threads("cross_entropy: the mean over many rows", [] {
    const Tensor logits = randn_leaf({40000, 3}, 11, true, DType::f32);
    Generator gen(12);
    const Tensor target = randint(0, 3, {40000}, {.dtype = DType::i64}, &gen);
    return with_grads(cross_entropy(logits, target), {logits});
  });
  check_same_bits_on_one_and_two_threads("selective_scan: dA, dB, dC, dD summed over slices", [] {
    const int64_t B = 4, L = 70, C = 48, N = 8;
    const Tensor x = randn_leaf({B, L, C}, 12, true, DType::f32), delta = softplus(randn_leaf({B, L, C}, 13, false, DType::f32)).requires_grad_();
    const Tensor A = (-exp(randn_leaf({C, N}, 14, false, DType::f32))).requires_grad_();
    const Tensor Bm = randn_leaf({B, L, N}, 15, true, DType::f32), Cm = randn_leaf({B, L, N}, 16, true, DType::f32), D = randn_leaf({C}, 17, true, DType::f32);
    return with_grads(selective_scan(x, delta, A, Bm, Cm, D), {x, delta, A, Bm, Cm, D});
  });
}


