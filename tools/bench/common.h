// tools/bench/common.h — what the `sieve bench` subcommands share: the result row, medians of
// timed repetitions, the PyTorch reference (one run that prints medians, or a session that times
// single steps in alternation with sieve's), and the table / CSV printers.
//
// Every bench prints rows of sieve's figure beside a reference's figure measured in the same run,
// and their ratio = how many times faster sieve is (higher is better; 1.0 = as fast). The CSV has
// the columns bench,figure,unit,reference,reference_figure,ratio in every bench, so one script
// reads them all.
// What it is not: a benchmark itself (tools/bench/ops.cpp: ops and loader; tools/bench/vit.cpp:
// the ViT training step), nor a statistics library (a median is all the benches need).
// Extend: a helper goes here only when two bench files need it; a PyTorch-referenced figure needs
// its case in tools/bench/bench_torch.py, read back through TorchTimes::ms or TorchSession::seconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace sieve::tools::bench {

struct Row {
  std::string bench;      // e.g. "matmul_1024x1024x1024" (M x K x N)
  double figure = 0;      // sieve's
  std::string unit;       // "GFLOP/s", "GB/s", "ms", "s"
  std::string reference;  // "cblas_sgemm", "memcpy", "torch 1.13.1"
  std::optional<double> reference_figure;  // empty when the reference is unavailable
  bool lower_is_better = false;            // times: the ratio is reference ÷ sieve
  std::optional<double> ratio() const {
    if (!reference_figure || *reference_figure <= 0 || figure <= 0) return std::nullopt;
    return lower_is_better ? *reference_figure / figure : figure / *reference_figure;
  }
};

struct Settings {
  int warmup = 10, reps = 15;  // PyTorch needs ~10 calls before its figures settle
};

double seconds_of(const auto& body) {
  const auto start = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v);

template <typename F>
double median_seconds(const Settings& s, F&& body) {
  for (int i = 0; i < s.warmup; ++i) body();
  std::vector<double> times;
  for (int i = 0; i < s.reps; ++i) times.push_back(seconds_of(body));
  return median(times);
}

// Medians of a reference and sieve's body, timed in alternation so that clock-frequency drift and
// a neighbour's load hit both alike. Returns {reference seconds, sieve seconds}.
template <typename R, typename F>
std::pair<double, double> median_interleaved(const Settings& s, R&& reference, F&& body) {
  for (int i = 0; i < s.warmup; ++i) reference(), body();
  std::vector<double> ref, ours;
  for (int i = 0; i < s.reps; ++i) {
    ref.push_back(seconds_of(reference));
    ours.push_back(seconds_of(body));
  }
  return {median(ref), median(ours)};
}

// One line on stderr ("bench: ..."), so stdout holds only the table.
void progress(const std::string& what);

// A parallel memcpy over the current thread count: each thread copies its contiguous share.
void parallel_memcpy(char* dst, const char* src, size_t bytes);

// The machine a table was measured on, one line: CPU model, threads, this moment's sgemm peak
// (best of 5 at 1024³) and parallel memcpy bandwidth (best of 5, 64 MiB, bytes read + written).
// print_table prints it above every table: a figure from one machine is not one for another.
std::string machine_line();

Tensor randn_f32(const Shape& shape, uint64_t seed);

// selective_scan's inputs (ops/scan.h) at batch B, length L, C channels, N states, on the CPU:
// Δ log-uniform in [1e-3, 1e-1] (as Mamba's dt_proj init gives), A = −(n + 1) (S4D-real), D = 1,
// x, B, C, z and the output gradient N(0, 1); every input requires grad. Seeded by L.
struct ScanInputs {
  Tensor x, delta, A, Bm, Cm, D, z, grad;
  std::vector<Tensor*> leaves() { return {&x, &delta, &A, &Bm, &Cm, &D, &z}; }
  std::vector<Tensor*> all() { return {&x, &delta, &A, &Bm, &Cm, &D, &z, &grad}; }
};
ScanInputs scan_inputs(int64_t B, int64_t L, int64_t C, int64_t N);

// What tools/bench/bench_torch.py printed: the torch version (empty: unavailable, and then nothing else
// is set) and the whole JSON object, whose "seconds" maps case names to median seconds.
struct TorchTimes {
  std::string version;
  nlohmann::json result;
  // The case's median in milliseconds; empty when unavailable or the case is missing.
  std::optional<double> ms(const std::string& key) const;
  std::string reference_name() const { return version.empty() ? "torch (unavailable)" : version; }
};

// Runs `python tools/bench/bench_torch.py --threads T --warmup W --reps R <extra_args>` with sieve's
// current thread count; python is /usr/bin/python3 unless SIEVE_PYTHON names another (or "none",
// to skip). Says once on stderr why the reference is unavailable, and returns an empty version.
// Call it before sieve's own measurements: PyTorch's thread pool must not compete with them.
TorchTimes torch_reference(const Settings& s, const std::string& extra_args = "");

// A PyTorch process that times single steps on request (tools/bench/bench_torch.py ... --serve), so a
// bench can alternate them with its own: a neighbour's load then hits both sides alike, which
// two medians taken one after the other cannot promise on a shared machine.
class TorchSession {
 public:
  // Starts `python bench_torch.py --threads T <args> --serve` and reads its header line; null
  // (the reason said once on stderr) where PyTorch is unavailable, as torch_reference.
  static std::unique_ptr<TorchSession> start(const std::vector<std::string>& args);
  ~TorchSession();  // closes its stdin (it exits at end of input) and waits for it
  TorchSession(const TorchSession&) = delete;
  TorchSession& operator=(const TorchSession&) = delete;

  const nlohmann::json& header() const { return header_; }  // {"torch": "1.13.1", "params": ...}
  std::string reference_name() const;                       // "torch 1.13.1"
  // One step of `command` ("train", "infer") timed there, in seconds; empty once the process has
  // failed (said once on stderr), and for every later call.
  std::optional<double> seconds(const std::string& command);

 private:
  TorchSession(int pid, FILE* to, FILE* from) : pid_(pid), to_(to), from_(from) {}
  std::optional<std::string> read_line();
  std::nullopt_t lost(const std::string& why);
  int pid_;
  FILE* to_;    // its stdin
  FILE* from_;  // its stdout and stderr
  nlohmann::json header_;
  bool alive_ = true;
};

// Medians of sieve's body and of the session's `command`, one step of each in turn: warm-up pairs
// first, then timed ones. The reference is empty without a session, or when it failed midway.
template <typename F>
std::pair<std::optional<double>, double> median_alternating(const Settings& s, TorchSession* torch,
                                                            const std::string& command, F&& body) {
  std::vector<double> ref, ours;
  for (int i = 0; i < s.warmup + s.reps; ++i) {
    const double theirs = torch != nullptr ? torch->seconds(command).value_or(-1.0) : -1.0;  // < 0: none
    const double mine = seconds_of(body);
    if (i < s.warmup) continue;
    if (theirs >= 0) ref.push_back(theirs);
    ours.push_back(mine);
  }
  return {ref.size() == ours.size() ? std::optional<double>(median(ref)) : std::nullopt, median(ours)};
}

// `count` processes that each keep a core busy with a plain loop for as long as this object lives
// (`--load N`: a step measured beside other work, as on a shared machine). They are killed and
// reaped when it goes, and die with this process should it be killed first.
class BusyProcesses {
 public:
  explicit BusyProcesses(int count);
  ~BusyProcesses();
  BusyProcesses(const BusyProcesses&) = delete;
  BusyProcesses& operator=(const BusyProcesses&) = delete;

 private:
  std::vector<int> pids_;
};

// Opened before measuring, so a bad path fails in a moment rather than after a minute.
// "parameters: sieve N, PyTorch M" (PyTorch's from the session's header, when there is one), and
// a warning on stderr when they differ: then the two sides are not the same model.
void print_parameter_counts(int64_t params, TorchSession* torch);

std::ofstream open_csv(const std::string& path);
void write_csv(std::ofstream& out, const std::string& path, const std::vector<Row>& rows);

std::string fixed(double v);  // 3 significant digits, or one decimal from 100 up
void print_table(const std::string& title, const std::vector<Row>& rows);

}  // namespace sieve::tools::bench
