// tests/nn/test_nn.cpp — Module (names, counts, state dicts, modes, flags), the layers and init.
#include <cmath>
#include <set>

#include "autograd/grad_mode.h"
#include "cuda/backend.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/helpers.h"

using namespace sieve;
using namespace sieve::nn;

namespace {

// A tiny ViT-like tree: blocks.<i>.{norm, mlp.{fc1, drop, fc2}} plus a head and a buffer.
struct Block : Module {
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<MLP> mlp;
  explicit Block(int64_t c) : Module("Block") {
    norm = register_module("norm", std::make_shared<LayerNorm>(c));
    mlp = register_module("mlp", std::make_shared<MLP>(c, 2 * c));
  }
  Tensor forward(const Tensor& x) override { return x + mlp->forward(norm->forward(x)); }
};

struct Net : Module {
  std::shared_ptr<ModuleList> blocks;
  std::shared_ptr<Linear> head;
  Tensor pos;
  Net(int64_t c, int depth) : Module("Net") {
    pos = register_parameter("pos", zeros({1, c}));
    register_buffer("seen", zeros({1}, {.dtype = DType::i64}));
    blocks = register_module("blocks", std::make_shared<ModuleList>());
    for (int i = 0; i < depth; ++i) blocks->push_back(std::make_shared<Block>(c));
    head = register_module("head", std::make_shared<Linear>(c, 3, false));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x + pos;
    for (size_t i = 0; i < blocks->size(); ++i) h = (*blocks)[i]->forward(h);
    return head->forward(h);
  }
};

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (auto& p : m.named_parameters()) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_CASE("named_parameters: dotted PyTorch names in registration order, and counts") {
  manual_seed(0);
  Net net(4, 2);
  const std::vector<std::string> expected = {
      "pos",
      "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias",
      "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
      "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc1.bias",
      "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias",
      "head.weight"};
  CHECK(names_of(net) == expected);
  // pos 4; per block: norm 4+4, fc1 8·4+8, fc2 4·8+4 = 84; head 3·4 = 12.
  CHECK(net.num_parameters() == 4 + 2 * 84 + 12);
  CHECK(net.parameters().size() == expected.size());
  for (auto& p : net.parameters()) CHECK(p.requires_grad());
  auto buffers = net.named_buffers();
  REQUIRE(buffers.size() == 1);
  CHECK(buffers[0].first == "seen");
  CHECK(net.state_dict().size() == expected.size() + 1);
  // The handles are the layers' own tensors.
  CHECK(net.state_dict().at("blocks.1.mlp.fc2.weight").same(net.blocks->at<Block>(1)->mlp->fc2->weight));
}

TEST_CASE("Module::to: device(), a move to the device it is on keeps every storage, non-leaves refused") {
  Net net(4, 1);
  CHECK(net.device() == kCPU);
  CHECK(Linear(2, 2).device() == kCPU);
  std::vector<const void*> before;
  for (const Tensor& p : net.parameters()) before.push_back(p.raw_data());
  net.to(kCPU);
  std::vector<const void*> after;
  for (const Tensor& p : net.parameters()) after.push_back(p.raw_data());
  CHECK(before == after);
  Tensor leaf = randn({3}).requires_grad_();
  Tensor op_output = leaf * 2.0;
  move_storage_({leaf}, kCPU);  // already there: nothing to do, no error
  if (cuda::available())
    CHECK(test::contains(test::error_of([&] { move_storage_({op_output}, kCUDA); }), "leaves only"));
}

TEST_CASE("register: duplicate and dotted names are errors") {
  struct Bad : Module {
    explicit Bad(int which) : Module("Bad") {
      register_parameter("w", zeros({2}));
      if (which == 0) register_buffer("w", zeros({2}));
      if (which == 1) register_parameter("a.b", zeros({2}));
    }
  };
  CHECK_THROWS_WITH_AS(Bad(0), doctest::Contains("Bad: 'w' is already registered"), Error);
  CHECK_THROWS_WITH_AS(Bad(1), doctest::Contains("contain no '.'"), Error);
}

TEST_CASE("state_dict round trip, and strict errors list missing and unexpected keys") {
  manual_seed(1);
  Net a(4, 2);
  manual_seed(2);
  Net b(4, 2);
  CHECK_FALSE(test::compare(a.head->weight, b.head->weight).empty());  // different seeds differ
  Tensor b_weight = b.head->weight;  // the handle must survive the load
  b.load_state_dict(a.state_dict());
  CHECK(b_weight.same(b.head->weight));
  for (auto& [name, t] : a.state_dict()) CHECK_CLOSE(b.state_dict().at(name), t, 0.0, 0.0);
  // The copy is deep: changing a afterwards leaves b alone.
  {
    NoGradGuard no_grad;
    init::ones_(a.head->weight);
  }
  CHECK_FALSE(test::compare(a.head->weight, b.head->weight).empty());

  std::map<std::string, Tensor> sd = a.state_dict();
  sd.erase("blocks.0.norm.bias");
  sd.erase("head.weight");
  sd["head.extra"] = zeros({3});
  const std::string msg = test::error_of([&] { b.load_state_dict(sd); });
  CHECK(test::contains(msg, "Net: load_state_dict: missing keys [blocks.0.norm.bias, head.weight]"));
  CHECK(test::contains(msg, "unexpected keys [head.extra]"));
  // Non-strict: loads what matches, ignores the rest.
  CHECK_NOTHROW(b.load_state_dict(sd, false));
  CHECK_CLOSE(b.pos, a.pos, 0.0, 0.0);

  std::map<std::string, Tensor> wrong = a.state_dict();
  wrong["head.weight"] = zeros({4, 3});
  CHECK_THROWS_WITH_AS(b.load_state_dict(wrong), doctest::Contains("'head.weight' expects float32 (3, 4)"), Error);
  wrong["head.weight"] = zeros({3, 4}, {.dtype = DType::f64});
  CHECK_THROWS_WITH_AS(b.load_state_dict(wrong), doctest::Contains("'head.weight' expects"), Error);
}

TEST_CASE("train/eval propagate to every descendant; Dropout follows its flag") {
  manual_seed(3);
  Net net(4, 2);
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.blocks->at<Block>(1)->mlp->drop->is_training());
  net.train();
  CHECK(net.blocks->at<Block>(0)->mlp->fc1->is_training());

  Dropout drop(0.5);
  Tensor x = ones({1000});
  Tensor y = drop.forward(x);
  int64_t dropped = 0;
  for (float v : y.to_vector<float>()) dropped += v == 0.0f;
  CHECK(dropped > 400);
  CHECK(dropped < 600);
  drop.eval();
  CHECK(drop.forward(x).same(x));
}

TEST_CASE("no-weight-decay flags: by name and by the biases-and-norms rule") {
  manual_seed(4);
  Net net(4, 1);
  net.set_no_weight_decay("pos");
  CHECK_THROWS_WITH_AS(net.set_no_weight_decay("blocks.7.norm.weight"),
                       doctest::Contains("no parameter named 'blocks.7.norm.weight'"), Error);
  net.no_weight_decay_for_biases_and_norms();
  std::set<std::string> no_decay;
  for (auto& p : net.named_parameters())
    if (p.no_weight_decay) no_decay.insert(p.name);
  CHECK(no_decay == std::set<std::string>{"pos", "blocks.0.norm.weight", "blocks.0.norm.bias",
                                          "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.bias"});
}

TEST_CASE("Sequential chains forwards; a module without one names itself") {
  manual_seed(5);
  auto seq = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Linear>(3, 5), std::make_shared<RMSNorm>(5), std::make_shared<Linear>(5, 2)});
  CHECK(names_of(*seq) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "2.weight", "2.bias"});
  Tensor y = seq->forward(randn({4, 3}));
  CHECK(y.shape() == Shape{4, 2});
  Module plain("Plain");
  CHECK_THROWS_WITH_AS(plain.forward(y), doctest::Contains("Plain: this module has no one-tensor forward"), Error);
}

TEST_CASE("Linear equals x·Wᵀ + b by hand and passes gradcheck") {
  Linear lin(3, 2);
  {
    NoGradGuard no_grad;
    copy_(lin.weight, from_vector<float>({1, 2, 3, -1, 0, 1}, {2, 3}));
    copy_(lin.bias, from_vector<float>({0.5f, -0.5f}, {2}));
  }
  Tensor x = from_vector<float>({1, 1, 1, 2, 0, -1}, {2, 3});
  // row 0: (1+2+3)+0.5 = 6.5, (−1+0+1)−0.5 = −0.5; row 1: (2+0−3)+0.5 = −0.5, (−2+0−1)−0.5 = −3.5
  CHECK_CLOSE(lin.forward(x), from_vector<float>({6.5f, -0.5f, -0.5f, -3.5f}, {2, 2}));
  CHECK_CLOSE(lin.forward(from_vector<float>({1, 1, 1}, {3})), from_vector<float>({6.5f, -0.5f}, {2}));
  CHECK(lin.forward(zeros({2, 5, 3})).shape() == Shape{2, 5, 2});
  CHECK_THROWS_WITH_AS(lin.forward(zeros({2, 4})), doctest::Contains("Linear(3, 2): input float32 (2, 4)"), Error);

  // gradcheck in float64 through the layer's own forward, with W and b as inputs.
  Tensor xs = test::randn_leaf({2, 4, 3}, 11), w = test::randn_leaf({2, 3}, 12), b = test::randn_leaf({2}, 13);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        Linear l(3, 2);
        l.weight = in[1];  // the layer computes with the given leaves
        l.bias = in[2];
        return l.forward(in[0]);
      },
      {xs, w, b});
  // and the module's real parameters receive gradients
  lin.zero_grad();
  sum(lin.forward(x)).backward();
  CHECK_CLOSE(lin.weight.grad(), from_vector<float>({3, 1, 0, 3, 1, 0}, {2, 3}));
  CHECK_CLOSE(lin.bias.grad(), from_vector<float>({2, 2}, {2}));
}

TEST_CASE("Embedding, LayerNorm, RMSNorm, MLP: shapes and values") {
  manual_seed(6);
  Embedding emb(10, 4);
  Tensor ids = from_vector<int64_t>({1, 9, 1}, {3});
  Tensor e = emb.forward(ids);
  CHECK(e.shape() == Shape{3, 4});
  CHECK_CLOSE(e.select(0, 0), e.select(0, 2), 0.0, 0.0);
  CHECK_CLOSE(e.select(0, 1), emb.weight.select(0, 9), 0.0, 0.0);

  LayerNorm ln(4);
  Tensor y = ln.forward(from_vector<float>({1, 2, 3, 4}, {1, 4}));
  CHECK(std::abs(mean(y).item()) < 1e-6);
  RMSNorm rn(4);
  Tensor r = rn.forward(from_vector<float>({2, 2, 2, 2}, {1, 4}));
  CHECK_CLOSE(r, ones({1, 4}), 1e-5);
  MLP mlp(4, 16, 2);
  CHECK(mlp.forward(zeros({2, 3, 4})).shape() == Shape{2, 3, 2});
  CHECK(mlp.fc1->weight.shape() == Shape{16, 4});
  // MLP's gradient is its ops' gradients: gradcheck in float64 with the layers' tensors swapped
  // for float64 leaves.
  Tensor xs = test::randn_leaf({3, 4}, 21), w1 = test::randn_leaf({16, 4}, 22), w2 = test::randn_leaf({2, 16}, 23);
  Tensor b1 = test::randn_leaf({16}, 24), b2 = test::randn_leaf({2}, 25);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        mlp.fc1->weight = in[1], mlp.fc1->bias = in[2], mlp.fc2->weight = in[3], mlp.fc2->bias = in[4];
        return mlp.forward(in[0]);
      },
      {xs, w1, b1, w2, b2});
  LayerNorm plain(4, 1e-5, false);
  CHECK(plain.num_parameters() == 0);
}

TEST_CASE("init: statistics, truncation bounds, reproducibility") {
  const int64_t n = 200000;
  Generator gen(42);
  Tensor t = empty({n});
  init::trunc_normal_(t, 0.02, -0.04, 0.04, 0.0, &gen);
  const std::vector<float> v = t.to_vector<float>();
  double s = 0, s2 = 0, lo = 1, hi = -1;
  for (float x : v) s += x, s2 += double(x) * x, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
  const double m = s / n, sd = std::sqrt(s2 / n - m * m);
  CHECK(lo >= -0.04);
  CHECK(hi <= 0.04);
  CHECK(std::abs(m) < 2e-4);
  // The std of N(0, σ²) truncated at ±2σ is 0.8796·σ.
  CHECK(sd == doctest::Approx(0.8796 * 0.02).epsilon(0.01));

  // Default bounds ±2 with std 1: std 0.8796.
  init::trunc_normal_(t, 1.0, -2.0, 2.0, 0.0, &gen);
  double s2b = 0;
  for (float x : t.to_vector<float>()) s2b += double(x) * x;
  CHECK(std::sqrt(s2b / n) == doctest::Approx(0.8796).epsilon(0.01));

  init::normal_(t, 1.0, 2.0, &gen);
  s = s2 = 0;
  for (float x : t.to_vector<float>()) s += x, s2 += double(x) * x;
  CHECK(s / n == doctest::Approx(1.0).epsilon(0.02));
  CHECK(std::sqrt(s2 / n - (s / n) * (s / n)) == doctest::Approx(2.0).epsilon(0.01));

  // xavier: U(±√(6/(in+out))), variance bound²/3 = 2/(in+out).
  Tensor w = empty({300, 500});
  init::xavier_uniform_(w, 1.0, &gen);
  const double bound = std::sqrt(6.0 / 800.0);
  s2 = 0;
  int64_t outside = 0;
  for (float x : w.to_vector<float>()) {
    outside += std::abs(x) > bound;
    s2 += double(x) * x;
  }
  CHECK(outside == 0);
  CHECK(s2 / w.numel() == doctest::Approx(2.0 / 800.0).epsilon(0.02));
  // kaiming (Linear default): U(±1/√fan_in).
  init::kaiming_uniform_(w, std::sqrt(5.0), &gen);
  double mx = 0;
  for (float x : w.to_vector<float>()) mx = std::max<double>(mx, std::abs(x));
  CHECK(mx <= 1.0 / std::sqrt(500.0));
  CHECK(mx > 0.99 / std::sqrt(500.0));
  CHECK(init::fans(empty({8, 3, 2, 2})) == std::pair<int64_t, int64_t>{12, 32});

  // Same seed, same weights; a parameter that requires grad can be initialised.
  Generator g1(7), g2(7);
  Tensor a = zeros({5, 5}, {.requires_grad = true}), b = zeros({5, 5});
  init::trunc_normal_(a, 0.02, -0.04, 0.04, 0.0, &g1);
  init::trunc_normal_(b, 0.02, -0.04, 0.04, 0.0, &g2);
  CHECK_CLOSE(a, b, 0.0, 0.0);
  manual_seed(8);
  Linear l1(6, 4);
  manual_seed(8);
  Linear l2(6, 4);
  CHECK_CLOSE(l1.weight, l2.weight, 0.0, 0.0);
  CHECK_CLOSE(l1.bias, l2.bias, 0.0, 0.0);
  init::zeros_(l1.bias);
  CHECK_CLOSE(l1.bias, zeros({4}), 0.0, 0.0);
  init::ones_(l1.bias);
  CHECK_CLOSE(l1.bias, ones({4}), 0.0, 0.0);
}
