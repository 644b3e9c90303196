// tests/dist/test_data_parallel.cpp — dist/ in a world of one process (the doctest runner is one):
// the buckets' order and sizes, the batch slice and loss weight, and that averaging and
// broadcasting change nothing. Two real ranks are tests/tools/test_ddp.py's (mpirun).
#include <doctest/doctest.h>

#include "dist/data_parallel.h"
#include "dist/dist.h"
#include "nn/layers.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("dist: a process not started by mpirun is a world of one") {
  dist::init(nullptr, nullptr);  // a second init (main's was none here) changes nothing
  CHECK(dist::size() == 1);
  CHECK(dist::rank() == 0);
  CHECK(dist::is_root());
  double x[2] = {1.5, -2.0};
  dist::allreduce_sum(x, 2);  // a sum over one rank
  CHECK(x[0] == 1.5);
  CHECK(x[1] == -2.0);
}

TEST_CASE("dist: buckets hold the parameters in reverse order, each closed once it reaches its size") {
  Generator gen(1);
  nn::Sequential model({std::make_shared<nn::Linear>(16, 32, true, &gen),   // 512 + 32 floats
                        std::make_shared<nn::Linear>(32, 8, true, &gen)});  // 256 + 8
  const std::vector<Tensor> params = model.parameters();
  REQUIRE(params.size() == 4);
  const int64_t bucket_bytes = 1000;  // 250 floats: each weight closes a bucket, a bias rides along
  dist::DataParallel ddp(model, /*zero1=*/false, bucket_bytes);
  std::vector<size_t> order;
  for (const std::vector<size_t>& bucket : ddp.buckets()) {
    int64_t bytes = 0;
    for (size_t i : bucket) bytes += params[i].numel() * 4;
    CHECK((bytes >= bucket_bytes || &bucket == &ddp.buckets().back()));
    order.insert(order.end(), bucket.begin(), bucket.end());
  }
  CHECK(order == std::vector<size_t>{3, 2, 1, 0});
  CHECK(ddp.buckets().size() == 2);  // {b2, W2}, {b1, W1}

  // One rank: the whole batch, weight 1, gradients and weights untouched.
  CHECK(dist::DataParallel::slice(10) == std::pair<int64_t, int64_t>{0, 10});
  CHECK(dist::DataParallel::loss_weight(10, 10) == 1.0);
  const Tensor x = test::randn_leaf({4, 16}, 2, false, DType::f32);
  sum(model.forward(x)).backward();
  const std::vector<float> before = params[0].grad().to_vector<float>();
  ddp.average_gradients();
  ddp.broadcast_state();
  CHECK(params[0].grad().to_vector<float>() == before);
}
