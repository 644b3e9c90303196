// tests/nn/test_profile_modules.cpp — the profiler names modules: forwards open a ModuleScope, and
// the gradient kernels of a module's ops are charged back to that module.
#include "autograd/grad_mode.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("module_paths: every module by address, dotted as in the state dict") {
  nn::TransformerBlock block(8, 2, 16, 0.0, 1e-6);
  const auto paths = nn::module_paths(block);
  CHECK(paths.at(&block).empty());
  CHECK(paths.at(block.attn.get()) == "attn");
  CHECK(paths.at(block.attn->qkv.get()) == "attn.qkv");
  CHECK(paths.at(block.mlp->fc2.get()) == "mlp.fc2");
  CHECK(paths.size() == 12);  // block, norm1, attn (+ qkv, proj, proj_drop), norm2, mlp (+ fc1, drop, fc2), mlp_drop
}

TEST_CASE("profile: a block's kernels are charged to its modules, forward and backward") {
  Generator gen(3);
  nn::TransformerBlock block(8, 2, 16, 0.0, 1e-6, &gen);
  const Tensor x = test::randn_leaf({2, 5, 8}, 4, false, DType::f32);
  profile::Profiler profiler;
  sum(block.forward(x)).backward();

  const auto paths = nn::module_paths(block);
  auto flops_of = [&](const std::string& path, Op op, profile::Phase phase) {
    int64_t flops = 0;
    for (const profile::Entry& e : profiler.entries())
      if (e.scope != nullptr && paths.contains(e.scope) && paths.at(e.scope) == path && e.op == op && e.phase == phase)
        flops += e.flops;
    return flops;
  };
  using profile::Phase;
  const int64_t tokens = 2 * 5;
  // three 8→8 products, each with its bias fused in (one add per output)
  CHECK(flops_of("attn.qkv", Op::matmul, Phase::forward) == 2 * tokens * 8 * 24 + tokens * 24);
  CHECK(flops_of("mlp.fc1", Op::matmul, Phase::forward) == 2 * tokens * 8 * 16 + tokens * 16);
  CHECK(flops_of("mlp.fc1", Op::matmul, Phase::backward) == 2 * 2 * tokens * 8 * 16);  // dx and dW
  CHECK(flops_of("attn", Op::attention, Phase::forward) == 2 * 2 * 5 * 5 * (4 * 4 + 5));
  CHECK(flops_of("attn", Op::attention, Phase::backward) == 2 * 2 * 5 * 5 * (8 * 4 + 4));
  CHECK(flops_of("norm1", Op::layer_norm, Phase::backward) > 0);
  // Every forward kernel ran inside some module of the block.
  for (const profile::Entry& e : profiler.entries())
    if (e.phase == Phase::forward && e.op != Op::sum) CHECK(paths.contains(e.scope));
}

TEST_CASE("profile: an optimizer step is the update phase, outside every module") {
  nn::Linear layer(3, 2);
  sum(layer.forward(test::randn_leaf({4, 3}, 5, false, DType::f32))).backward();
  nn::AdamW optimizer(layer.parameters());
  optimizer.step();  // the first step also allocates (fills) the moment buffers
  profile::Profiler profiler;
  optimizer.step();
  REQUIRE(profiler.entries().size() == 1);
  CHECK(profiler.entries()[0].op == Op::adamw_step);
  CHECK(profiler.entries()[0].phase == profile::Phase::update);
  CHECK(profiler.entries()[0].scope == nullptr);
  CHECK(profiler.entries()[0].flops == 15 * (3 * 2 + 2));
}
