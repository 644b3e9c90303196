// tests/ops/test_index.cpp — embedding, index_select, gather, scatter_add, topk, argsort: values
// (hand-computed and PyTorch goldens), gradients by finite differences, race-free accumulation on
// large inputs, and the errors for bad indices.
#include <omp.h>

#include <algorithm>
#include <functional>
#include <string>

#include "ops/index.h"
#include "tests/golden/golden.h"
#include "tests/helpers.h"

using namespace sieve;
using test::contains;
using test::error_of;

namespace {

Tensor ids_of(const std::vector<int64_t>& v, const Shape& shape) { return from_vector<int64_t>(v, shape); }

}  // namespace

// ---- embedding ----

TEST_CASE("embedding: rows of the weight, any ids shape") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor w = arange(0, 8).reshape({4, 2}).to(dev);  // row v = (2v, 2v + 1)
      Tensor out = embedding(w, ids_of({3, 0, 1, 3}, {2, 2}).to(dev));
      CHECK(out.shape() == Shape{2, 2, 2});
      CHECK_CLOSE(out, from_vector<float>({6, 7, 0, 1, 2, 3, 6, 7}, {2, 2, 2}), 0.0, 0.0);
      CHECK_CLOSE(embedding(w, ids_of({2}, {}).to(dev)), from_vector<float>({4, 5}, {2}), 0.0, 0.0);
      CHECK(embedding(w, ids_of({}, {0, 3}).to(dev)).shape() == Shape{0, 3, 2});
      // a transposed weight is read at its strides
      Tensor wt = arange(0, 8).reshape({2, 4}).t().to(dev);  // row v = (v, v + 4)
      CHECK_CLOSE(embedding(wt, ids_of({1, 3}, {2}).to(dev)), from_vector<float>({1, 5, 3, 7}, {2, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("embedding: the backward adds up repeated ids") {
  Tensor w = zeros({4, 3}, {.requires_grad = true});
  Tensor out = embedding(w, ids_of({1, 3, 1, 1}, {4}));
  out.backward(ones({4, 3}));
  CHECK_CLOSE(w.grad(), from_vector<float>({0, 0, 0, 3, 3, 3, 0, 0, 0, 1, 1, 1}, {4, 3}), 0.0, 0.0);
}

TEST_CASE("embedding: golden, gradcheck, and a large parallel backward against a serial sum") {
  test::check_golden("index", "embedding",
                     [](test::GoldenInputs& in) { return embedding(in.at("weight"), in.at("ids")); });
  auto fn = [](const std::vector<Tensor>& in) { return embedding(in[0], ids_of({0, 2, 2, 4, 1, 0}, {2, 3})); };
  CHECK_GRADCHECK(fn, {test::randn_leaf({5, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({5, 3}, 2)});

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
  Tensor w = zeros({5, 3});
  std::string msg = error_of([&] { embedding(w, ids_of({1, 7, 2}, {3})); });
  CHECK(contains(msg, "embedding"));
  CHECK(contains(msg, "index 7"));
  CHECK(contains(msg, "size 5"));
  CHECK(contains(error_of([&] { embedding(w, ids_of({-1}, {1})); }), "index -1"));
  CHECK(contains(error_of([&] { embedding(w, zeros({2})); }), "int64"));
  CHECK(contains(error_of([&] { embedding(zeros({5}), ids_of({1}, {1})); }), "weight"));
}

// ---- index_select ----

TEST_CASE("index_select: picks slices along a dim, repeated indices allowed") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = arange(0, 6).reshape({2, 3}).to(dev);  // [[0, 1, 2], [3, 4, 5]]
      CHECK_CLOSE(index_select(x, 1, ids_of({2, 0, 2}, {3}).to(dev)), from_vector<float>({2, 0, 2, 5, 3, 5}, {2, 3}),
                  0.0, 0.0);
      CHECK_CLOSE(index_select(x, 0, ids_of({1}, {1}).to(dev)), from_vector<float>({3, 4, 5}, {1, 3}), 0.0, 0.0);
      CHECK_CLOSE(index_select(x.t(), -1, ids_of({1, 1}, {2}).to(dev)), from_vector<float>({3, 3, 4, 4, 5, 5}, {3, 2}),
                  0.0, 0.0);
      CHECK(index_select(x, 0, ids_of({}, {0}).to(dev)).shape() == Shape{0, 3});
    }
  }
}

TEST_CASE("index_select: golden, gradcheck, errors") {
  test::check_golden("index", "index_select_dim1",
                     [](test::GoldenInputs& in) { return index_select(in.at("x"), 1, in.at("index")); });
  Tensor idx = ids_of({3, 0, 3, 1}, {4});
  auto fn = [&](const std::vector<Tensor>& in) { return index_select(in[0], 1, idx); };
  CHECK_GRADCHECK(fn, {test::randn_leaf({2, 4, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({3, 4}, 2)});

  Tensor x = zeros({2, 4, 3});
  std::string msg = error_of([&] { index_select(x, 1, ids_of({0, 4}, {2})); });
  CHECK(contains(msg, "index_select"));
  CHECK(contains(msg, "index 4"));
  CHECK(contains(msg, "size 4"));
  CHECK(contains(error_of([&] { index_select(x, 3, ids_of({0}, {1})); }), "dim 3"));
  CHECK(contains(error_of([&] { index_select(x, 0, ids_of({0, 1}, {1, 2})); }), "index"));
}

// ---- gather / scatter_add ----

TEST_CASE("gather: out[i][j] = x[i][index[i][j]]") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2}).to(dev);
      CHECK_CLOSE(gather(x, 1, ids_of({0, 0, 1, 0}, {2, 2}).to(dev)), from_vector<float>({1, 1, 4, 3}, {2, 2}), 0.0,
                  0.0);
      CHECK_CLOSE(gather(x, 0, ids_of({1, 0}, {1, 2}).to(dev)), from_vector<float>({3, 2}, {1, 2}), 0.0, 0.0);
      // an index smaller than x outside dim reads only the covered part
      Tensor x3 = arange(0, 12).reshape({3, 4}).to(dev);
      CHECK_CLOSE(gather(x3, 1, ids_of({3, 3, 0}, {1, 3}).to(dev)), from_vector<float>({3, 3, 0}, {1, 3}), 0.0, 0.0);
    }
  }
}

TEST_CASE("scatter_add: out = x with src added at the indices, x untouched") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = ones({3, 2}).to(dev);
      Tensor src = from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}).to(dev);
      Tensor out = scatter_add(x, 0, ids_of({2, 0, 2, 2, 0, 1}, {3, 2}).to(dev), src);
      // column 0: rows 2, 2, 0 get 1, 3, 5; column 1: rows 0, 2, 1 get 2, 4, 6
      CHECK_CLOSE(out, from_vector<float>({6, 3, 1, 7, 5, 5}, {3, 2}), 0.0, 0.0);
      CHECK_CLOSE(x, ones({3, 2}), 0.0, 0.0);
    }
  }
}

TEST_CASE("gather and scatter_add: goldens and gradcheck") {
  test::check_golden("index", "gather_dim1",
                     [](test::GoldenInputs& in) { return gather(in.at("x"), 1, in.at("index")); });
  test::check_golden("index", "gather_dim0",
                     [](test::GoldenInputs& in) { return gather(in.at("x"), 0, in.at("index")); });
  test::check_golden("index", "scatter_add_dim0", [](test::GoldenInputs& in) {
    return scatter_add(in.at("x"), 0, in.at("index"), in.at("src"));
  });

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
  // 4 columns × 40,000 entries into 10 rows: runs in parallel, every row hit thousands of times.
  const int64_t R = 10, C = 4, N = 40000;
  Generator gen(11);
  Tensor idx = randint(0, R, {N, C}, {.dtype = DType::i64}, &gen);
  Tensor src = test::randn_leaf({N, C}, 12, false);
  Tensor x = test::randn_leaf({R, C}, 13, false);
  Tensor out = scatter_add(x, 0, idx, src);
  auto expected = x.to_vector<double>();
  const auto iv = idx.to_vector<int64_t>();
  const auto sv = src.to_vector<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) expected[iv[n * C + c] * C + c] += sv[n * C + c];
  CHECK_CLOSE(out, from_vector<double>(expected, {R, C}), 0.0, 0.0);
}

TEST_CASE("few long rows on many threads: topk, argsort and scatter_add see each row whole") {
  // A row of 40,000 elements is longer than what for_each_row cuts into segments for elementwise
  // kernels. Sorting a segment, or two threads adding into one row's destinations, would be wrong
  // (the second only with more threads than rows: 8 here, whatever the machine has).
  const int before = omp_get_max_threads();
  omp_set_num_threads(8);
  const int64_t N = 40000;
  Generator gen(21);
  const Tensor x = randn({N}, {.dtype = DType::f64}, &gen);
  std::vector<double> sorted = x.to_vector<double>();
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const Tensor order = argsort(x, 0, /*descending=*/true);
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<int64_t> ov = order.to_vector<int64_t>();
  bool argsort_ok = true;
  for (int64_t i = 0; i < N; ++i) argsort_ok = argsort_ok && xv[ov[i]] == sorted[i];
  CHECK(argsort_ok);
  const auto [values, indices] = topk(x, 5, 0);
  CHECK(values.to_vector<double>() == std::vector<double>(sorted.begin(), sorted.begin() + 5));
  // scatter_add into 3 rows along dim 1 of a (2, N) source: two rows of 40,000 collisions each.
  const Tensor idx = randint(0, 3, {2, N}, {.dtype = DType::i64}, &gen);
  const Tensor src = randn({2, N}, {.dtype = DType::f64}, &gen);
  const Tensor out = scatter_add(zeros({2, 3}, {.dtype = DType::f64}), 1, idx, src);
  std::vector<double> expected(6, 0.0);
  const auto iv = idx.to_vector<int64_t>();
  const auto sv = src.to_vector<double>();
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t n = 0; n < N; ++n) expected[r * 3 + iv[r * N + n]] += sv[r * N + n];
  CHECK_CLOSE(out, from_vector<double>(expected, {2, 3}), 0.0, 0.0);
  omp_set_num_threads(before);
}

TEST_CASE("gather and scatter_add: errors") {
  Tensor x = zeros({3, 4});
  std::string msg = error_of([&] { gather(x, 1, ids_of({0, 4}, {1, 2})); });
  CHECK(contains(msg, "gather"));
  CHECK(contains(msg, "index 4"));
  CHECK(contains(msg, "size 4"));
  CHECK(contains(error_of([&] { gather(x, 1, ids_of({0, 0, 0, 0}, {4, 1})); }), "larger"));
  CHECK(contains(error_of([&] { gather(x, 1, ids_of({0, 0}, {2})); }), "dims"));
  CHECK(contains(error_of([&] { gather(x, 1, zeros({3, 4})); }), "int64"));

  msg = error_of([&] { scatter_add(x, 0, ids_of({0, -2}, {1, 2}), zeros({1, 2})); });
  CHECK(contains(msg, "scatter_add"));
  CHECK(contains(msg, "index -2"));
  CHECK(contains(msg, "size 3"));
  CHECK(contains(error_of([&] { scatter_add(x, 0, ids_of({0, 1}, {1, 2}), zeros({1, 1})); }), "src"));
  CHECK(contains(error_of([&] { scatter_add(x, 0, ids_of({0}, {1, 1}), zeros({1, 1}, {.dtype = DType::f64})); }),
                 "float64"));
}

// ---- topk / argsort ----

TEST_CASE("topk: sorted values and their indices, ties to the lower index") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({3, 1, 4, 1, 4, 9, 2, 6, 5, 3}, {2, 5}).to(dev);
      auto [v, i] = topk(x, 2, 1, true);
      CHECK_CLOSE(v, from_vector<float>({4, 4, 9, 6}, {2, 2}), 0.0, 0.0);
      CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{2, 4, 0, 2});
      auto [vs, is] = topk(x, 3, -1, false);
      CHECK_CLOSE(vs, from_vector<float>({1, 1, 3, 2, 3, 5}, {2, 3}), 0.0, 0.0);
      CHECK(is.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 0, 1, 4, 3});
      auto [v0, i0] = topk(x, 1, 0, true);  // along dim 0
      CHECK_CLOSE(v0, from_vector<float>({9, 2, 6, 5, 4}, {1, 5}), 0.0, 0.0);
      CHECK(i0.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1, 1, 0});
      CHECK(topk(x, 0, 1).first.shape() == Shape{2, 0});
    }
  }
}

TEST_CASE("topk: goldens, gradcheck, errors") {
  for (bool largest : {true, false}) {
    const std::string name = largest ? "topk_largest" : "topk_smallest";
    test::check_golden("index", name, [&](test::GoldenInputs& in) { return topk(in.at("x"), 3, 1, largest).first; });
    Tensor x = test::golden_tensor("index", name + ".in.x");
    CHECK(topk(x, 3, 1, largest).second.to_vector<int64_t>() ==
          test::golden_tensor("index", name + ".indices").to_vector<int64_t>());
  }
  auto fn = [](const std::vector<Tensor>& in) { return topk(in[0], 2, 0, true).first; };
  CHECK_GRADCHECK(fn, {test::randn_leaf({4, 3}, 1)});
  CHECK_GRADCHECK(fn, {test::randn_leaf_transposed({5, 3}, 2)});

  std::string msg = error_of([&] { topk(zeros({2, 3}), 4, 1); });
  CHECK(contains(msg, "topk"));
  CHECK(contains(msg, "k = 4"));
  CHECK(contains(msg, "size 3"));
}

TEST_CASE("argsort: stable in both directions") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor x = from_vector<float>({2, 1, 2, 0, 1}, {5}).to(dev);
      CHECK(argsort(x).to_vector<int64_t>() == std::vector<int64_t>{3, 1, 4, 0, 2});
      CHECK(argsort(x, 0, true).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 1, 4, 3});
      Tensor m = from_vector<float>({3, 1, 2, 0, 5, 4}, {2, 3}).to(dev);
      CHECK(argsort(m, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 0, 1, 1});
      CHECK(argsort(m.t(), 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 1, 0, 1});
      CHECK(argsort(from_vector<int64_t>({5, -1, 3}, {3})).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0});
    }
  }
}

TEST_CASE("argsort: goldens (distinct values)") {
  test::check_golden("index", "argsort_dim0", [](test::GoldenInputs& in) { return argsort(in.at("x"), 0); });
  test::check_golden("index", "argsort_desc", [](test::GoldenInputs& in) { return argsort(in.at("x"), 1, true); });
}
