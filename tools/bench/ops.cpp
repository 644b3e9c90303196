// tools/bench/ops.cpp — `sieve bench ops`: op speed against a reference measured in the same run;
// `sieve bench loader`: whether the data loader keeps a training step fed.
//
// bench ops: every row sets sieve's figure beside a reference's, and their ratio = how many times
// faster sieve is (higher is better; 1.0 = as fast):
//   matmul      GFLOP/s, vs raw cblas_sgemm on the same buffers with the same transpose flags;
//               ratio = sieve GFLOP/s ÷ sgemm GFLOP/s                       (target ≥ 0.95)
//   add, gelu   GB/s (bytes read + written), vs a parallel memcpy of the same size over the same
//               threads, counted the same way; ratio = sieve GB/s ÷ memcpy GB/s (target ≥ 0.6)
//   softmax,    ms per forward + backward, vs PyTorch (tools/bench/bench_torch.py, same shapes and
//   layer_norm  threads); ratio = torch ms ÷ sieve ms                       (target > 1)
//   attention   GFLOP/s forward, and forward + backward, at ViT-tiny's heads (128×4×50×16) and
//               CLIP's 197 tokens (64×4×197×16), vs PyTorch's written-out softmax(q·kᵀ)·v (1.13
//               has no fused attention)                                     (target ≥ 100 GFLOP/s)
// Figures are medians of several repetitions after warm-up, timed with std::chrono::steady_clock;
// sieve and its BLAS/memcpy reference are timed in alternation, so drift and load hit both alike.
// --device cuda: the same rows on the GPU, sizes that fill it, the references a raw cublasSgemm on
// the same device buffers (TF32 off in both) and a device-to-device copy (cudaMemcpyAsync) of the
// same bytes (targets: matmul ≥ 0.9×, elementwise ≥ 0.7×), and selective_scan forward + backward at
// L = 4096 in GB/s of the bytes it must move against that copy (target ≥ 0.4: 40% of HBM bandwidth,
// cuda_scan_row); each repetition ends with a
// synchronisation, so the host clock measures the GPU's work. softmax/layer_norm are CPU rows.
// bench loader: MNIST-sized synthetic data (60000 × 1 × 28 × 28) through datasets/loader.h with
// crop + flip + normalise, batch 128, prefetch 0 and 2. "offered" rows take each batch at once
// (the loader's own rate); "step" rows spend a fixed busy time per batch, like a training step,
// and set the rate they reach beside the step's own rate measured alone (the reference): ratio 1.0
// means training never waits for data. "stall" is the time next() blocked, per batch.
// What it is not: a test — tests never depend on timing — nor a model benchmark (the ViT's training
// step: tools/bench/vit.cpp); the row type, timing, PyTorch runner and printers: tools/bench/common.h.
// Extend: a new ops row is a Row{...} in run_ops(); a PyTorch-referenced row also needs its case
// in tools/bench/bench_torch.py under the same name. A new loader case is a LoaderCase in run_loader().
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/backend.h"
#include "core/random.h"
#include "datasets/loader.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/scan.h"
#include "ops/softmax.h"
#include "ops/cpu/threads.h"
#include "tools/bench/common.h"
#include "tools/cli/commands.h"

namespace sieve::tools {

namespace {

using namespace bench;

// ---- matmul vs cblas_sgemm ----

// c = op(a) · op(b) where a and b are sieve tensors, possibly transposed views; the reference
// hands the same buffers to sgemm with the transpose flags that describe those views.
Row matmul_row(const std::string& label, const Tensor& a, const Tensor& b, const Settings& s) {
  progress("matmul " + label + " (M x K x N)");
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const bool ta = !a.is_contiguous(), tb = !b.is_contiguous();  // here: contiguous or a .t() view
  const int lda = static_cast<int>(ta ? a.stride(1) : a.stride(0));
  const int ldb = static_cast<int>(tb ? b.stride(1) : b.stride(0));
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  std::vector<float> c(static_cast<size_t>(M * N));
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  NoGradGuard no_grad;
  const auto [ref, ours] = median_interleaved(
      s,
      [&] {
        cpu::with_blas_threads([&] {  // raw OpenBLAS, threading itself (sieve calls it single-threaded)
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0f, pa, lda, pb, ldb, 0.0f,
                      c.data(), static_cast<int>(N));
        });
      },
      [&] { Tensor out = matmul(a, b); });
  return {"matmul_" + label, flops / ours * 1e-9, "GFLOP/s", "cblas_sgemm", flops / ref * 1e-9};
}

// ---- the same on the GPU: matmul vs raw cublasSgemm, add / gelu vs a device-to-device copy ----

// body, then a wait for the GPU: each timed repetition measures the GPU's work, not the queueing.
template <typename F>
auto synced(F body) {
  return [body] {
    body();
    cuda::synchronize();
  };
}

Row cuda_matmul_row(const std::string& label, const Tensor& a, const Tensor& b, const Settings& s) {
  progress("cuda matmul " + label + " (M x K x N)");
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const bool ta = !a.is_contiguous(), tb = !b.is_contiguous();  // contiguous or a .t() view
  const int64_t lda = ta ? a.stride(1) : a.stride(0), ldb = tb ? b.stride(1) : b.stride(0);
  Tensor c = empty({M, N}, {.device = kCUDA});
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  NoGradGuard no_grad;
  const auto [ref, ours] = median_interleaved(
      s,
      synced([&] {
        cuda::reference_sgemm(ta, tb, M, N, K, a.data<float>(), lda, b.data<float>(), ldb, c.data<float>(), N);
      }),
      synced([&] { Tensor out = matmul(a, b); }));
  return {"cuda_matmul_" + label, flops / ours * 1e-9, "GFLOP/s", "cublasSgemm", flops / ref * 1e-9};
}

std::vector<Row> cuda_bandwidth_rows(const Settings& s) {
  constexpr int64_t n = int64_t{64} << 20;  // 64M float32 = 256 MiB per tensor: far beyond L2
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  const Tensor a = randn_f32({n}, 1).to(kCUDA), b = randn_f32({n}, 2).to(kCUDA);
  Tensor dst = empty({n}, {.device = kCUDA});
  const auto copy = synced([&] { cuda::memcpy(dst.data<float>(), a.data<float>(), bytes, 2); });
  NoGradGuard no_grad;
  const auto gbps = [&](double moved, double seconds) { return moved * static_cast<double>(bytes) / seconds * 1e-9; };
  progress("cuda add 64M float32 (vs a device copy of 256 MiB)");
  const auto [copy_add, t_add] = median_interleaved(s, copy, synced([&] { Tensor out = add(a, b); }));
  progress("cuda gelu 64M float32 (vs a device copy of 256 MiB)");
  const auto [copy_gelu, t_gelu] = median_interleaved(s, copy, synced([&] { Tensor out = gelu(a); }));
  return {
      {"cuda_add_64M_f32", gbps(3, t_add), "GB/s", "device copy", gbps(2, copy_add)},
      {"cuda_gelu_64M_f32", gbps(2, t_gelu), "GB/s", "device copy", gbps(2, copy_gelu)},
  };
}

// selective_scan forward + backward (with D and z) at the Mamba classifier's width (C = 128, N = 16),
// B = 8, L = 4096, in GB/s of the bytes it must move: each input read and each output written once
// per pass (forward reads x, Δ, z, B, C, A, D and writes y; backward reads dy and the same inputs and
// writes their gradients) — 11·B·L·C + 8·B·L·N floats, about 201 MB. Whatever more the kernels move
// (chunk states, re-reads) costs time and lowers the figure. Reference: a device copy of that many
// bytes; the target is ≥ 40% of HBM bandwidth, i.e. a ratio ≥ 0.4.
Row cuda_scan_row(const Settings& s) {
  constexpr int64_t B = 8, L = 4096, C = 128, N = 16;
  progress(fmt::format("cuda selective_scan forward+backward, B {}, L {}, C {}, N {}", B, L, C, N));
  ScanInputs in = scan_inputs(B, L, C, N);
  for (Tensor* t : in.all()) *t = t->detach().to(kCUDA).requires_grad_(t != &in.grad);
  const double floats = 11.0 * B * L * C + 8.0 * B * L * N + 4.0 * C * N + 4.0 * C;
  const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
  // The copy reads half of `bytes` and writes half: the same traffic as the scan's.
  const int64_t half = static_cast<int64_t>(floats) / 2;
  Tensor src = empty({half}, {.device = kCUDA}), dst = empty_like(src);
  const size_t copied = static_cast<size_t>(half) * sizeof(float);
  const auto [copy, scan] = median_interleaved(
      s, synced([&] { cuda::memcpy(dst.data<float>(), src.data<float>(), copied, 2); }), synced([&] {
        for (Tensor* t : in.leaves()) t->zero_grad();
        Tensor y = selective_scan(in.x, in.delta, in.A, in.Bm, in.Cm, in.D, in.z);
        y.backward(in.grad);
      }));
  return {fmt::format("cuda_selective_scan_fwd_bwd_b{}_L{}", B, L), static_cast<double>(bytes) / scan * 1e-9, "GB/s",
          "device copy", 2.0 * static_cast<double>(copied) / copy * 1e-9};
}

int run_ops_cuda(const std::string& csv, bool quick) {
  SIEVE_CHECK(cuda::available(), "bench ops --device cuda: no usable GPU ({})", cuda::unavailable_reason());
  std::ofstream out = open_csv(csv);
  Settings s;
  if (quick) s = {10, 5};
  cuda::set_tf32(false);
  progress(fmt::format("GPU, {} warm-up + {} timed repetitions per figure, TF32 off", s.warmup, s.reps));
  std::vector<Row> rows;
  const Tensor a = randn_f32({8192, 8192}, 7).to(kCUDA), b = randn_f32({8192, 8192}, 8).to(kCUDA);
  rows.push_back(cuda_matmul_row("8192x8192x8192", a, b, s));
  // The ViT-shaped products at batch 512 (512 images × 50 tokens = 25600 rows) and their backward's.
  const Tensor x = randn_f32({25600, 64}, 9).to(kCUDA), W = randn_f32({64, 192}, 10).to(kCUDA);
  const Tensor g = randn_f32({25600, 192}, 11).to(kCUDA);
  rows.push_back(cuda_matmul_row("25600x64x192", x, W, s));
  rows.push_back(cuda_matmul_row("25600x192x64_Bt", g, W.t(), s));
  rows.push_back(cuda_matmul_row("64x25600x192_At", x.t(), g, s));
  for (Row& r : cuda_bandwidth_rows(s)) rows.push_back(r);
  rows.push_back(cuda_scan_row(s));
  print_table("sieve bench ops --device cuda", rows);
  if (!csv.empty()) write_csv(out, csv, rows);
  return 0;
}

// ---- add / gelu vs memcpy bandwidth ----

// GB/s counts bytes read + written, for memcpy (2 × 64 MiB) as for the ops (add 3×, gelu 2×).
std::vector<Row> bandwidth_rows(const Settings& s) {
  constexpr int64_t n = int64_t{16} << 20;  // 16M float32 = 64 MiB per tensor
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  std::vector<char> src(bytes, 1), dst(bytes, 0);  // touched, so no page faults are timed
  const auto copy = [&] { parallel_memcpy(dst.data(), src.data(), bytes); };
  const Tensor a = randn_f32({n}, 1), b = randn_f32({n}, 2);
  NoGradGuard no_grad;
  const auto gbps = [&](double moved, double seconds) { return moved * static_cast<double>(bytes) / seconds * 1e-9; };
  progress("add 16M float32 (vs memcpy of 64 MiB)");
  const auto [copy_add, t_add] = median_interleaved(s, copy, [&] { Tensor out = add(a, b); });
  progress("gelu 16M float32 (vs memcpy of 64 MiB)");
  const auto [copy_gelu, t_gelu] = median_interleaved(s, copy, [&] { Tensor out = gelu(a); });
  return {
      {"add_16M_f32", gbps(3, t_add), "GB/s", "memcpy", gbps(2, copy_add)},
      {"gelu_16M_f32", gbps(2, t_gelu), "GB/s", "memcpy", gbps(2, copy_gelu)},
  };
}

// ---- softmax / layer_norm forward + backward vs PyTorch ----

std::vector<Row> fused_rows(const Settings& s, const TorchTimes& torch) {
  std::vector<Row> rows;
  for (const bool is_softmax : {true, false}) {
    for (const auto& [R, C] : {std::pair<int64_t, int64_t>{6400, 64}, {4096, 1024}}) {
      const std::string op = is_softmax ? "softmax" : "layer_norm";
      const std::string key = fmt::format("{}_{}x{}", op, R, C);
      progress(fmt::format("{} forward+backward {}x{}", op, R, C));
      Tensor x = randn_f32({R, C}, 3).requires_grad_();
      Tensor w = randn_f32({C}, 4).requires_grad_(), b = randn_f32({C}, 5).requires_grad_();
      const Tensor g = randn_f32({R, C}, 6);
      const double t = median_seconds(s, [&] {
        x.zero_grad(), w.zero_grad(), b.zero_grad();
        Tensor y = is_softmax ? softmax(x, -1) : layer_norm(x, w, b, 1e-5);
        y.backward(g);
      });
      rows.push_back({fmt::format("{}_fwd_bwd_{}x{}", op, R, C), t * 1e3, "ms", torch.reference_name(),
                      torch.ms(key), true});
    }
  }
  return rows;
}

// ---- attention forward, and forward + backward, vs PyTorch's written-out attention ----

// GFLOP/s over the attention FLOPs (ops/README.md): 4·B·H·L²·D forward (q·kᵀ and P·v), three times
// that forward + backward (dP, dq, dk, dv: four more products). ViT-tiny's heads at 50 tokens and
// CLIP's image tower's at 197 (the two sizes).
std::vector<Row> attention_rows(const Settings& s, const TorchTimes& torch) {
  std::vector<Row> rows;
  for (const auto& [B, L] : {std::pair<int64_t, int64_t>{128, 50}, {64, 197}}) {
    const int64_t H = 4, D = 16;
    const std::string shape = fmt::format("{}x{}x{}x{}", B, H, L, D);
    progress("attention " + shape + " (B x H x L x D), forward and forward+backward");
    Tensor q = randn_f32({B, H, L, D}, 7).requires_grad_(), k = randn_f32({B, H, L, D}, 8).requires_grad_();
    Tensor v = randn_f32({B, H, L, D}, 9).requires_grad_();
    const Tensor g = randn_f32({B, H, L, D}, 10);
    const double fwd_flops = 4.0 * static_cast<double>(B * H * L * L * D);
    const double fwd = [&] {
      NoGradGuard no_grad;
      return median_seconds(s, [&] { Tensor out = attention(q, k, v).out; });
    }();
    const double both = median_seconds(s, [&] {
      q.zero_grad(), k.zero_grad(), v.zero_grad();
      attention(q, k, v).out.backward(g);
    });
    const auto rate = [](double flops, std::optional<double> ms) {
      return ms ? std::optional<double>(flops / (*ms * 1e-3) * 1e-9) : std::nullopt;
    };
    rows.push_back({"attention_fwd_" + shape, fwd_flops / fwd * 1e-9, "GFLOP/s", torch.reference_name(),
                    rate(fwd_flops, torch.ms("attention_fwd_" + shape))});
    rows.push_back({"attention_fwd_bwd_" + shape, 3 * fwd_flops / both * 1e-9, "GFLOP/s", torch.reference_name(),
                    rate(3 * fwd_flops, torch.ms("attention_fwd_bwd_" + shape))});
  }
  return rows;
}

int run_ops(const std::string& csv, bool quick) {
  std::ofstream out = open_csv(csv);
  Settings s;
  if (quick) s = {10, 5};
  const int threads = current_threads();
  progress(fmt::format("{} threads, {} warm-up + {} timed repetitions per figure", threads, s.warmup, s.reps));
  // PyTorch first, alone: its thread pool must not compete with sieve's measurements.
  const TorchTimes torch = torch_reference(s);

  std::vector<Row> rows;
  const Tensor a = randn_f32({1024, 1024}, 7), b = randn_f32({1024, 1024}, 8);
  rows.push_back(matmul_row("1024x1024x1024", a, b, s));
  // The ViT-shaped product x·W and the two its backward needs, g·Wᵀ and xᵀ·g, through transposed
  // views (names: M x K x N; _Bt / _At = that operand is a transposed view, an sgemm flag).
  const Tensor x = randn_f32({6400, 64}, 9), W = randn_f32({64, 192}, 10), g = randn_f32({6400, 192}, 11);
  rows.push_back(matmul_row("6400x64x192", x, W, s));
  rows.push_back(matmul_row("6400x192x64_Bt", g, W.t(), s));
  rows.push_back(matmul_row("64x6400x192_At", x.t(), g, s));
  for (Row& r : bandwidth_rows(s)) rows.push_back(r);
  for (Row& r : fused_rows(s, torch)) rows.push_back(r);
  for (Row& r : attention_rows(s, torch)) rows.push_back(r);

  print_table(fmt::format("sieve bench ops — {} threads", threads), rows);
  if (!csv.empty()) write_csv(out, csv, rows);
  return 0;
}

// ---- bench loader: batches offered vs batches consumed by a simulated training step ----

// Spins (a step that keeps its core busy, as training does) for `seconds`.
void busy_for(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
  }
}

struct LoaderCase {
  int prefetch = 0;
  double step_seconds = 0;   // 0: take batches at once (the loader's offered rate)
  double batches_per_s = 0;  // reached by the consumer
  double stall_seconds = 0;  // in next(), per batch
};

// Runs `batches` batches of epoch 1 (epoch 0's first batches warm caches and the allocator).
void run_loader_case(const Tensor& images, const Tensor& labels, int64_t batches, LoaderCase& c) {
  Loader loader(images, labels, {.batch_size = 128, .seed = 1, .mean = {0.1307f}, .std = {0.3081f},
                                 .crop_padding = 2, .flip = true, .prefetch = c.prefetch});
  loader.start_epoch(0);
  for (int i = 0; i < 5; ++i) loader.next();
  double stall = 0;
  int64_t taken = 0;
  const double total = seconds_of([&] {
    loader.start_epoch(1);
    while (taken < batches) {
      std::optional<Batch> b;
      stall += seconds_of([&] { b = loader.next(); });
      if (!b) break;
      ++taken;
      if (c.step_seconds > 0) busy_for(c.step_seconds);
    }
  });
  c.batches_per_s = static_cast<double>(taken) / total;
  c.stall_seconds = stall / static_cast<double>(std::max<int64_t>(taken, 1));
}

int run_loader(double step_ms, int64_t batches) {
  SIEVE_CHECK(step_ms > 0 && step_ms <= 1000, "bench loader: --step-ms must be in (0, 1000], got {}", step_ms);
  const int threads = current_threads();
  progress(fmt::format("{} threads; 60000×1×28×28 float32, batch 128, crop 2 + flip + normalise; {} batches a case",
                       threads, batches));
  Generator gen(7);
  const Tensor images = rand({60000, 1, 28, 28}, {}, &gen);
  const Tensor labels = randint(0, 10, {60000}, {.dtype = DType::i64}, &gen);
  // The reference: the simulated step alone, batches per second with no loader at all.
  const double step_alone = static_cast<double>(batches) / seconds_of([&] {
    for (int64_t i = 0; i < batches; ++i) busy_for(step_ms * 1e-3);
  });

  std::vector<LoaderCase> cases;
  for (const double step : {0.0, step_ms * 1e-3})
    for (const int prefetch : {0, 2}) {
      LoaderCase c{.prefetch = prefetch, .step_seconds = step};
      progress(fmt::format("{} with prefetch {}", step > 0 ? fmt::format("step {} ms", step_ms) : "offered", prefetch));
      run_loader_case(images, labels, batches, c);
      cases.push_back(c);
    }

  fmt::print("sieve bench loader — {} threads; MNIST-sized data, batch 128, crop 2 + flip + normalise\n", threads);
  fmt::print("ratio = consumer's batches/s ÷ the step's own batches/s (1.00 = training never waits for data)\n");
  fmt::print("{:<24} {:>8} {:>12} {:>22} {:>7} {:>16}\n", "case", "prefetch", "batches/s", "reference (step alone)",
             "ratio", "stall ms/batch");
  for (const LoaderCase& c : cases) {
    const bool step = c.step_seconds > 0;
    const std::string name = step ? fmt::format("step {} ms", step_ms) : "offered (no step)";
    const std::string reference = step ? fmt::format("{:.1f}", step_alone) : "-";
    const std::string ratio = step ? fmt::format("{:.2f}", c.batches_per_s / step_alone) : "-";
    fmt::print("{:<24} {:>8} {:>12.1f} {:>22} {:>7} {:>16.3f}\n", name, c.prefetch, c.batches_per_s, reference, ratio,
               c.stall_seconds * 1e3);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Runner* run) {
  CLI::App* bench = app.add_subcommand("bench", "benchmarks that print sieve's figure, a reference's and their ratio");
  CLI::App* ops = bench->add_subcommand(
      "ops", "matmul vs cblas_sgemm, add/gelu vs memcpy bandwidth, softmax/layer_norm vs PyTorch");
  ops->footer(
      "ratio = how many times faster sieve is than the reference, higher is better:\n"
      "  GFLOP/s and GB/s rows: sieve ÷ reference;  ms rows: reference ÷ sieve.\n"
      "The PyTorch rows run /usr/bin/python3 tools/bench/bench_torch.py (override: SIEVE_PYTHON=path, or\n"
      "SIEVE_PYTHON=none to skip). --threads (a global option) may follow `ops`.");
  auto csv = std::make_shared<std::string>();
  auto quick = std::make_shared<bool>(false);
  ops->add_option("--csv", *csv, "also write rows bench,figure,unit,reference,reference_figure,ratio to FILE");
  ops->add_flag("--quick", *quick, "5 timed repetitions instead of 15, after the same 10 warm-ups (smoke runs)");
  auto device = std::make_shared<std::string>("cpu");
  ops->add_option("--device", *device, "cpu, or cuda: matmul vs cublasSgemm, add/gelu vs a device copy")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  ops->callback([run, csv, quick, device] {
    *run = [csv, quick, device] { return *device == "cuda" ? run_ops_cuda(*csv, *quick) : run_ops(*csv, *quick); };
  });

  CLI::App* loader = bench->add_subcommand(
      "loader", "batches/s the data loader offers, and whether a simulated training step waits for data");
  loader->footer(
      "Cases: prefetch 0 (batches built on demand) and 2 (a background thread), each with no step\n"
      "(the loader's own rate) and with a busy step of --step-ms per batch. ratio = the consumer's\n"
      "batches/s ÷ the step alone (1.00: training never waits); stall = time next() blocked per batch.\n"
      "Data: 60000×1×28×28 random float32 with crop 2, flip and normalise, batch 128.");
  auto step_ms = std::make_shared<double>(2.0);
  auto batches = std::make_shared<int64_t>(400);
  loader->add_option("--step-ms", *step_ms, "simulated training step per batch, in milliseconds (default 2)");
  loader->add_option("--batches", *batches, "batches per case (default 400; an epoch holds 469)")
      ->check(CLI::Range(int64_t{1}, int64_t{469}));
  loader->callback([run, step_ms, batches] { *run = [step_ms, batches] { return run_loader(*step_ms, *batches); }; });

  add_bench_vit_command(bench, run);
  add_bench_clip_command(bench, run);
  add_bench_mamba_command(bench, run);
  add_bench_vmamba_command(bench, run);
  add_bench_vlm_command(bench, run);
  add_bench_ddp_command(bench, run);
}

}  // namespace sieve::tools
