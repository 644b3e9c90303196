// tests/ops/test_matmul.cpp — matmul: values (hand-computed, naive loops, PyTorch goldens) on every
// layout path of the BLAS kernel (plain, transposed, copied, folded batch, looped batch), the fused
// bias (matmul(a, b, bias)) on every one of those paths against matmul + add, its profiler count,
// and the error messages, on every device; no hidden copies of transposed inputs in the CPU's BLAS
// path (its allocation counts), gradients by finite differences (CPU), and cuBLAS's outputs and
// gradients against the CPU's for every layout (parity).
#include <string>

#include "core/allocator.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/profile.h"
#include "ops/reduce.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using test::check_parity;
using test::contains;
using test::error_of;

namespace {

// torch.matmul semantics by plain loops in double: broadcast the batch dims, then i-j-k.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                 Shape(b.shape().begin(), b.shape().end() - 2), "naive_matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  const auto av = a.detach().expand(sa).to_vector<double>();
  const auto bv = b.detach().expand(sb).to_vector<double>();
  std::vector<double> out(static_cast<size_t>(numel_of(so)), 0.0);
  for (int64_t n = 0; n < numel_of(batch); ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += av[(n * M + i) * K + k] * bv[(n * K + k) * N + j];
        out[(n * M + i) * N + j] = acc;
      }
  return from_vector<double>(out, so).to(a.dtype());
}

Tensor randn_f32(const Shape& shape, uint64_t seed, Device device = kCPU) {
  return test::randn_leaf(shape, seed, false, DType::f32, device);
}

// The fused bias against both references: the unfused matmul + add, and naive loops + add.
void check_bias(const Tensor& a, const Tensor& b, const Tensor& bias, double atol = 1e-5, double rtol = 1e-5) {
  Tensor fused = matmul(a, b, bias);
  CHECK_CLOSE(fused, matmul(a, b) + bias, atol, rtol);
  CHECK_CLOSE(fused, naive_matmul(a, b) + bias.to(kCPU).to(a.dtype()), atol, rtol);
}

}  // namespace

TEST_CASE("matmul: 2-D product matches hand-computed values") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (DType dt : {DType::f32, DType::f64}) {
        Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).to(dt).to(dev);
        Tensor b = from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2}).to(dt).to(dev);
        Tensor out = matmul(a, b);
        CHECK(out.dtype() == dt);
        CHECK_CLOSE(out, from_vector<double>({58, 64, 139, 154}, {2, 2}).to(dt), 0.0, 0.0);
      }
    }
  }
}

TEST_CASE("matmul: PyTorch goldens (2-D, batched, broadcast batch, shared a or b, float64)") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto mm = [](test::GoldenInputs& in) { return matmul(in.at("a"), in.at("b")); };
      for (const char* name : {"mm_2d", "batched", "broadcast_both", "shared_b", "shared_a"})
        test::check_golden("matmul", name, mm, 1e-5, 1e-5, dev);
      test::check_golden("matmul", "mm_f64", mm, 1e-12, 1e-12, dev);
    }
  }
}

TEST_CASE("matmul: every layout path of the kernel agrees with naive loops") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      SUBCASE("transposed a, b or both (BLAS transpose flags)") {
        Tensor at = randn_f32({7, 5}, 1, dev).t();  // (5, 7), strides (1, 5)
        Tensor bt = randn_f32({3, 7}, 2, dev).t();  // (7, 3), strides (1, 7)
        Tensor a = randn_f32({5, 7}, 3, dev), b = randn_f32({7, 3}, 4, dev);
        CHECK_CLOSE(matmul(at, b), naive_matmul(at, b));
        CHECK_CLOSE(matmul(a, bt), naive_matmul(a, bt));
        CHECK_CLOSE(matmul(at, bt), naive_matmul(at, bt));
      }
      SUBCASE("a row-major submatrix (leading dimension larger than the width)") {
        Tensor a = randn_f32({6, 10}, 5, dev).narrow(1, 2, 4);  // (6, 4), strides (10, 1)
        Tensor b = randn_f32({9, 4}, 6, dev).narrow(0, 3, 4);   // (4, 4), strides (4, 1)
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b));
        CHECK_CLOSE(matmul(a.t().narrow(0, 1, 3), a), naive_matmul(a.t().narrow(0, 1, 3), a));
      }
      SUBCASE("layouts BLAS cannot read are copied first") {
        Tensor a = randn_f32({4, 12}, 7, dev).slice(1, 0, 12, 2);  // column stride 2
        Tensor b = randn_f32({6, 1}, 8, dev).expand({6, 5});       // column stride 0
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b));
      }
      SUBCASE("single rows and columns") {
        Tensor a = randn_f32({1, 6}, 9, dev), b = randn_f32({6, 1}, 10, dev);
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b));
        CHECK_CLOSE(matmul(b, a), naive_matmul(b, a));
        Tensor row_of_t = randn_f32({6, 4}, 11, dev).t().narrow(0, 2, 1);  // (1, 6), strides (1, 4)
        CHECK_CLOSE(matmul(row_of_t, b), naive_matmul(row_of_t, b));
      }
      SUBCASE("b shared by a contiguous batch: folded into one product") {
        Tensor a = randn_f32({3, 5, 8}, 12, dev), b = randn_f32({8, 4}, 13, dev);
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b));
        Tensor b1 = randn_f32({1, 8, 4}, 14, dev);  // batch dim of size 1 broadcasts too
        CHECK_CLOSE(matmul(a, b1), naive_matmul(a, b1));
        Tensor bt = randn_f32({4, 8}, 15, dev).t();
        CHECK_CLOSE(matmul(a, bt), naive_matmul(a, bt));
      }
      SUBCASE("b shared, but a's batch does not collapse: looped") {
        Tensor a = randn_f32({3, 9, 8}, 16, dev).narrow(1, 2, 5);  // batch stride 72, rows 5 of 9
        Tensor at = randn_f32({3, 8, 5}, 17, dev).transpose(1, 2);
        Tensor b = randn_f32({8, 4}, 18, dev);
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b));
        CHECK_CLOSE(matmul(at, b), naive_matmul(at, b));
      }
      SUBCASE("broadcast batch dims on both sides, many small products (parallel over the batch)") {
        Tensor a = randn_f32({4, 1, 3, 6, 5}, 19, dev), b = randn_f32({7, 1, 5, 2}, 20, dev);
        Tensor out = matmul(a, b);
        CHECK(out.shape() == Shape{4, 7, 3, 6, 2});
        CHECK_CLOSE(out, naive_matmul(a, b));
        Tensor bt = randn_f32({7, 1, 2, 5}, 21, dev).transpose(-1, -2);
        CHECK_CLOSE(matmul(a, bt), naive_matmul(a, bt));
      }
      SUBCASE("a few large products (each cut by split_gemm in turn)") {
        Tensor a = randn_f32({2, 150, 140}, 22, dev), b = randn_f32({2, 140, 130}, 23, dev);
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b), 1e-4, 1e-4);
      }
      SUBCASE("long products the kernel cuts across threads itself (row blocks; K slices summed)") {
        // The shapes of a ViT Linear at batch 128 and of its weight gradient; with 2+ threads (the
        // suite runs with OMP_NUM_THREADS=2) the first goes in blocks of rows, the second in slices of
        // K whose partial products are added, plain, transposed and narrowed.
        Tensor x = randn_f32({1100, 64}, 40, dev), w = randn_f32({192, 64}, 41, dev);
        CHECK_CLOSE(matmul(x, w.t()), naive_matmul(x, w.t()), 1e-4, 1e-4);
        CHECK_CLOSE(matmul(x.narrow(0, 3, 1031), w.t()), naive_matmul(x.narrow(0, 3, 1031), w.t()), 1e-4, 1e-4);
        Tensor a = randn_f32({4300, 64}, 42, dev), g = randn_f32({4300, 96}, 43, dev);
        CHECK_CLOSE(matmul(a.t(), g), naive_matmul(a.t(), g), 1e-3, 1e-4);                  // (64, 4300)·(4300, 96)
        CHECK_CLOSE(matmul(a.t().narrow(0, 5, 40), g), naive_matmul(a.t().narrow(0, 5, 40), g), 1e-3, 1e-4);
        Tensor at = randn_f32({64, 4300}, 44, dev), gt = randn_f32({96, 4300}, 45, dev);
        CHECK_CLOSE(matmul(at, gt.t()), naive_matmul(at, gt.t()), 1e-3, 1e-4);
      }
      SUBCASE("float64") {
        Tensor a = test::randn_leaf({2, 4, 3}, 24, false, DType::f64, dev),
               b = test::randn_leaf({3, 5}, 25, false, DType::f64, dev);
        CHECK_CLOSE(matmul(a, b), naive_matmul(a, b), 1e-12, 1e-12);
      }
      SUBCASE("empty dims") {
        Tensor out = matmul(randn_f32({3, 0}, 26, dev), randn_f32({0, 4}, 27, dev));  // K = 0: an empty sum
        CHECK_CLOSE(out, zeros({3, 4}), 0.0, 0.0);
        CHECK(matmul(randn_f32({0, 3}, 28, dev), randn_f32({3, 4}, 29, dev)).shape() == Shape{0, 4});
        CHECK(matmul(randn_f32({2, 0, 3}, 30, dev), randn_f32({3, 4}, 31, dev)).shape() == Shape{2, 0, 4});
      }
    }
  }
}

TEST_CASE("matmul: a fused bias equals matmul + add on every layout path") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      SUBCASE("hand-computed 2-D, float32 and float64") {
        for (DType dt : {DType::f32, DType::f64}) {
          Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).to(dt).to(dev);
          Tensor b = from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2}).to(dt).to(dev);
          Tensor bias = from_vector<double>({0.5, -1}, {2}).to(dt).to(dev);
          CHECK_CLOSE(matmul(a, b, bias), from_vector<double>({58.5, 63, 139.5, 153}, {2, 2}).to(dt), 0.0, 0.0);
        }
      }
      SUBCASE("2-D, plain and transposed operands") {
        Tensor a = randn_f32({5, 7}, 50, dev), b = randn_f32({7, 3}, 51, dev), bias = randn_f32({3}, 52, dev);
        check_bias(a, b, bias);
        check_bias(randn_f32({7, 5}, 53, dev).t(), randn_f32({3, 7}, 54, dev).t(), bias);  // both transposed views
      }
      SUBCASE("batched (B, T, K)·(K, N) with a shared weight: folded into one product") {
        Tensor x = randn_f32({3, 6, 8}, 55, dev), w = randn_f32({4, 8}, 56, dev), bias = randn_f32({4}, 57, dev);
        check_bias(x, w.t(), bias);  // a Linear: x·Wᵀ + b, Wᵀ a transposed view
        check_bias(x, randn_f32({8, 4}, 58, dev), bias);
      }
      SUBCASE("batched products that loop (per-batch b, broadcast batch, a's batch not collapsible)") {
        check_bias(randn_f32({2, 3, 4}, 59, dev), randn_f32({2, 4, 5}, 60, dev), randn_f32({5}, 61, dev));
        check_bias(randn_f32({4, 1, 3, 6, 5}, 62, dev), randn_f32({7, 1, 5, 2}, 63, dev), randn_f32({2}, 64, dev));
        check_bias(randn_f32({3, 9, 8}, 65, dev).narrow(1, 2, 5), randn_f32({8, 4}, 66, dev), randn_f32({4}, 67, dev));
        check_bias(randn_f32({2, 150, 140}, 68, dev), randn_f32({2, 140, 130}, 69, dev), randn_f32({130}, 70, dev),
                   1e-4, 1e-4);
      }
      SUBCASE("bias views: a narrowed slice (qkv's per-part bias) and a strided one (copied)") {
        Tensor x = randn_f32({2, 5, 8}, 71, dev), w = randn_f32({12, 8}, 72, dev), all = randn_f32({12}, 73, dev);
        check_bias(x, w.narrow(0, 4, 4).t(), all.narrow(0, 4, 4));
        check_bias(x, w.narrow(0, 0, 6).t(), all.slice(0, 0, 12, 2));  // stride 2
      }
      SUBCASE("long products the kernel cuts itself: row blocks, K slices") {
        // As the split test above: with 2+ threads the first two go in row blocks (the bias filled per
        // block), the others in K slices (the bias added with the partial sums).
        Tensor x = randn_f32({1100, 64}, 74, dev), w = randn_f32({192, 64}, 75, dev), bias = randn_f32({192}, 76, dev);
        check_bias(x, w.t(), bias, 1e-4, 1e-4);
        check_bias(x.narrow(0, 3, 1031), w.t(), bias, 1e-4, 1e-4);
        check_bias(randn_f32({128, 50, 64}, 77, dev), w.t(), bias, 1e-4, 1e-4);  // the ViT's qkv at batch 128
        Tensor a = randn_f32({4300, 64}, 78, dev), g = randn_f32({4300, 96}, 79, dev),
               bias_k = randn_f32({96}, 80, dev);
        check_bias(a.t(), g, bias_k, 1e-3, 1e-4);  // (64, 4300)·(4300, 96)
        check_bias(a.t().narrow(0, 5, 40), g, bias_k, 1e-3, 1e-4);
        check_bias(randn_f32({64, 4300}, 81, dev), randn_f32({96, 4300}, 82, dev).t(), bias_k, 1e-3, 1e-4);
      }
      SUBCASE("few rows and many columns (column blocks, the bias cut with them)") {
        check_bias(randn_f32({300, 40}, 83, dev), randn_f32({40, 1100}, 84, dev), randn_f32({1100}, 85, dev), 1e-4,
                   1e-4);
        // 130 columns: blocks of whole 16-column vectors, the last one short
        check_bias(randn_f32({200, 100}, 89, dev), randn_f32({100, 130}, 90, dev), randn_f32({130}, 91, dev), 1e-4,
                   1e-4);
      }
      SUBCASE("float64") {
        Tensor a = test::randn_leaf({2, 4, 3}, 86, false, DType::f64, dev),
               b = test::randn_leaf({3, 5}, 87, false, DType::f64, dev);
        Tensor bias = test::randn_leaf({5}, 88, false, DType::f64, dev);
        check_bias(a, b, bias, 1e-12, 1e-12);
        check_bias(test::randn_leaf({1100, 64}, 89, false, DType::f64, dev),
                   test::randn_leaf({64, 96}, 90, false, DType::f64, dev),
                   test::randn_leaf({96}, 91, false, DType::f64, dev), 1e-12, 1e-12);
      }
      SUBCASE("empty dims: K = 0 gives the bias alone") {
        Tensor bias = randn_f32({4}, 92, dev);
        CHECK_CLOSE(matmul(randn_f32({3, 0}, 93, dev), randn_f32({0, 4}, 94, dev), bias), bias.expand({3, 4}), 0.0,
                    0.0);
        CHECK(matmul(randn_f32({0, 3}, 95, dev), randn_f32({3, 4}, 96, dev), bias).shape() == Shape{0, 4});
      }
    }
  }
}

TEST_CASE("matmul: with a bias, one kernel of 2·M·N·K + M·N FLOPs that also reads the bias") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      const Tensor a = randn_f32({4, 5, 3}, 100, dev), w = randn_f32({7, 3}, 101, dev), bias = randn_f32({7}, 102, dev);
      profile::Profiler profiler;
      matmul(a, w.t(), bias);
      REQUIRE(profiler.entries().size() == 1);  // no separate add
      const profile::Entry& e = profiler.entries()[0];
      CHECK(e.op == Op::matmul);
      CHECK(e.flops == 2 * 20 * 7 * 3 + 20 * 7);
      CHECK(e.bytes == (20 * 3 + 7 * 3 + 7 + 20 * 7) * 4);
    }
  }
}

TEST_CASE("cpu kernel: matmul's BLAS path costs no extra allocation for a bias or a transposed input") {
  {  // the bias costs neither a copy nor a second output
    Tensor x = randn_f32({4, 64, 32}, 97), w = randn_f32({16, 32}, 98), bias = randn_f32({16}, 99);
    const int64_t before = memory_stats(kCPU).allocations;
    Tensor out = matmul(x, w.t(), bias);
    CHECK(memory_stats(kCPU).allocations - before == 1);
  }
  // A transposed input reaches BLAS without a copy.
  Tensor a = randn_f32({64, 32}, 40), b = randn_f32({64, 16}, 41);
  Tensor ab = randn_f32({4, 64, 32}, 42);
  const int64_t before = memory_stats(kCPU).allocations;
  Tensor out = matmul(a.t(), b);  // (32, 64)·(64, 16)
  CHECK(memory_stats(kCPU).allocations - before == 1);  // the output only
  const int64_t before_batched = memory_stats(kCPU).allocations;
  Tensor out2 = matmul(ab.transpose(1, 2), b.narrow(1, 0, 8));  // (4, 32, 64)·(64, 8)
  CHECK(memory_stats(kCPU).allocations - before_batched == 1);
  CHECK_CLOSE(out, naive_matmul(a.t(), b), 1e-4, 1e-4);
  CHECK_CLOSE(out2, naive_matmul(ab.transpose(1, 2), b.narrow(1, 0, 8)), 1e-4, 1e-4);
  // A layout BLAS cannot read costs exactly one extra allocation: the contiguous copy.
  const int64_t before_copy = memory_stats(kCPU).allocations;
  Tensor out3 = matmul(a.slice(1, 0, 32, 2), b.narrow(0, 0, 16));  // (64, 16) with column stride 2
  CHECK(memory_stats(kCPU).allocations - before_copy == 2);
}

TEST_CASE("cpu kernel: matmul's backward multiplies by transposed views, not copies") {
  // Each input's gradient costs one product output (plus the engine's accumulation into .grad,
  // one tensor per leaf); a copied transpose would add allocations.
  for (const auto& [sa, sb] : {std::pair<Shape, Shape>{{6, 5}, {5, 4}}, std::pair<Shape, Shape>{{3, 6, 5}, {5, 4}}}) {
    Tensor a = test::randn_leaf(sa, 1, true, DType::f32), b = test::randn_leaf(sb, 2, true, DType::f32);
    Tensor out = matmul(a, b);
    Tensor g = test::randn_leaf(out.shape(), 3, false, DType::f32);
    const int64_t before = memory_stats(kCPU).allocations;
    out.backward(g);
    CHECK(memory_stats(kCPU).allocations - before <= 4);
    CHECK_CLOSE(a.grad(), naive_matmul(g, b.t()), 1e-5, 1e-5);
    Tensor a2 = a.detach().reshape({-1, 5}), g2 = g.reshape({-1, 4});
    CHECK_CLOSE(b.grad(), naive_matmul(a2.t(), g2), 1e-5, 1e-5);
  }
}

TEST_CASE("gradcheck: matmul gradients by finite differences (float64), and two by hand") {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  SUBCASE("2-D") { CHECK_GRADCHECK(mm, {test::randn_leaf({3, 4}, 1), test::randn_leaf({4, 5}, 2)}); }
  SUBCASE("transposed leaves") {
    CHECK_GRADCHECK(mm, {test::randn_leaf_transposed({3, 4}, 3), test::randn_leaf_transposed({4, 2}, 4)});
    CHECK_GRADCHECK(mm, {test::randn_leaf_transposed({2, 3, 4}, 5), test::randn_leaf({4, 2}, 6)});
  }
  SUBCASE("sliced leaves") {
    Tensor a = test::randn_leaf({3, 8}, 7, false).slice(1, 1, 8, 2).detach().requires_grad_();  // (3, 4) stride 2
    Tensor b = test::randn_leaf({6, 5}, 8, false).narrow(0, 1, 4).detach().requires_grad_();
    CHECK_GRADCHECK(mm, {a, b});
  }
  SUBCASE("batched") { CHECK_GRADCHECK(mm, {test::randn_leaf({2, 3, 4}, 9), test::randn_leaf({2, 4, 2}, 10)}); }
  SUBCASE("broadcast batch on both sides") {
    CHECK_GRADCHECK(mm, {test::randn_leaf({2, 1, 3, 4}, 11), test::randn_leaf({3, 4, 2}, 12)});
  }
  SUBCASE("b shared by the batch (the folded backward)") {
    CHECK_GRADCHECK(mm, {test::randn_leaf({2, 3, 4}, 13), test::randn_leaf({4, 5}, 14)});
    CHECK_GRADCHECK(mm, {test::randn_leaf({2, 3, 4}, 15), test::randn_leaf({1, 4, 5}, 16)});
    // a's batch does not collapse: the backward reshape copies, the result must not change
    Tensor a = test::randn_leaf({2, 5, 4}, 17, false).narrow(1, 1, 3).detach().requires_grad_();
    CHECK_GRADCHECK(mm, {a, test::randn_leaf({4, 2}, 18)});
  }
  SUBCASE("a shared by the batch") {
    CHECK_GRADCHECK(mm, {test::randn_leaf({3, 4}, 19), test::randn_leaf({2, 4, 5}, 20)});
  }
  SUBCASE("an expanded upstream gradient (stride 0, as sum() sends it)") {
    Tensor a = test::randn_leaf({3, 4}, 25), b = test::randn_leaf({4, 5}, 26);
    matmul(a, b).backward(ones({1, 1}, {.dtype = DType::f64}).expand({3, 5}));
    CHECK_CLOSE(a.grad(), naive_matmul(ones({3, 5}, {.dtype = DType::f64}), b.t()), 1e-12, 1e-12);
    CHECK_CLOSE(b.grad(), naive_matmul(a.t(), ones({3, 5}, {.dtype = DType::f64})), 1e-12, 1e-12);
  }
  SUBCASE("with a bias: 2-D, batched (shared weight), transposed, broadcast, narrowed bias") {
    auto mmb = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1], in[2]); };
    CHECK_GRADCHECK(mmb, {test::randn_leaf({3, 4}, 30), test::randn_leaf({4, 5}, 31), test::randn_leaf({5}, 32)});
    CHECK_GRADCHECK(mmb, {test::randn_leaf({2, 3, 4}, 33), test::randn_leaf_transposed({4, 5}, 34),
                          test::randn_leaf({5}, 35)});
    CHECK_GRADCHECK(mmb, {test::randn_leaf({2, 1, 3, 4}, 36), test::randn_leaf({3, 4, 2}, 37),
                          test::randn_leaf({2}, 38)});
    // The bias a narrowed view of a larger parameter, as MultiHeadAttention's q, k and v parts.
    auto part = [](const std::vector<Tensor>& in) {
      return matmul(in[0], in[1].narrow(0, 2, 3).t(), in[2].narrow(0, 2, 3));
    };
    CHECK_GRADCHECK(part, {test::randn_leaf({2, 3, 4}, 39), test::randn_leaf({7, 4}, 40), test::randn_leaf({7}, 41)});
    // Only the bias, or everything but the bias, requires grad.
    CHECK_GRADCHECK(mmb, {test::randn_leaf({2, 3, 4}, 42, false), test::randn_leaf({4, 5}, 43, false),
                          test::randn_leaf({5}, 44)});
    CHECK_GRADCHECK(mmb, {test::randn_leaf({2, 3, 4}, 45), test::randn_leaf({4, 5}, 46),
                          test::randn_leaf({5}, 47, false)});
  }
  SUBCASE("the bias gradient is g summed over every dim but the last") {
    Tensor a = test::randn_leaf({2, 3, 4}, 48, false), b = test::randn_leaf({4, 5}, 49, false);
    Tensor bias = test::randn_leaf({5}, 50);
    Tensor g = test::randn_leaf({2, 3, 5}, 51, false);
    matmul(a, b, bias).backward(g);
    CHECK_CLOSE(bias.grad(), sum(g, {0, 1}), 1e-12, 1e-12);
  }
  SUBCASE("only one input requires grad") {
    CHECK_GRADCHECK(mm, {test::randn_leaf({3, 4}, 21), test::randn_leaf({4, 2}, 22, false)});
    CHECK_GRADCHECK(mm, {test::randn_leaf({3, 4}, 23, false), test::randn_leaf({2, 4, 2}, 24)});
  }
}

TEST_CASE("matmul: errors name the op, the shapes and the dtypes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      Tensor a = z({2, 3}), b = z({4, 5});
      std::string msg = error_of([&] { matmul(a, b); });
      CHECK(msg.find("matmul") != std::string::npos);
      CHECK(msg.find("(2, 3)") != std::string::npos);
      CHECK(msg.find("(4, 5)") != std::string::npos);

      msg = error_of([&] { matmul(z({2, 2, 3}), z({3, 3, 4})); });
      CHECK(msg.find("(2, 2, 3)") != std::string::npos);
      CHECK(msg.find("(3, 3, 4)") != std::string::npos);

      msg = error_of([&] { matmul(z({2, 3}), z({3, 4}, DType::f64)); });
      CHECK(msg.find("float32") != std::string::npos);
      CHECK(msg.find("float64") != std::string::npos);

      msg = error_of([&] { matmul(z({2, 3}, DType::i64), z({3, 4}, DType::i64)); });
      CHECK(msg.find("matmul") != std::string::npos);
      CHECK(msg.find("int64") != std::string::npos);

      msg = error_of([&] { matmul(z({3}), z({3, 4})); });
      CHECK(msg.find("matmul") != std::string::npos);
      CHECK(msg.find("(3,)") != std::string::npos);

      CHECK(error_of([&] { matmul(Tensor(), b); }).find("undefined") != std::string::npos);
    }
  }
}

TEST_CASE("matmul: a bias of the wrong shape or dtype is an error naming the op and the shapes") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      auto z = [dev](const Shape& shape, DType dt = DType::f32) { return zeros(shape, {.dtype = dt, .device = dev}); };
      Tensor a = z({2, 3}), b = z({3, 5});
      std::string msg = error_of([&] { matmul(a, b, z({4})); });
      CHECK(contains(msg, "matmul"));
      CHECK(contains(msg, "(4,)"));
      CHECK(contains(msg, "(2, 3)"));
      CHECK(contains(msg, "(3, 5)"));
      CHECK(contains(msg, "(5,)"));
      msg = error_of([&] { matmul(a, b, z({1, 5})); });  // 2-D: not broadcast, rejected
      CHECK(contains(msg, "matmul"));
      CHECK(contains(msg, "(1, 5)"));
      msg = error_of([&] { matmul(z({4, 2, 3}), b, z({2, 5})); });
      CHECK(contains(msg, "(2, 5)"));
      CHECK(contains(msg, "(4, 2, 3)"));
      msg = error_of([&] { matmul(a, b, z({5}, DType::f64)); });
      CHECK(contains(msg, "matmul"));
      CHECK(contains(msg, "float32"));
      CHECK(contains(msg, "float64"));
      CHECK(contains(error_of([&] { matmul(a, b, z({}, DType::f32)); }), "matmul"));
    }
  }
}

TEST_CASE("parity: matmul layouts, batches and bias, cuBLAS against the CPU") {
  if (!test::gpu_or_skip()) return;
  using test::leaf;
  struct Case {
    const char* what;
    Shape a, b;
    bool ta, tb, bias;
  };
  const std::vector<Case> cases = {
      {"2-D", {7, 5}, {5, 3}, false, false, false},
      {"2-D with bias", {7, 5}, {5, 3}, false, false, true},
      {"a transposed", {5, 7}, {5, 3}, true, false, false},
      {"b transposed", {7, 5}, {3, 5}, false, true, true},
      {"both transposed", {5, 7}, {3, 5}, true, true, false},
      {"batched", {2, 4, 7, 5}, {2, 4, 5, 3}, false, false, false},
      {"batch folded (Linear)", {2, 4, 7, 5}, {5, 3}, false, false, true},
      {"b batched, a shared", {7, 5}, {3, 5, 4}, false, false, false},
      {"broadcast batch", {2, 1, 7, 5}, {3, 5, 4}, false, false, false},
      {"batched, transposed views", {3, 5, 7}, {3, 4, 5}, true, true, true},
      {"vector · matrix", {1, 5}, {5, 6}, false, false, false},
  };
  for (DType dtype : test::kFloatTypes)
    for (const Case& c : cases) {
      const Tensor a = leaf(c.a, 50, dtype), b = leaf(c.b, 51, dtype);
      const int64_t N = c.tb ? c.b[c.b.size() - 2] : c.b.back();
      std::vector<Tensor> inputs{a, b};
      if (c.bias) inputs.push_back(leaf({N}, 52, dtype));
      check_parity(fmt::format("{} {}", c.what, dtype_name(dtype)), [c](const std::vector<Tensor>& in) {
        const Tensor x = c.ta ? in[0].transpose(-1, -2) : in[0];
        const Tensor y = c.tb ? in[1].transpose(-1, -2) : in[1];
        return matmul(x, y, c.bias ? in[2] : Tensor());
      }, inputs);
    }
  // A layout cuBLAS cannot read (a step slice of the columns) is copied first.
  check_parity("strided columns", [](const std::vector<Tensor>& in) {
    return matmul(in[0].slice(1, 0, 10, 2), in[1]);
  }, {leaf({6, 10}, 53, DType::f64), leaf({5, 4}, 54, DType::f64)});
  // K = 0: the bias alone.
  check_parity("empty sum with bias", [](const std::vector<Tensor>& in) {
    return matmul(in[0], in[1], in[2]);
  }, {leaf({3, 0}, 55, DType::f64, false), leaf({0, 4}, 56, DType::f64, false), leaf({4}, 57, DType::f64, false)},
     false);
}
