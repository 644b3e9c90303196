// tests/models/test_vmamba.cpp — VMamba (models/vmamba.h): the routes visit every position once;
// SS2D's one grouped scan equals, route by route, a plain Mamba scan of the map read in that order
// (rows by transposition, reversals by an explicit reversed index) and turned back; K = 4 and K = 2
// differ; names and shapes; gradients reach every parameter; a checkpoint round trip; a few steps
// of learning; the refusals (routes not 1, 2 or 4; a patch that does not divide the image).
//
// Not here: the conv2d_depthwise op (tests/ops/test_conv2d.cpp) and grouped scans
// (tests/ops/test_scan_groups.cpp).
#include <set>

#include "models/registry.h"
#include "models/vmamba.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/scan.h"
#include "tests/helpers.h"
#include "tests/models/round_trip.h"
#include "tests/models/sgd.h"

using namespace sieve;
using namespace sieve::models;

namespace {

// Route r of SS2D as a plain (ungrouped) Mamba scan of seq (B, L, Ci) with that route's parameters.
Tensor plain_route_scan(const SS2D& op, int64_t r, const Tensor& seq) {
  const int64_t C = op.channels, R = op.dt_rank, N = op.d_state;
  const Tensor dbc = matmul(seq, op.x_proj_weight.select(0, r).t());  // (B, L, R + 2N)
  const Tensor delta = softplus(matmul(dbc.narrow(2, 0, R), op.dt_projs_weight.select(0, r).t()) +
                                op.dt_projs_bias.select(0, r));
  return selective_scan(seq, delta, -exp(op.A_logs.narrow(0, r * C, C)), dbc.narrow(2, R, N).contiguous(),
                        dbc.narrow(2, R + N, N).contiguous(), op.Ds.narrow(0, r * C, C));
}

// seq (B, L, C) reversed along L, by an index built here (not the model's route table).
Tensor reversed(const Tensor& seq) {
  std::vector<int64_t> back(static_cast<size_t>(seq.size(1)));
  for (size_t i = 0; i < back.size(); ++i) back[i] = static_cast<int64_t>(back.size() - 1 - i);
  return index_select(seq, 1, from_vector<int64_t>(back, {static_cast<int64_t>(back.size())}));
}

}  // namespace

TEST_CASE("vmamba: each route visits every position exactly once, in its own order") {
  const int64_t H = 3, W = 5, L = H * W;
  const std::vector<int64_t> routes = ss2d_routes(4, H, W);
  REQUIRE(routes.size() == static_cast<size_t>(4 * L));
  for (int64_t k = 0; k < 4; ++k) {
    CAPTURE(k);
    const std::set<int64_t> seen(routes.begin() + k * L, routes.begin() + (k + 1) * L);
    CHECK(seen.size() == static_cast<size_t>(L));
    CHECK(*seen.begin() == 0);
    CHECK(*seen.rbegin() == L - 1);
  }
  // Row-major; down the first column (0, 5, 10), then the second; and both reversed.
  CHECK(std::vector<int64_t>(routes.begin(), routes.begin() + 4) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(std::vector<int64_t>(routes.begin() + L, routes.begin() + L + 4) == std::vector<int64_t>{0, 5, 10, 1});
  CHECK(routes[2 * L] == L - 1);
  CHECK(routes[3 * L] == L - 1);
  CHECK(routes[3 * L + 1] == L - 1 - W);  // reversed column-major: up the last column
  CHECK(ss2d_routes(2, H, W).size() == static_cast<size_t>(2 * L));
  CHECK(test::contains(test::error_of([] { ss2d_routes(3, 2, 2); }), "routes must be 1, 2 or 4"));
}

TEST_CASE("vmamba: SS2D's one grouped scan is each route's plain scan, turned back and summed") {
  const int64_t B = 2, H = 3, W = 4, C = 6;
  Generator gen(5);
  const SS2D op(/*dim=*/4, C, /*d_state=*/3, /*dt_rank=*/2, /*routes=*/4, &gen);
  const Tensor x = test::randn_leaf({B, H, W, C}, 6, false, DType::f32);
  const Tensor rows = x.reshape({B, H * W, C});
  const Tensor columns = x.transpose(1, 2).reshape({B, H * W, C});  // (B, W, H, C): column-major order
  auto from_columns = [&](const Tensor& seq) { return seq.view({B, W, H, C}).transpose(1, 2).reshape({B, H, W, C}); };
  const Tensor expected = plain_route_scan(op, 0, rows).view({B, H, W, C}) +
                          from_columns(plain_route_scan(op, 1, columns)) +
                          reversed(plain_route_scan(op, 2, reversed(rows))).view({B, H, W, C}) +
                          from_columns(reversed(plain_route_scan(op, 3, reversed(columns))));
  CHECK_CLOSE(op.scan_routes(x), expected, 1e-5, 1e-5);
}

TEST_CASE("vmamba: 4 routes and 2 routes differ on the same weights of the routes they share") {
  Generator g4(7), g2(7);
  SS2D four(4, 6, 3, 2, 4, &g4), two(4, 6, 3, 2, 2, &g2);
  // Give `two` exactly `four`'s first two routes (and the same in/out projections and conv).
  std::map<std::string, Tensor> shared = four.state_dict();
  shared["x_proj_weight"] = shared["x_proj_weight"].narrow(0, 0, 2).contiguous();
  shared["dt_projs_weight"] = shared["dt_projs_weight"].narrow(0, 0, 2).contiguous();
  shared["dt_projs_bias"] = shared["dt_projs_bias"].narrow(0, 0, 2).contiguous();
  shared["A_logs"] = shared["A_logs"].narrow(0, 0, 12).contiguous();
  shared["Ds"] = shared["Ds"].narrow(0, 0, 12).contiguous();
  two.load_state_dict(shared);
  const Tensor x = test::randn_leaf({1, 3, 3, 4}, 8, false, DType::f32);
  const double gap = test::max_abs(four.forward(x) - two.forward(x));
  CHECK(gap > 1e-3);  // routes 2 and 3 ran, and changed the answer
}

TEST_CASE("vmamba: names as the official repo, shapes, and gradients to every parameter") {
  const ModelSpec& spec = find_model("vmamba");
  const ModelConfig config = complete_config(spec, {{"dim", 8}, {"depths", "1,1"}, {"d_state", 2}, {"mlp_ratio", 2}});
  Generator gen(9);
  const ModelPtr model = spec.build(config, &gen);
  const auto state = model->state_dict();
  for (const char* name : {"patch_embed.proj.weight", "patch_norm.weight", "layers.0.blocks.0.norm.weight",
                           "layers.0.blocks.0.op.in_proj.weight", "layers.0.blocks.0.op.conv2d.weight",
                           "layers.0.blocks.0.op.x_proj_weight", "layers.0.blocks.0.op.dt_projs_weight",
                           "layers.0.blocks.0.op.dt_projs_bias", "layers.0.blocks.0.op.A_logs",
                           "layers.0.blocks.0.op.Ds", "layers.0.blocks.0.op.out_norm.weight",
                           "layers.0.blocks.0.op.out_proj.weight", "layers.0.blocks.0.mlp.fc1.weight",
                           "layers.0.downsample.reduction.weight", "layers.1.blocks.0.op.A_logs",
                           "classifier.norm.weight", "classifier.head.weight"}) {
    CAPTURE(name);
    CHECK(state.count(name) == 1);
  }
  // Ci = 2·8 = 16 in stage 0, K = 4 routes, N = 2, R = ceil(8/16) = 1; stage 1 is twice as wide.
  CHECK(state.at("layers.0.blocks.0.op.conv2d.weight").shape() == Shape{16, 1, 3, 3});
  CHECK(state.at("layers.0.blocks.0.op.x_proj_weight").shape() == Shape{4, 1 + 2 * 2, 16});
  CHECK(state.at("layers.0.blocks.0.op.A_logs").shape() == Shape{4 * 16, 2});
  CHECK(state.at("layers.1.blocks.0.op.Ds").shape() == Shape{4 * 32});
  CHECK(state.at("classifier.head.weight").shape() == Shape{10, 16});

  const Tensor images = test::randn_leaf({2, 1, 28, 28}, 10, false, DType::f32);
  const Tensor logits = model->forward(images);
  CHECK(logits.shape() == Shape{2, 10});
  cross_entropy(logits, from_vector<int64_t>({3, 7}, {2})).backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.name);
    REQUIRE(p.tensor.grad().defined());
    CHECK(test::max_abs(p.tensor.grad()) > 0);
  }
}

TEST_CASE("vmamba: a checkpoint rebuilds the same model, and a few SGD steps lower the loss") {
  const ModelSpec& spec = find_model("vmamba");
  const ModelConfig config =
      complete_config(spec, {{"dim", 8}, {"depths", "1,1"}, {"d_state", 2}, {"routes", 2}, {"image_size", 8}});
  Generator gen(11);
  const ModelPtr model = spec.build(config, &gen);
  const Tensor images = test::randn_leaf({6, 1, 8, 8}, 12, false, DType::f32);
  const Tensor out = model->forward(images);
  CHECK_CLOSE(test::rebuilt_output(spec, config, *model, images), out, 0.0, 0.0);

  const Tensor labels = from_vector<int64_t>({0, 1, 2, 3, 4, 5}, {6});
  const auto [first, last] = test::sgd_losses(*model, images, labels, 15, 0.1f);
  CAPTURE(first);
  CHECK(last < 0.8 * first);
}

TEST_CASE("vmamba: routes not 1, 2 or 4 and a patch that does not divide the image are refused") {
  const ModelSpec& spec = find_model("vmamba");
  CHECK(test::contains(test::error_of([&] { spec.build(complete_config(spec, {{"routes", 3}}), nullptr); }),
                       "routes must be 1, 2 or 4, got 3"));
  CHECK(test::contains(test::error_of([&] { spec.build(complete_config(spec, {{"patch", 3}}), nullptr); }),
                       "patch 3 must divide image_size 28"));
  CHECK(test::contains(test::error_of([&] { complete_config(spec, {{"routes", 8}}); }), "largest allowed, 4"));
}
