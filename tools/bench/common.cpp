// tools/bench/common.cpp — the helpers every `sieve bench` subcommand shares (see common.h).
#include "tools/bench/common.h"

#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "ops/cpu/threads.h"
#include "tools/cli/commands.h"

#ifndef SIEVE_SOURCE_DIR
#define SIEVE_SOURCE_DIR "."
#endif

namespace sieve::tools::bench {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void progress(const std::string& what) { std::fprintf(stderr, "bench: %s\n", what.c_str()); }

void parallel_memcpy(char* dst, const char* src, size_t bytes) {
#pragma omp parallel
  {
    const size_t parts = static_cast<size_t>(omp_get_num_threads());
    const size_t me = static_cast<size_t>(omp_get_thread_num());
    const size_t chunk = (bytes + parts - 1) / parts;
    const size_t begin = std::min(bytes, me * chunk), end = std::min(bytes, begin + chunk);
    std::memcpy(dst + begin, src + begin, end - begin);
  }
}

std::string machine_line() {
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  auto best_of_5 = [](const auto& body) {
    body();  // warm-up: pages touched, threads started
    double best = 1e300;
    for (int i = 0; i < 5; ++i) best = std::min(best, seconds_of(body));
    return best;
  };
  const int n = 1024;
  std::vector<float> a(static_cast<size_t>(n) * n, 1.0f), b(a), c(a.size());
  const double gemm = best_of_5([&] {
    cpu::with_blas_threads([&] {  // OpenBLAS threading itself: the machine's peak
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(),
                  n);
    });
  });
  const size_t bytes = size_t{64} << 20;
  std::vector<char> src(bytes, 1), dst(bytes);
  const double copy = best_of_5([&] { parallel_memcpy(dst.data(), src.data(), bytes); });
  return fmt::format("machine: {}, {} threads; sgemm {:.0f} GFLOP/s; memcpy {:.1f} GB/s", cpu, current_threads(),
                     2.0 * n * n * n / gemm * 1e-9, 2.0 * static_cast<double>(bytes) / copy * 1e-9);
}

Tensor randn_f32(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, {.dtype = DType::f32}, &gen);
}

ScanInputs scan_inputs(int64_t B, int64_t L, int64_t C, int64_t N) {
  Generator gen(static_cast<uint64_t>(L));
  ScanInputs in;
  in.x = randn({B, L, C}, {.dtype = DType::f32}, &gen);
  std::vector<float> delta = rand({B, L, C}, {.dtype = DType::f32}, &gen).to_vector<float>();
  for (float& d : delta) d = static_cast<float>(std::exp(std::log(1e-3) + d * (std::log(1e-1) - std::log(1e-3))));
  in.delta = from_vector(delta, {B, L, C});
  std::vector<float> a(static_cast<size_t>(C * N));
  for (size_t i = 0; i < a.size(); ++i) a[i] = -static_cast<float>(i % static_cast<size_t>(N) + 1);
  in.A = from_vector(a, {C, N});
  in.Bm = randn({B, L, N}, {.dtype = DType::f32}, &gen);
  in.Cm = randn({B, L, N}, {.dtype = DType::f32}, &gen);
  in.D = ones({C});
  in.z = randn({B, L, C}, {.dtype = DType::f32}, &gen);
  in.grad = randn({B, L, C}, {.dtype = DType::f32}, &gen);
  for (Tensor* t : in.leaves()) t->requires_grad_();
  return in;
}

std::optional<double> TorchTimes::ms(const std::string& key) const {
  if (version.empty() || !result.contains("seconds")) return std::nullopt;
  const nlohmann::json& seconds = result["seconds"];
  if (!seconds.contains(key) || !seconds[key].is_number()) return std::nullopt;
  return seconds[key].get<double>() * 1e3;
}

namespace {

std::nullopt_t unavailable(const std::string& why) {
  std::fprintf(stderr, "bench: PyTorch reference unavailable (%s); those rows have no ratio\n", why.c_str());
  return std::nullopt;
}

struct TorchScript {
  std::string python, script;
};

// bench_torch.py: beside an installed `sieve` (PREFIX/bin/sieve → PREFIX/share/sieve/), else in
// the source tree this `sieve` was built from.
std::string bench_torch_path() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed = exe.parent_path().parent_path() / "share" / "sieve" / "bench_torch.py";
    if (std::filesystem::exists(installed, ec)) return installed.string();
  }
  return std::string(SIEVE_SOURCE_DIR) + "/tools/bench/bench_torch.py";
}

// The interpreter (SIEVE_PYTHON, default /usr/bin/python3) and bench_torch.py; empty, with the
// reason said, when either is missing or SIEVE_PYTHON=none.
std::optional<TorchScript> torch_script() {
  const char* python_env = std::getenv("SIEVE_PYTHON");
  const std::string python = python_env ? python_env : "/usr/bin/python3";
  const std::string script = bench_torch_path();
  if (python == "none") return unavailable("SIEVE_PYTHON=none");
  if (access(python.c_str(), X_OK) != 0) return unavailable(python + " not found");
  if (access(script.c_str(), R_OK) != 0) return unavailable(script + " not found");
  return TorchScript{python, script};
}

// What a failed bench_torch.py said first (its own one-line reason), or that it failed.
std::string first_line_or(const std::string& text, const std::string& otherwise) {
  const std::string first = text.substr(0, text.find('\n'));
  return first.empty() ? otherwise : first;
}

}  // namespace

TorchTimes torch_reference(const Settings& s, const std::string& extra_args) {
  const std::optional<TorchScript> where = torch_script();
  if (!where) return {};
  const auto& [python, script] = *where;
  progress("PyTorch reference (" + python + " " + script + (extra_args.empty() ? "" : " " + extra_args) + ")");
  const std::string command = fmt::format("'{}' '{}' --threads {} --warmup {} --reps {} {} 2>&1", python, script,
                                          current_threads(), s.warmup, s.reps, extra_args);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    unavailable("cannot start " + python);
    return {};
  }
  std::string out;
  char buffer[4096];
  while (size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, got);
  const int status = ::pclose(pipe);
  const auto parsed = nlohmann::json::parse(out, nullptr, false);
  if (status != 0 || !parsed.is_object() || !parsed.contains("seconds")) {
    unavailable(first_line_or(out, "bench_torch.py failed"));
    return {};
  }
  return {"torch " + parsed.value("torch", std::string("?")), parsed};
}

// ---- TorchSession: bench_torch.py --serve over two pipes ----

std::unique_ptr<TorchSession> TorchSession::start(const std::vector<std::string>& args) {
  const std::optional<TorchScript> where = torch_script();
  if (!where) return nullptr;
  std::vector<std::string> words = {where->python, where->script, "--threads", std::to_string(current_threads())};
  words.insert(words.end(), args.begin(), args.end());
  words.push_back("--serve");
  progress(fmt::format("PyTorch reference ({}), timed in alternation with sieve", fmt::join(words, " ")));
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) fail("bench: cannot make a pipe: {}", std::strerror(errno));
  // The child reads commands on stdin and answers on stdout, its stderr (a traceback, a warning)
  // mixed in; it must hold none of the pipes' other ends, or it would never see end of input.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDERR_FILENO);
  for (const int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
    posix_spawn_file_actions_addclose(&actions, fd);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]), ::close(from_child[1]);
  if (rc != 0) {
    ::close(to_child[1]), ::close(from_child[0]);
    unavailable("cannot start " + where->python + ": " + std::strerror(rc));
    return nullptr;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a child that died makes a write fail, not kill sieve
  std::unique_ptr<TorchSession> session(
      new TorchSession(pid, ::fdopen(to_child[1], "w"), ::fdopen(from_child[0], "r")));
  // The header is the first line that is a JSON object; a line before it is a warning, or, when
  // no header follows, the reason (bench_torch.py's "PyTorch is not importable ...").
  std::string said;
  while (const std::optional<std::string> line = session->read_line()) {
    auto parsed = nlohmann::json::parse(*line, nullptr, false);
    if (parsed.is_object() && parsed.contains("torch")) {
      session->header_ = std::move(parsed);
      return session;
    }
    if (said.empty()) said = *line;
  }
  unavailable(said.empty() ? "bench_torch.py --serve failed" : said);
  return nullptr;
}

BusyProcesses::BusyProcesses(int count) {
  for (int i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    SIEVE_CHECK(pid >= 0, "--load: cannot start a busy process: {}", std::strerror(errno));
    if (pid == 0) {  // the child: system calls and a loop only (it is a fork of a threaded process)
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      volatile uint64_t spins = 0;
      for (;;) spins = spins + 1;
    }
    pids_.push_back(pid);
  }
}

BusyProcesses::~BusyProcesses() {
  for (const int pid : pids_) ::kill(pid, SIGKILL);
  for (const int pid : pids_) ::waitpid(pid, nullptr, 0);
}

TorchSession::~TorchSession() {
  if (to_ != nullptr) std::fclose(to_);
  if (from_ != nullptr) std::fclose(from_);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::string TorchSession::reference_name() const { return "torch " + header_.value("torch", std::string("?")); }

std::optional<std::string> TorchSession::read_line() {
  if (from_ == nullptr) return std::nullopt;
  std::string line;
  for (int c = std::fgetc(from_); c != EOF; c = std::fgetc(from_)) {
    if (c == '\n') return line;
    line.push_back(static_cast<char>(c));
  }
  return line.empty() ? std::nullopt : std::optional<std::string>(line);
}

std::nullopt_t TorchSession::lost(const std::string& why) {
  std::fprintf(stderr, "bench: PyTorch reference lost (%s); those rows have no ratio\n", why.c_str());
  alive_ = false;
  return std::nullopt;
}

std::optional<double> TorchSession::seconds(const std::string& command) {
  if (!alive_) return std::nullopt;
  if (std::fprintf(to_, "%s\n", command.c_str()) < 0 || std::fflush(to_) != 0) return lost("it stopped reading");
  std::string said;
  while (const std::optional<std::string> line = read_line()) {
    char* end = nullptr;
    const double value = std::strtod(line->c_str(), &end);
    if (!line->empty() && end == line->c_str() + line->size()) return value;
    if (said.empty()) said = *line;  // a warning or a traceback: kept for the message
  }
  return lost(said.empty() ? "it exited" : said);
}

std::ofstream open_csv(const std::string& path) {
  std::ofstream out;
  if (path.empty()) return out;
  out.open(path);
  if (!out) fail("{}: cannot write the CSV file: {}", path, std::strerror(errno));
  return out;
}

void write_csv(std::ofstream& out, const std::string& path, const std::vector<Row>& rows) {
  out << "bench,figure,unit,reference,reference_figure,ratio\n";
  for (const Row& r : rows) {
    out << r.bench << ',' << fmt::format("{:.6g}", r.figure) << ',' << r.unit << ',' << r.reference << ','
        << (r.reference_figure ? fmt::format("{:.6g}", *r.reference_figure) : "") << ','
        << (r.ratio() ? fmt::format("{:.4f}", *r.ratio()) : "") << '\n';
  }
  out.close();
  if (!out) fail("{}: writing the CSV file failed", path);
  progress("wrote " + path);
}

std::string fixed(double v) { return v >= 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.3g}", v); }

void print_table(const std::string& title, const std::vector<Row>& rows) {
  fmt::print("{}\n", machine_line());
  fmt::print("{}; ratio = times faster than the reference (higher is better)\n", title);
  fmt::print("{:<30} {:>16}   {:<20} {:>16}   {:>6}\n", "bench", "sieve", "reference", "reference figure", "ratio");
  for (const Row& r : rows) {
    const std::string ref = r.reference_figure ? fixed(*r.reference_figure) + " " + r.unit : "-";
    const std::string ratio = r.ratio() ? fmt::format("{:.2f}", *r.ratio()) : "-";
    fmt::print("{:<30} {:>16}   {:<20} {:>16}   {:>6}\n", r.bench, fixed(r.figure) + " " + r.unit, r.reference, ref,
               ratio);
  }
}

void print_parameter_counts(int64_t params, TorchSession* torch) {
  if (torch == nullptr || !torch->header().contains("params")) {
    fmt::print("parameters: sieve {}\n", params);
    return;
  }
  const int64_t torch_params = torch->header()["params"].get<int64_t>();
  fmt::print("parameters: sieve {}, PyTorch {}\n", params, torch_params);
  if (torch_params != params)
    std::fprintf(stderr, "bench: warning: the PyTorch model has %lld parameters, sieve's %lld: not the same model\n",
                 static_cast<long long>(torch_params), static_cast<long long>(params));
}

}  // namespace sieve::tools::bench
