// tests/cuda/test_cuda_index.cpp — the index family's CUDA kernels (cuda/index.cu) against the
// CPU reference: embedding, index_select, gather, scatter_add, topk, argsort, forward and
// backward, float32 and float64 (and int64 where the op allows it), and the device-side check
// of out-of-range indices.
//
// Inputs reach every kernel path: contiguous and strided (transposed, step-sliced, broadcast)
// operands; sizes off the block and warp sizes; scatter_add both walking rows (many or short
// rows) and sorting by destination (few long rows); row sorts both in shared memory (rows up to
// 4096) and by the global radix sort (longer rows); ties, NaN and ±0 for the sort order.
// The scatter-like kernels add in the CPU's order, so their results are compared bit for bit.
//
// Extend: a new index kernel adds its check_parity cases here, one per path it has.
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "ops/index.h"
#include "tests/parity.h"
#include "tests/helpers.h"

#ifdef SIEVE_CUDA
#include "cuda/kernels.h"
#endif

namespace sieve {

using test::check_parity;
using test::gpu_or_skip;
using test::kFloatTypes;
using test::leaf;

namespace {

// Uniform ids in [0, size) of `shape`, from their own seed (int64, on the CPU).
Tensor ids(int64_t size, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randint(0, size, shape, {.dtype = DType::i64}, &gen);
}

// t on like's device. Strided index views are taken after the move (to() makes a contiguous copy).
Tensor on(const Tensor& t, const Tensor& like) { return t.to(like.device()); }

// Values with many ties, some NaNs and both zeros: floor(2·N(0,1)) with every 7th a NaN and
// every 5th a -0.0 — the cases where the sort order must match the CPU's exactly.
Tensor tied_values(const Shape& shape, uint64_t seed, DType dtype) {
  std::vector<double> v = test::randn_leaf(shape, seed, false).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = std::floor(2.0 * v[i]);
    if (i % 7 == 3) v[i] = std::numeric_limits<double>::quiet_NaN();
    if (i % 5 == 1) v[i] = -0.0;
  }
  return from_vector<double>(v, shape).to(dtype);
}

// topk's values (through check_parity, with their gradient) and its indices, which must equal
// the CPU's exactly: ties and NaNs are ordered the same way on both devices. transpose: x is
// read through .t() on each device (a strided row).
void check_topk(const std::string& what, const Tensor& x, int64_t k, int dim, bool largest, bool backward = true,
                bool transpose = false) {
  auto view = [transpose](const Tensor& t) { return transpose ? t.t() : t; };
  check_parity(what, [&](const std::vector<Tensor>& in) { return topk(view(in[0]), k, dim, largest).first; }, {x},
               backward, 0, 0);
  const Tensor cpu = topk(view(x.detach()), k, dim, largest).second;
  const Tensor gpu = topk(view(x.detach().to(kCUDA)), k, dim, largest).second;
  INFO(what << ": indices");
  REQUIRE(gpu.device().is_cuda());
  CHECK(gpu.to_vector<int64_t>() == cpu.to_vector<int64_t>());
}

void check_argsort(const std::string& what, const Tensor& x, int dim, bool descending, bool transpose = false) {
  auto view = [transpose](const Tensor& t) { return transpose ? t.t() : t; };
  const Tensor cpu = argsort(view(x), dim, descending);
  const Tensor gpu = argsort(view(x.to(kCUDA)), dim, descending);
  INFO(what);
  REQUIRE(gpu.device().is_cuda());
  CHECK(gpu.to_vector<int64_t>() == cpu.to_vector<int64_t>());
}

}  // namespace

TEST_CASE("cuda: embedding forward and backward, repeated ids bit for bit") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor few = ids(5, {2, 7}, 1);  // 14 lookups into 5 rows: collisions
    check_parity("embedding (5, 3)", [&](const std::vector<Tensor>& in) { return embedding(in[0], on(few, in[0])); },
                 {leaf({5, 3}, 2, dt)}, true, 0, 0);
    // a transposed weight (strides (1, V)) and a step-sliced ids vector
    const Tensor long_ids = ids(9, {41}, 3);
    check_parity("embedding, transposed weight, strided ids",
                 [&](const std::vector<Tensor>& in) {
                   return embedding(in[0].t(), on(long_ids, in[0]).slice(0, 1, 41, 2));
                 },
                 {leaf({6, 9}, 4, dt)}, true, 0, 0);
    // 3000 lookups of 70 channels into 37 rows: more than a block, every row hit ~80 times
    const Tensor many = ids(37, {3000}, 5);
    check_parity("embedding (37, 70), 3000 ids",
                 [&](const std::vector<Tensor>& in) { return embedding(in[0], on(many, in[0])); },
                 {leaf({37, 70}, 6, dt)}, true, 0, 0);
    // a vocabulary far larger than the ids (most rows untouched, their gradient zero)
    const Tensor sparse = ids(5000, {4, 33}, 7);
    check_parity("embedding (5000, 16)",
                 [&](const std::vector<Tensor>& in) { return embedding(in[0], on(sparse, in[0])); },
                 {leaf({5000, 16}, 8, dt)}, true, 0, 0);
  }
}

TEST_CASE("cuda: index_select and gather, every dim, strided and broadcast indices") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = leaf({5, 6, 7}, 10, dt);
    // index_select is a gather through a broadcast (stride 0) view of its index; repeated
    // indices make its backward (a scatter_add) collide
    for (int dim = 0; dim < 3; ++dim) {
      const Tensor index = ids(x.size(dim), {9}, 11 + dim);
      check_parity("index_select dim " + std::to_string(dim),
                   [&](const std::vector<Tensor>& in) { return index_select(in[0], dim, on(index, in[0])); }, {x},
                   true, 0, 0);
    }
    const Tensor index4 = ids(6, {4}, 14);
    check_parity("index_select of a transposed x",
                 [&](const std::vector<Tensor>& in) {
                   return index_select(in[0].transpose(0, 2), 1, on(index4, in[0]));
                 },
                 {x}, true, 0, 0);

    // gather: an index smaller than x outside dim, along each dim
    for (int dim = 0; dim < 3; ++dim) {
      Shape shape{4, 5, 6};
      shape[dim] = 8;
      const Tensor index = ids(x.size(dim), shape, 20 + dim);
      check_parity("gather dim " + std::to_string(dim),
                   [&](const std::vector<Tensor>& in) { return gather(in[0], dim, on(index, in[0])); }, {x}, true, 0,
                   0);
    }
    // a transposed x with a transposed index, and a gather larger than one block
    const Tensor index_t = ids(5, {6, 4}, 30);
    check_parity("gather, transposed x and index",
                 [&](const std::vector<Tensor>& in) { return gather(in[0].t(), 1, on(index_t, in[0]).t()); },
                 {leaf({7, 4}, 31, dt)}, true, 0, 0);
    const Tensor big_index = ids(300, {257, 300}, 32);
    check_parity("gather (257, 300) along dim 1",
                 [&](const std::vector<Tensor>& in) { return gather(in[0], 1, on(big_index, in[0])); },
                 {leaf({257, 300}, 33, dt)}, true, 0, 0);
  }
  const Tensor xi = arange(0, 60, 1, {.dtype = DType::i64}).reshape({6, 10});
  const Tensor index_i = ids(6, {3, 10}, 34);
  check_parity("gather int64", [&](const std::vector<Tensor>& in) { return gather(in[0], 0, on(index_i, in[0])); },
               {xi}, false, 0, 0);
}

TEST_CASE("cuda: scatter_add walking rows and sorting by destination, bit for bit") {
  if (!gpu_or_skip()) return;
  // index moved to the inputs' device, then viewed by `view` (a transpose, an expand) there
  auto scatter = [](int dim, const Tensor& index, bool transpose_x = false,
                    std::function<Tensor(const Tensor&)> view = nullptr) {
    return [=](const std::vector<Tensor>& in) {
      const Tensor idx = on(index, in[0]);
      return scatter_add(transpose_x ? in[0].t() : in[0], dim, view ? view(idx) : idx, in[1]);
    };
  };
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    // short rows (length 4 along dim): a thread walks each row
    check_parity("scatter_add (3, 5) along dim 0", scatter(0, ids(3, {4, 5}, 40)),
                 {leaf({3, 5}, 41, dt), leaf({4, 5}, 42, dt)}, true, 0, 0);
    // src larger than the index, along dim 1, x read transposed
    check_parity("scatter_add, src larger, x transposed", scatter(1, ids(7, {3, 9}, 43), true),
                 {leaf({7, 3}, 44, dt), leaf({4, 11}, 45, dt)}, true, 0, 0);
    // x alone requires grad
    check_parity("scatter_add, x only", scatter(0, ids(3, {5, 2}, 46)),
                 {leaf({3, 2}, 47, dt), leaf({5, 2}, 48, dt, false)}, true, 0, 0);
    // few long rows (3 rows of 2000 into 10 destinations): sorted by destination
    check_parity("scatter_add, 3 rows of 2000", scatter(0, ids(10, {2000, 3}, 49)),
                 {leaf({10, 3}, 50, dt), leaf({2000, 3}, 51, dt)}, true, 0, 0);
    // two long rows along the last dim through a broadcast (stride 0) index, and a transposed index
    check_parity("scatter_add, broadcast index, 2 rows of 700",
                 scatter(1, ids(5, {1, 700}, 52), false, [](const Tensor& i) { return i.expand({2, 700}); }),
                 {leaf({2, 5}, 53, dt), leaf({2, 700}, 54, dt)}, true, 0, 0);
    check_parity("scatter_add, transposed index, 3 rows of 900",
                 scatter(1, ids(4, {900, 3}, 60), false, [](const Tensor& i) { return i.t(); }),
                 {leaf({3, 4}, 61, dt), leaf({3, 900}, 62, dt)}, true, 0, 0);
  }
  // rows longer than the walk's limit, but so many that walking them is the faster path
  check_parity("scatter_add, 65536 rows of 65", scatter(0, ids(8, {65, 65536}, 55)),
               {leaf({8, 65536}, 56, DType::f32), leaf({65, 65536}, 57, DType::f32)}, true, 0, 0);
  const Tensor xi = arange(0, 12, 1, {.dtype = DType::i64}).reshape({3, 4});
  const Tensor si = arange(0, 800, 1, {.dtype = DType::i64}).reshape({200, 4});
  check_parity("scatter_add int64, walk", scatter(0, ids(3, {2, 4}, 58)), {xi, si.slice(0, 0, 2).contiguous()}, false,
               0, 0);
  check_parity("scatter_add int64, sorted", scatter(0, ids(3, {200, 4}, 59)), {xi, si}, false, 0, 0);
}

TEST_CASE("cuda: topk, short rows in shared memory and long rows by radix sort") {
  if (!gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    for (bool largest : {true, false}) {
      const std::string dir = largest ? " largest" : " smallest";
      // distinct values: the gradient is well defined
      check_topk("topk (7, 37) k 5 dim 1" + dir, leaf({7, 37}, 60, dt), 5, 1, largest);
      check_topk("topk (37, 7) k 3 dim 0" + dir, leaf({37, 7}, 61, dt), 3, 0, largest);
      check_topk("topk of a transposed x" + dir, leaf({9, 6}, 62, dt), 9, 1, largest, true, /*transpose=*/true);
      check_topk("topk (3, 1000, 2) k 1000 dim 1" + dir, leaf({3, 1000, 2}, 63, dt), 1000, 1, largest);
      check_topk("topk, one value per row" + dir, leaf({5, 1}, 64, dt), 1, 1, largest);
      // rows longer than shared memory holds: three rows, and one row alone
      check_topk("topk (3, 5000) k 17" + dir, leaf({3, 5000}, 65, dt), 17, 1, largest);
      check_topk("topk (9000) k 9000" + dir, leaf({9000}, 66, dt), 9000, 0, largest);
      // ties, NaN and ±0: values and indices, no gradient
      check_topk("topk with ties (6, 301)" + dir, tied_values({6, 301}, 67, dt), 40, 1, largest, false);
      check_topk("topk with ties (2, 6000)" + dir, tied_values({2, 6000}, 68, dt), 100, 1, largest, false);
    }
    check_topk("topk k 0", leaf({4, 6}, 69, dt), 0, 1, true, false);
  }
}

TEST_CASE("cuda: argsort, stable in both directions, every path") {
  if (!gpu_or_skip()) return;
  for (DType dt : {DType::f32, DType::f64, DType::i64}) {
    INFO(dtype_name(dt));
    auto values = [dt](const Shape& shape, uint64_t seed) {
      return dt == DType::i64 ? ids(11, shape, seed) : tied_values(shape, seed, dt);  // many ties either way
    };
    for (bool descending : {false, true}) {
      const std::string dir = descending ? " descending" : " ascending";
      check_argsort("argsort (5)" + dir, values({5}, 70), 0, descending);
      check_argsort("argsort (33, 17) dim 1" + dir, values({33, 17}, 71), 1, descending);
      check_argsort("argsort (33, 17) dim 0" + dir, values({33, 17}, 72), 0, descending);
      check_argsort("argsort of a transposed x" + dir, values({20, 30}, 73), 1, descending, /*transpose=*/true);
      check_argsort("argsort (2, 4096, 3) dim 1" + dir, values({2, 4096, 3}, 74), 1, descending);  // P = 4096
      check_argsort("argsort (1000, 1)" + dir, values({1000, 1}, 75), 1, descending);
      check_argsort("argsort (3, 4097)" + dir, values({3, 4097}, 76), 1, descending);  // just past shared memory
      check_argsort("argsort (20000)" + dir, values({20000}, 77), 0, descending);
    }
  }
}

TEST_CASE("cuda: an out-of-range index is found on the device and named in one line") {
  if (!gpu_or_skip()) return;
#ifdef SIEVE_CUDA
  // The front ends check indices on the host first; the kernels' own check is reached by calling
  // the CUDA entry points directly.
  const Tensor w = zeros({5, 3}, {.device = kCUDA});
  const Tensor bad = from_vector<int64_t>({1, 7, 2, 9}, {4}).to(kCUDA);
  std::string msg = test::error_of([&] { cuda::embedding(w, bad, empty({4, 3}, {.device = kCUDA})); });
  CHECK(test::contains(msg, "embedding"));
  CHECK(test::contains(msg, "index 7"));  // the first bad one in row-major order
  CHECK(test::contains(msg, "size 5"));
  CHECK(msg.find('\n') == std::string::npos);

  // a strided view (2, 3) reading 0, 2, -2 / 1, 3, 0 in row-major order: -2 comes before 3
  const Tensor x = zeros({3, 4}, {.device = kCUDA});
  const Tensor index = from_vector<int64_t>({0, 1, 2, 3, -2, 0}, {3, 2}).to(kCUDA).t();
  msg = test::error_of([&] { cuda::gather(x, 0, index, empty({2, 3}, {.device = kCUDA})); });
  CHECK(test::contains(msg, "gather"));
  CHECK(test::contains(msg, "index -2"));
  CHECK(test::contains(msg, "size 3"));
  msg = test::error_of([&] { cuda::scatter_add(zeros({3, 4}, {.device = kCUDA}), 0, index, zeros({2, 3}, {.device = kCUDA})); });
  CHECK(test::contains(msg, "scatter_add"));
  CHECK(test::contains(msg, "index -2"));
  // and the front end reports it too
  CHECK(test::contains(test::error_of([&] { embedding(w, bad); }), "index 7"));
#endif
}

}  // namespace sieve
