// tests/core/test_tensor.cpp — Tensor metadata, creation, views, copies, memory counters, printing.
#include <cstdint>

#include "cuda/backend.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("creation functions fill shape, dtype and values") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.device() == kCPU);
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(ones({4}, {.dtype = DType::f64}).to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(full({2}, 7, {.dtype = DType::i64}).to_vector<int64_t>() == std::vector<int64_t>{7, 7});
  CHECK(arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, {.dtype = DType::f64}).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(arange(5, 0, -2, {.dtype = DType::i64}).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  CHECK(scalar(3.5).ndim() == 0);
  CHECK(scalar(3.5).item() == 3.5);
  Tensor v = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.dtype() == DType::i64);
  CHECK(v.size(-1) == 2);
  CHECK(v.numel() == 6);
  CHECK_THROWS_WITH_AS(from_vector<float>({1, 2, 3}, {2, 2}), doctest::Contains("3 values do not fill shape (2, 2)"),
                       Error);
  CHECK_THROWS_AS(zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), Error);  // 9 dims > kMaxDims
  CHECK_THROWS_AS(zeros({-1}), Error);
  CHECK_THROWS_WITH_AS(zeros({0, int64_t{1} << 31, int64_t{1} << 31}), doctest::Contains("too large"), Error);
  CHECK(zeros({0, 5}).numel() == 0);
}

TEST_CASE("a CUDA request without a usable CUDA backend is a clear error") {
  // A build without CUDA says so; a CUDA build on a machine without a GPU names the reason.
#ifdef SIEVE_CUDA
  const char* expected = "no GPU is usable";
#else
  const char* expected = "built without CUDA";
#endif
  if (!cuda::available()) {
    CHECK_THROWS_WITH_AS(zeros({2}, {.device = kCUDA}), doctest::Contains(expected), Error);
    CHECK_THROWS_WITH_AS(ones({2}).to(kCUDA), doctest::Contains(expected), Error);
  }
  CHECK(Device::parse("cpu") == kCPU);
  CHECK(Device::parse("cuda:1").index == 1);
  CHECK_THROWS_WITH_AS(Device::parse("tpu"), doctest::Contains("unknown device 'tpu'"), Error);
}

TEST_CASE("views share storage and only change shape, strides and offset") {
  Tensor x = arange(0, 24).reshape({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(p.raw_data() == x.raw_data());
  CHECK_FALSE(p.is_contiguous());
  CHECK(p.contiguous().is_contiguous());
  CHECK(p.contiguous().to_vector<float>()[1] == 4.0f);  // p[0][0][1] = x[0][1][0]

  Tensor n = x.narrow(2, 1, 2);  // (2, 3, 2) starting at element 1
  CHECK(n.offset() == 1);
  CHECK(n.to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  Tensor s = x.slice(2, 0, 4, 2);
  CHECK(s.strides() == Shape{12, 4, 2});
  CHECK(s.to_vector<float>()[1] == 2.0f);
  CHECK(x.select(1, -1).shape() == Shape{2, 4});
  CHECK(x.select(1, -1).to_vector<float>()[0] == 8.0f);

  Tensor row = arange(0, 3).reshape({1, 3});
  Tensor e = row.expand({4, 3});
  CHECK(e.strides() == Shape{0, 1});
  CHECK(e.to_vector<float>() == std::vector<float>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  CHECK(row.unsqueeze(0).shape() == Shape{1, 1, 3});
  CHECK(row.squeeze(0).shape() == Shape{3});
  CHECK(row.squeeze(1).shape() == Shape{1, 3});  // not size 1: unchanged, as PyTorch
  CHECK(x.flatten(1).shape() == Shape{2, 12});
  CHECK(x.view({-1, 4}).shape() == Shape{6, 4});
  CHECK(x.t().shape() == Shape{2, 4, 3});
}

TEST_CASE("view refuses layouts that need a copy; reshape copies only then") {
  Tensor x = arange(0, 12).reshape({3, 4});
  Tensor xt = x.t();  // (4, 3), strides (1, 4)
  CHECK_THROWS_WITH_AS(xt.view({12}), doctest::Contains("without a copy"), Error);
  Tensor r = xt.reshape({12});
  CHECK(r.raw_data() != x.raw_data());
  CHECK(r.to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  // Splitting a dim of a transposed view is still a view.
  Tensor split = xt.view({2, 2, 3});
  CHECK(split.raw_data() == x.raw_data());
  CHECK(split.strides() == Shape{2, 1, 4});
  CHECK_THROWS_WITH_AS(x.view({5, -1}), doctest::Contains("invalid for 12 elements"), Error);
  CHECK_THROWS_AS(x.view({-1, -1}), Error);
  CHECK_THROWS_WITH_AS(x.narrow(1, 3, 2), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(x.permute({0, 0}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_WITH_AS(x.expand({3, 5}), doctest::Contains("cannot expand"), Error);
  CHECK_THROWS_WITH_AS(x.select(0, 3), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(x.transpose(0, 2), doctest::Contains("dim 2 out of range"), Error);
}

TEST_CASE("make_view cannot reach outside its storage") {
  Tensor x = zeros({4});
  CHECK_THROWS_WITH_AS(make_view(x, {4}, {1}, 1), doctest::Contains("exceeds storage"), Error);
  CHECK_THROWS_AS(make_view(x, {2}, {-3}, 1), Error);
  CHECK(make_view(x, {2}, {-3}, 3).to_vector<float>().size() == 2);
}

TEST_CASE("copies convert dtypes and layouts") {
  Tensor x = from_vector<double>({1.5, -2.25, 3.0, 4.75}, {2, 2});
  CHECK(x.to(DType::f32).to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f, 4.75f});
  CHECK(x.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3, 4});
  CHECK(x.t().contiguous().to_vector<double>() == std::vector<double>{1.5, 3.0, -2.25, 4.75});
  Tensor c = x.clone();
  CHECK(c.raw_data() != x.raw_data());
  Tensor dst = zeros({2, 2}, {.dtype = DType::f64});
  copy_(dst.t(), x);  // writes through a transposed view
  CHECK(dst.to_vector<double>() == std::vector<double>{1.5, 3.0, -2.25, 4.75});
  copy_(dst, from_vector<double>({9, 8}, {2}));  // broadcasts the source
  CHECK(dst.to_vector<double>() == std::vector<double>{9, 8, 9, 8});
  fill_(dst.narrow(0, 1, 1), -1);
  CHECK(dst.to_vector<double>() == std::vector<double>{9, 8, -1, -1});
  CHECK_THROWS_AS(copy_(dst, zeros({3}, {.dtype = DType::f64})), Error);
  Tensor leaf = zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(fill_(leaf, 1), doctest::Contains("in-place write"), Error);
}

TEST_CASE("memory counters track live and peak bytes; storage is 64-byte aligned") {
  const MemoryStats before = memory_stats(kCPU);
  {
    Tensor a = empty({1000});  // 4000 bytes
    CHECK(reinterpret_cast<uintptr_t>(a.raw_data()) % 64 == 0);
    CHECK(memory_stats(kCPU).live_bytes == before.live_bytes + 4000);
    CHECK(memory_stats(kCPU).allocations == before.allocations + 1);
    Tensor view = a.narrow(0, 10, 10);  // a view allocates nothing
    CHECK(memory_stats(kCPU).allocations == before.allocations + 1);
    reset_peak_memory(kCPU);
    { Tensor b = empty({250}, {.dtype = DType::f64}); }  // 2000 bytes, then freed
    CHECK(memory_stats(kCPU).peak_bytes == before.live_bytes + 6000);
  }
  CHECK(memory_stats(kCPU).live_bytes == before.live_bytes);
}

TEST_CASE("printing looks like PyTorch, with elision for large tensors") {
  Tensor x = from_vector<float>({0.1f, -1.2f, 3.0f, 4.5f}, {2, 2});
  CHECK(to_string(x) ==
        "tensor([[ 0.1000, -1.2000],\n"
        "        [ 3.0000,  4.5000]], shape=(2, 2), dtype=float32, device=cpu)");
  CHECK(to_string(from_vector<int64_t>({3, 10}, {2})) == "tensor([ 3, 10], shape=(2,), dtype=int64, device=cpu)");
  const std::string big = to_string(arange(0, 5000));
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.find("4999.0000") != std::string::npos);
  CHECK(big.find("2500.0000") == std::string::npos);
  CHECK(to_string(zeros({0, 3})).find("tensor([]") == 0);
  CHECK(to_string(Tensor()) == "tensor(undefined)");
}

TEST_CASE("large freed blocks are cached and reused; empty_cache returns them") {
  empty_cache(kCPU);
  void* first = nullptr;
  {
    Tensor big = empty({1 << 20});  // 4 MiB
    first = big.raw_data();
  }
  CHECK(memory_stats(kCPU).cached_bytes == 4 << 20);
  {
    Tensor again = empty({1 << 20});
    CHECK(again.raw_data() == first);  // the same block, no new pages to fault in
    CHECK(memory_stats(kCPU).cached_bytes == 0);
  }
  empty_cache(kCPU);
  CHECK(memory_stats(kCPU).cached_bytes == 0);
}

TEST_CASE("a full block cache returns the blocks freed longest ago, and keeps the new sizes") {
  constexpr int64_t MiB = 1 << 20, page = 4096;
  const size_t before = set_cpu_cache_limit(12 * MiB);
  empty_cache(kCPU);
  void *b = nullptr, *c = nullptr;
  {  // float32 blocks freed in the order a, b, c: 4 MiB, 4 MiB + a page, 4 MiB + 2 pages
    Tensor ta = empty({MiB});
    Tensor tb = empty({MiB + page / 4});
    Tensor tc = empty({MiB + 2 * page / 4});
    b = tb.raw_data(), c = tc.raw_data();
    ta = Tensor();
    tb = Tensor();
    CHECK(memory_stats(kCPU).cached_bytes == 8 * MiB + page);
  }  // c's block does not fit beside a's and b's: a's goes back to the system
  CHECK(memory_stats(kCPU).cached_bytes == 8 * MiB + 3 * page);
  {
    Tensor tc = empty({MiB + 2 * page / 4}), tb = empty({MiB + page / 4});
    CHECK(tc.raw_data() == c);  // the newest size was kept
    CHECK(tb.raw_data() == b);
    CHECK(memory_stats(kCPU).cached_bytes == 0);
    Tensor ta = empty({MiB});  // a's size comes from the system now (the cache has nothing)
    CHECK(memory_stats(kCPU).cached_bytes == 0);
  }
  set_cpu_cache_limit(MiB);  // lower than what is cached: emptied
  CHECK(memory_stats(kCPU).cached_bytes == 0);
  CHECK(set_cpu_cache_limit(before) == static_cast<size_t>(MiB));
}
