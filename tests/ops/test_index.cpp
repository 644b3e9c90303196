// tests/ops/test_index.cpp — embedding, index_select, gather, scatter_add (topk and argsort are in
// test_index_sort.cpp): values (hand-computed and PyTorch goldens), exact accumulation of many
// collisions, and the errors for bad indices, on every device; gradients by finite differences
// and the CPU's parallel embedding backward (CPU); and the CUDA kernels' outputs and gradients
// against the CPU's (parity), plus the CUDA kernels' own check of out-of-range indices.
//
// Parity inputs reach every CUDA path: contiguous and strided (transposed, step-sliced,
// broadcast) operands; sizes off the block and warp sizes; scatter_add both walking rows (many or
// short rows) and sorting by destination (few long rows). The scatter-like kernels add in the
// CPU's order, so their results are compared bit for bit.
#include <functional>
#include <string>

#include "ops/index.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"
#include "tests/parity.h"

#ifdef SIEVE_CUDA
#include "cuda/kernels.h"
#endif

using namespace sieve;
using test::check_parity;
using test::contains;
using test::error_of;
using test::kFloatTypes;
using test::leaf;
using test::random_ids;

namespace {

Tensor ids_of(const std::vector<int64_t>& v, const Shape& shape, Device device = kCPU) {
  return from_vector<int64_t>(v, shape, device);
}


// t on like's device. Strided index views are taken after the move (to() makes a contiguous copy).
Tensor on(const Tensor& t, const Tensor& like) { return t.to(like.device()); }

}  // namespace

// ---- embedding ----

TEST_CASE("embedding: rows of the weight, any ids shape") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor w = arange(0, 8).reshape({4, 2}).to(dev);  // row v = (2v, 2v + 1)
      Tensor out = embedding(w, ids_of({3, 0, 1, 3}, {2, 2}, dev));
      CHECK(out.shape() == Shape{2, 2, 2});
      CHECK_CLOSE(out, from_vector<float>({6, 7, 0, 1, 2, 3, 6, 7}, {2, 2, 2}), 0.0, 0.0);
      CHECK_CLOSE(embedding(w, ids_of({2}, {}, dev)), from_vector<float>({4, 5}, {2}), 0.0, 0.0);
      CHECK(embedding(w, ids_of({}, {0, 3}, dev)).shape() == Shape{0, 3, 2});
      // a transposed weight is read at its strides
      Tensor wt = arange(0, 8).reshape({2, 4}).t().to(dev);  // row v = (v, v + 4)
      CHECK_CLOSE(embedding(wt, ids_of({1, 3}, {2}, dev)), from_vector<float>({1, 5, 3, 7}, {2, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("embedding: the backward adds up repeated ids") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor w = zeros({4, 3}, {.device = dev, .requires_grad = true});
      Tensor out = embedding(w, ids_of({1, 3, 1, 1}, {4}, dev));
      out.backward(ones({4, 3}, {.device = dev}));
      CHECK_CLOSE(w.grad(), from_vector<float>({0, 0, 0, 3, 3, 3, 0, 0, 0, 1, 1, 1}, {4, 3}), 0.0, 0.0);
    }
  }
}

TEST_CASE("embedding: PyTorch golden") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("index", "embedding",
                         [](test::GoldenInputs& in) { return embedding(in.at("weight"), in.at("ids")); }, 1e-5,
                         1e-4, dev);
    }
  }
}

TEST_CASE("gradcheck: embedding on contiguous and transposed weights") {
  auto fn = [](const std::vector<Tensor>& in) { return embedding(in[0], ids_of({0, 2, 2, 4, 1, 0}, {2, 3})); };
  CHECK_GRADCHECK(fn, {test::randn_leaf({5, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({5, 3}, 2)});
}

TEST_CASE("cpu kernel: embedding's parallel backward equals a serial sum") {
  // The CPU splits the lookups across threads; CUDA's order is checked by parity below.
  // 60,000 lookups into 37 rows: many threads' worth of work on few rows, every row hit often.
  const int64_t V = 37, C = 8, N = 60000;
  Generator gen(3);
  Tensor ids = randint(0, V, {N}, {.dtype = DType::i64}, &gen);
  Tensor w = test::randn_leaf({V, C}, 4);
  Tensor g = test::randn_leaf({N, C}, 5, false);
  embedding(w, ids).backward(g);
  const auto iv = ids.to_vector<int64_t>();
  const auto gv = g.to_vector<double>();
  std::vector<double> expected(static_cast<size_t>(V * C), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) expected[iv[n] * C + c] += gv[n * C + c];
  CHECK_CLOSE(w.grad(), from_vector<double>(expected, {V, C}), 0.0, 0.0);  // same order: exact
}

TEST_CASE("embedding: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor w = zeros({5, 3}, {.device = dev});
      std::string msg = error_of([&] { embedding(w, ids_of({1, 7, 2}, {3}, dev)); });
      CHECK(contains(msg, "embedding"));
      CHECK(contains(msg, "index 7"));
      CHECK(contains(msg, "size 5"));
      CHECK(contains(error_of([&] { embedding(w, ids_of({-1}, {1}, dev)); }), "index -1"));
      CHECK(contains(error_of([&] { embedding(w, zeros({2}, {.device = dev})); }), "int64"));
      CHECK(contains(error_of([&] { embedding(zeros({5}, {.device = dev}), ids_of({1}, {1}, dev)); }), "weight"));
    }
  }
}

// ---- index_select ----

TEST_CASE("index_select: picks slices along a dim, repeated indices allowed") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = arange(0, 6).reshape({2, 3}).to(dev);  // [[0, 1, 2], [3, 4, 5]]
      CHECK_CLOSE(index_select(x, 1, ids_of({2, 0, 2}, {3}, dev)), from_vector<float>({2, 0, 2, 5, 3, 5}, {2, 3}),
                  0.0, 0.0);
      CHECK_CLOSE(index_select(x, 0, ids_of({1}, {1}, dev)), from_vector<float>({3, 4, 5}, {1, 3}), 0.0, 0.0);
      CHECK_CLOSE(index_select(x.t(), -1, ids_of({1, 1}, {2}, dev)), from_vector<float>({3, 3, 4, 4, 5, 5}, {3, 2}),
                  0.0, 0.0);
      CHECK(index_select(x, 0, ids_of({}, {0}, dev)).shape() == Shape{0, 3});
    }
  }
}

TEST_CASE("index_select: PyTorch golden") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("index", "index_select_dim1",
                         [](test::GoldenInputs& in) { return index_select(in.at("x"), 1, in.at("index")); }, 1e-5,
                         1e-4, dev);
    }
  }
}

TEST_CASE("gradcheck: index_select on contiguous and transposed inputs") {
  Tensor idx = ids_of({3, 0, 3, 1}, {4});
  auto fn = [&](const std::vector<Tensor>& in) { return index_select(in[0], 1, idx); };
  CHECK_GRADCHECK(fn, {test::randn_leaf({2, 4, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({3, 4}, 2)});
}

TEST_CASE("index_select: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = zeros({2, 4, 3}, {.device = dev});
      std::string msg = error_of([&] { index_select(x, 1, ids_of({0, 4}, {2}, dev)); });
      CHECK(contains(msg, "index_select"));
      CHECK(contains(msg, "index 4"));
      CHECK(contains(msg, "size 4"));
      CHECK(contains(error_of([&] { index_select(x, 3, ids_of({0}, {1}, dev)); }), "dim 3"));
      CHECK(contains(error_of([&] { index_select(x, 0, ids_of({0, 1}, {1, 2}, dev)); }), "index"));
    }
  }
}

// ---- gather / scatter_add ----

TEST_CASE("gather: out[i][j] = x[i][index[i][j]]") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2}).to(dev);
      CHECK_CLOSE(gather(x, 1, ids_of({0, 0, 1, 0}, {2, 2}, dev)), from_vector<float>({1, 1, 4, 3}, {2, 2}), 0.0,
                  0.0);
      CHECK_CLOSE(gather(x, 0, ids_of({1, 0}, {1, 2}, dev)), from_vector<float>({3, 2}, {1, 2}), 0.0, 0.0);
      // an index smaller than x outside dim reads only the covered part
      Tensor x3 = arange(0, 12).reshape({3, 4}).to(dev);
      CHECK_CLOSE(gather(x3, 1, ids_of({3, 3, 0}, {1, 3}, dev)), from_vector<float>({3, 3, 0}, {1, 3}), 0.0, 0.0);
    }
  }
}

TEST_CASE("scatter_add: out = x with src added at the indices, x untouched") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = ones({3, 2}).to(dev);
      Tensor src = from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}).to(dev);
      Tensor out = scatter_add(x, 0, ids_of({2, 0, 2, 2, 0, 1}, {3, 2}, dev), src);
      // column 0: rows 2, 2, 0 get 1, 3, 5; column 1: rows 0, 2, 1 get 2, 4, 6
      CHECK_CLOSE(out, from_vector<float>({6, 3, 1, 7, 5, 5}, {3, 2}), 0.0, 0.0);
      CHECK_CLOSE(x, ones({3, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("gather and scatter_add: PyTorch goldens") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      test::check_golden("index", "gather_dim1",
                         [](test::GoldenInputs& in) { return gather(in.at("x"), 1, in.at("index")); }, 1e-5, 1e-4,
                         dev);
      test::check_golden("index", "gather_dim0",
                         [](test::GoldenInputs& in) { return gather(in.at("x"), 0, in.at("index")); }, 1e-5, 1e-4,
                         dev);
      test::check_golden("index", "scatter_add_dim0", [](test::GoldenInputs& in) {
        return scatter_add(in.at("x"), 0, in.at("index"), in.at("src"));
      }, 1e-5, 1e-4, dev);
    }
  }
}

TEST_CASE("gradcheck: gather and scatter_add") {
  Tensor idx = ids_of({0, 3, 3, 1, 2, 2, 0, 0}, {2, 4});
  auto g1 = [&](const std::vector<Tensor>& in) { return gather(in[0], 1, idx); };
  CHECK_GRADCHECK(g1, {test::randn_leaf({2, 5}, 1)});
  CHECK_GRADCHECK(g1, {test::randn_leaf_transposed({3, 4}, 2)});
  Tensor idx0 = ids_of({1, 0, 1, 1}, {2, 2});
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return gather(in[0], 0, idx0); },
                  {test::randn_leaf({3, 3}, 3)});

  auto s1 = [&](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, idx, in[1]); };
  CHECK_GRADCHECK(s1, {test::randn_leaf({2, 4}, 4), test::randn_leaf({2, 4}, 5)});
  CHECK_GRADCHECK(s1, {test::randn_leaf({3, 4}, 6), test::randn_leaf({3, 6}, 7)});  // src larger than index
  CHECK_GRADCHECK(s1, {test::randn_leaf_transposed({2, 4}, 8), test::randn_leaf_transposed({2, 5}, 9)});
  CHECK_GRADCHECK(s1, {test::randn_leaf({2, 4}, 10), test::randn_leaf({2, 4}, 11, false)});  // x only
}

TEST_CASE("scatter_add: many collisions on a large tensor match a serial sum exactly") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // 4 columns × 40,000 entries into 10 rows: runs in parallel (sorted by destination on CUDA),
        // every row hit thousands of times; both devices add in the serial order, so exactly.
      const int64_t R = 10, C = 4, N = 40000;
      Generator gen(11);
      Tensor idx = randint(0, R, {N, C}, {.dtype = DType::i64}, &gen).to(dev);
      Tensor src = test::randn_leaf({N, C}, 12, false, DType::f64, dev);
      Tensor x = test::randn_leaf({R, C}, 13, false, DType::f64, dev);
      Tensor out = scatter_add(x, 0, idx, src);
      auto expected = x.to_vector<double>();
      const auto iv = idx.to_vector<int64_t>();
      const auto sv = src.to_vector<double>();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) expected[iv[n * C + c] * C + c] += sv[n * C + c];
      CHECK_CLOSE(out, from_vector<double>(expected, {R, C}), 0.0, 0.0);
    }
  }
}

TEST_CASE("cpu kernel: index_select and its backward (whole rows moved along dim) equal the element walk exactly") {
  // The same index for every position outside dim takes gather's and scatter_add's row path:
  // blocks of the inner dims copied, or added in order along dim. Expanded to a full tensor (a
  // copy), the same work takes the element-by-element walk; both add in dim order, so the results
  // agree to the bit.
  for (DType dtype : {DType::f32, DType::f64}) {
    for (int dim : {0, 1, 2}) {
      INFO(dtype_name(dtype), " dim ", dim);
      const Shape shape{3, 700, 40};  // 700: collisions along dim 1; 40·3: blocks across dims
      Generator gen(30 + dim);
      const Tensor index = randint(0, shape[dim] / 2, {shape[dim] + 9}, {.dtype = DType::i64}, &gen);
      Shape src_shape = shape;
      src_shape[dim] = index.numel();
      const Tensor src = test::randn_leaf(src_shape, 31, false, dtype);
      Shape view_strides(3, 0);
      view_strides[dim] = 1;
      const Tensor broadcast = make_view(index, src_shape, view_strides, 0);  // the row path
      const Tensor full = broadcast.contiguous();                              // the element walk
      const Tensor x = zeros(shape, {.dtype = dtype});
      CHECK_CLOSE(scatter_add(x, dim, broadcast, src), scatter_add(x, dim, full, src), 0.0, 0.0);
      const Tensor source = test::randn_leaf(shape, 32, false, dtype);
      const Tensor picked = gather(source, dim, broadcast);
      CHECK_CLOSE(picked, gather(source, dim, full), 0.0, 0.0);
      CHECK_CLOSE(picked, index_select(source, dim, index), 0.0, 0.0);
      // A strided source (a transposed view) is not contiguous after dim: the element walk, same values.
      const Tensor strided = source.transpose(0, 2).contiguous().transpose(0, 2);
      CHECK_CLOSE(gather(strided, dim, broadcast), picked, 0.0, 0.0);
    }
  }
}

TEST_CASE("gather and scatter_add: errors") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = zeros({3, 4}, {.device = dev});
      std::string msg = error_of([&] { gather(x, 1, ids_of({0, 4}, {1, 2}, dev)); });
      CHECK(contains(msg, "gather"));
      CHECK(contains(msg, "index 4"));
      CHECK(contains(msg, "size 4"));
      CHECK(contains(error_of([&] { gather(x, 1, ids_of({0, 0, 0, 0}, {4, 1}, dev)); }), "larger"));
      CHECK(contains(error_of([&] { gather(x, 1, ids_of({0, 0}, {2}, dev)); }), "dims"));
      CHECK(contains(error_of([&] { gather(x, 1, zeros({3, 4}, {.device = dev})); }), "int64"));

      msg = error_of([&] { scatter_add(x, 0, ids_of({0, -2}, {1, 2}, dev), zeros({1, 2}, {.device = dev})); });
      CHECK(contains(msg, "scatter_add"));
      CHECK(contains(msg, "index -2"));
      CHECK(contains(msg, "size 3"));
      CHECK(contains(error_of([&] { scatter_add(x, 0, ids_of({0, 1}, {1, 2}, dev), zeros({1, 1}, {.device = dev})); }),
                     "src"));
      // An expanded index (stride 0 over the channels) is checked by its distinct entries, and
      // the first bad one in order is named.
      const Tensor rows = ids_of({1, 3, 5, 2}, {4, 1}, dev).expand({4, 4});
      msg = error_of([&] { scatter_add(zeros({4, 4}, {.device = dev}), 0, rows, zeros({4, 4}, {.device = dev})); });
      CHECK(contains(msg, "index 5"));
      CHECK(gather(zeros({4, 4}, {.device = dev}), 0, rows.narrow(0, 0, 2)).shape() == Shape({2, 4}));
      const Tensor src64 = zeros({1, 1}, {.dtype = DType::f64, .device = dev});
      CHECK(contains(error_of([&] { scatter_add(x, 0, ids_of({0}, {1, 1}, dev), src64); }), "float64"));
    }
  }
}

// ---- CUDA against CPU ----

TEST_CASE("parity: embedding forward and backward, repeated ids, CUDA against CPU bit for bit") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor few = random_ids(5, {2, 7}, 1);  // 14 lookups into 5 rows: collisions
    check_parity("embedding (5, 3)", [&](const std::vector<Tensor>& in) { return embedding(in[0], on(few, in[0])); },
                 {leaf({5, 3}, 2, dt)}, true, 0, 0);
    // a transposed weight (strides (1, V)) and a step-sliced ids vector
    const Tensor long_ids = random_ids(9, {41}, 3);
    check_parity("embedding, transposed weight, strided ids",
                 [&](const std::vector<Tensor>& in) {
                   return embedding(in[0].t(), on(long_ids, in[0]).slice(0, 1, 41, 2));
                 },
                 {leaf({6, 9}, 4, dt)}, true, 0, 0);
    // 3000 lookups of 70 channels into 37 rows: more than a block, every row hit ~80 times
    const Tensor many = random_ids(37, {3000}, 5);
    check_parity("embedding (37, 70), 3000 ids",
                 [&](const std::vector<Tensor>& in) { return embedding(in[0], on(many, in[0])); },
                 {leaf({37, 70}, 6, dt)}, true, 0, 0);
    // a vocabulary far larger than the ids (most rows untouched, their gradient zero)
    const Tensor sparse = random_ids(5000, {4, 33}, 7);
    check_parity("embedding (5000, 16)",
                 [&](const std::vector<Tensor>& in) { return embedding(in[0], on(sparse, in[0])); },
                 {leaf({5000, 16}, 8, dt)}, true, 0, 0);
  }
}

TEST_CASE("parity: index_select and gather, every dim, strided and broadcast indices, CUDA against CPU") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = leaf({5, 6, 7}, 10, dt);
    // index_select is a gather through a broadcast (stride 0) view of its index; repeated
    // indices make its backward (a scatter_add) collide
    for (int dim = 0; dim < 3; ++dim) {
      const Tensor index = random_ids(x.size(dim), {9}, 11 + dim);
      check_parity("index_select dim " + std::to_string(dim),
                   [&](const std::vector<Tensor>& in) { return index_select(in[0], dim, on(index, in[0])); }, {x},
                   true, 0, 0);
    }
    const Tensor index4 = random_ids(6, {4}, 14);
    check_parity("index_select of a transposed x",
                 [&](const std::vector<Tensor>& in) {
                   return index_select(in[0].transpose(0, 2), 1, on(index4, in[0]));
                 },
                 {x}, true, 0, 0);

    // gather: an index smaller than x outside dim, along each dim
    for (int dim = 0; dim < 3; ++dim) {
      Shape shape{4, 5, 6};
      shape[dim] = 8;
      const Tensor index = random_ids(x.size(dim), shape, 20 + dim);
      check_parity("gather dim " + std::to_string(dim),
                   [&](const std::vector<Tensor>& in) { return gather(in[0], dim, on(index, in[0])); }, {x}, true, 0,
                   0);
    }
    // a transposed x with a transposed index, and a gather larger than one block
    const Tensor index_t = random_ids(5, {6, 4}, 30);
    check_parity("gather, transposed x and index",
                 [&](const std::vector<Tensor>& in) { return gather(in[0].t(), 1, on(index_t, in[0]).t()); },
                 {leaf({7, 4}, 31, dt)}, true, 0, 0);
    const Tensor big_index = random_ids(300, {257, 300}, 32);
    check_parity("gather (257, 300) along dim 1",
                 [&](const std::vector<Tensor>& in) { return gather(in[0], 1, on(big_index, in[0])); },
                 {leaf({257, 300}, 33, dt)}, true, 0, 0);
  }
  const Tensor xi = arange(0, 60, 1, {.dtype = DType::i64}).reshape({6, 10});
  const Tensor index_i = random_ids(6, {3, 10}, 34);
  check_parity("gather int64", [&](const std::vector<Tensor>& in) { return gather(in[0], 0, on(index_i, in[0])); },
               {xi}, false, 0, 0);
}

TEST_CASE("parity: scatter_add walking rows and sorting by destination, CUDA against CPU bit for bit") {
  if (!test::gpu_or_skip()) return;
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
    check_parity("scatter_add (3, 5) along dim 0", scatter(0, random_ids(3, {4, 5}, 40)),
                 {leaf({3, 5}, 41, dt), leaf({4, 5}, 42, dt)}, true, 0, 0);
    // src larger than the index, along dim 1, x read transposed
    check_parity("scatter_add, src larger, x transposed", scatter(1, random_ids(7, {3, 9}, 43), true),
                 {leaf({7, 3}, 44, dt), leaf({4, 11}, 45, dt)}, true, 0, 0);
    // x alone requires grad
    check_parity("scatter_add, x only", scatter(0, random_ids(3, {5, 2}, 46)),
                 {leaf({3, 2}, 47, dt), leaf({5, 2}, 48, dt, false)}, true, 0, 0);
    // few long rows (3 rows of 2000 into 10 destinations): sorted by destination
    check_parity("scatter_add, 3 rows of 2000", scatter(0, random_ids(10, {2000, 3}, 49)),
                 {leaf({10, 3}, 50, dt), leaf({2000, 3}, 51, dt)}, true, 0, 0);
    // two long rows along the last dim through a broadcast (stride 0) index, and a transposed index
    check_parity("scatter_add, broadcast index, 2 rows of 700",
                 scatter(1, random_ids(5, {1, 700}, 52), false, [](const Tensor& i) { return i.expand({2, 700}); }),
                 {leaf({2, 5}, 53, dt), leaf({2, 700}, 54, dt)}, true, 0, 0);
    check_parity("scatter_add, transposed index, 3 rows of 900",
                 scatter(1, random_ids(4, {900, 3}, 60), false, [](const Tensor& i) { return i.t(); }),
                 {leaf({3, 4}, 61, dt), leaf({3, 900}, 62, dt)}, true, 0, 0);
  }
  // rows longer than the walk's limit, but so many that walking them is the faster path
  check_parity("scatter_add, 65536 rows of 65", scatter(0, random_ids(8, {65, 65536}, 55)),
               {leaf({8, 65536}, 56, DType::f32), leaf({65, 65536}, 57, DType::f32)}, true, 0, 0);
  const Tensor xi = arange(0, 12, 1, {.dtype = DType::i64}).reshape({3, 4});
  const Tensor si = arange(0, 800, 1, {.dtype = DType::i64}).reshape({200, 4});
  check_parity("scatter_add int64, walk", scatter(0, random_ids(3, {2, 4}, 58)), {xi, si.slice(0, 0, 2).contiguous()},
               false, 0, 0);
  check_parity("scatter_add int64, sorted", scatter(0, random_ids(3, {200, 4}, 59)), {xi, si}, false, 0, 0);
}

TEST_CASE("cuda kernel: an out-of-range index is found on the device and named in one line") {
  if (!test::gpu_or_skip()) return;
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
  msg = test::error_of([&] {
    cuda::scatter_add(zeros({3, 4}, {.device = kCUDA}), 0, index, zeros({2, 3}, {.device = kCUDA}));
  });
  CHECK(test::contains(msg, "scatter_add"));
  CHECK(test::contains(msg, "index -2"));
  // and the front end reports it too
  CHECK(test::contains(test::error_of([&] { embedding(w, bad); }), "index 7"));
#endif
}
