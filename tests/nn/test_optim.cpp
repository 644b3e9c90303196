// tests/nn/test_optim.cpp — optimizers against PyTorch 1.13 and the fused update ops behind them
// (adamw_step, sgd_step: their values, errors and batching), on every device, and the CUDA update
// kernels against the CPU's over three steps (parity); then state tensors, weight-decay groups,
// clip_grad_norm, schedules and an end-to-end MLP training run, on the CPU: that bookkeeping is
// the same on every device (tests/cuda/test_training.cpp trains on both).
//
// The reference numbers come from tests/nn/gen_optim_values.py (run once with torch; its output is
// pasted below): three steps on w0 = [0.5, −1, 2, 0] with the gradients in kGrads.
#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "ops/copy.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace sieve;
using namespace sieve::nn;

namespace {

const std::vector<std::vector<double>> kGrads = {{0.1, -0.2, 0.3, -0.4}, {-0.5, 0.25, 0.05, 1.0}, {0.2, 0.2, -0.1, 0.0}};

Tensor param0(DType dtype = DType::f64, Device device = kCPU) {
  return from_vector<double>({0.5, -1.0, 2.0, 0.0}, {4}).to(dtype).to(device).requires_grad_();
}

// Three steps of `opt` on p with the fixed gradients.
void run3(Optimizer& opt, const Tensor& p) {
  for (const auto& g : kGrads) {
    Tensor(p).set_grad(from_vector<double>(g, {4}).to(p.dtype()).to(p.device()));
    opt.step();
  }
}

Tensor f64(std::vector<double> v) { return from_vector<double>(v, {static_cast<int64_t>(v.size())}); }

}  // namespace

TEST_CASE("SGD, momentum with dampening, Nesterov: three steps match torch.optim.SGD") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      {
        Tensor p = param0(DType::f64, dev);
        SGD opt(std::vector<Tensor>{p}, {.lr = 0.1});
        run3(opt, p);
        CHECK_CLOSE(p, f64({0.52, -1.025, 1.975, -0.06}), 1e-12, 1e-12);
        CHECK(opt.state_tensors().empty());  // no momentum, no state
      }
      {
        Tensor p = param0(DType::f64, dev);
        SGD opt(std::vector<Tensor>{p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
        run3(opt, p);
        CHECK_CLOSE(p, f64({0.5377358064950001, -1.0012823629899998, 1.90862508408, -0.0626557676}), 1e-12, 1e-12);
        CHECK(opt.state_tensors().count("state.0.momentum_buffer") == 1);
      }
      {
        Tensor p = param0(DType::f64, dev);
        SGD opt(std::vector<Tensor>{p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
        run3(opt, p);
        CHECK_CLOSE(p, f64({0.5590148619805, -1.029050473961, 1.886536586512, -0.13349064564000002}), 1e-12, 1e-12);
      }
      CHECK_THROWS_WITH_AS(SGD(std::vector<Tensor>{param0()}, {.nesterov = true}),
                           doctest::Contains("Nesterov needs momentum > 0"), Error);
    }
  }
}

TEST_CASE("Adam (L2) and AdamW (decoupled): three steps match torch.optim") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      for (DType dtype : {DType::f64, DType::f32}) {
        const double tol = dtype == DType::f64 ? 1e-12 : 1e-6;
        INFO(dtype_name(dtype));
        {
          Tensor p = param0(dtype, dev);
          Adam opt(std::vector<Tensor>{p}, {.lr = 0.01, .weight_decay = 0.1});
          run3(opt, p);
          CHECK_CLOSE(p.to(DType::f64), f64({0.49536325941464154, -0.987255984944604, 1.9724858780904797, 0.0021507197337537844}), tol, tol);
        }
        {
          Tensor p = param0(dtype, dev);
          AdamW opt(std::vector<Tensor>{p}, {.lr = 0.01, .weight_decay = 0.1});
          run3(opt, p);
          CHECK_CLOSE(p.to(DType::f64), f64({0.4964709978437737, -0.9931015509079095, 1.9724460076907249, 0.0021439425724548693}), tol, tol);
          auto st = opt.state_tensors();
          CHECK(st.at("state.0.step").item() == 3);
          CHECK_CLOSE(st.at("state.0.exp_avg").to(DType::f64),
                      f64({-0.01689999999999999, 0.026299999999999994, 0.018799999999999997, 0.05759999999999998}), tol, tol);
          CHECK_CLOSE(st.at("state.0.exp_avg_sq").to(DType::f64),
                      f64({0.0002997300100000003, 0.00014235754000000014, 0.0001023175900000001, 0.001158680160000001}), tol, tol);
        }
      }
    }
  }
}

TEST_CASE("optimizer state round trip: a restored AdamW continues exactly like the original") {
  Tensor p = param0(), q = param0();
  AdamW a(std::vector<Tensor>{p}, {.lr = 0.01, .weight_decay = 0.1});
  Tensor(p).set_grad(f64(kGrads[0]));
  a.step();
  AdamW b(std::vector<Tensor>{q}, {.lr = 0.01, .weight_decay = 0.1});
  {
    NoGradGuard no_grad;
    copy_(q, p);
  }
  // Deep copies, as a checkpoint file would hold them.
  std::map<std::string, Tensor> saved;
  for (auto& [k, t] : a.state_tensors()) saved[k] = t.clone();
  b.load_state_tensors(saved);
  CHECK(b.step_count(0) == 1);
  for (int s = 1; s < 3; ++s) {
    Tensor(p).set_grad(f64(kGrads[s]));
    Tensor(q).set_grad(f64(kGrads[s]));
    a.step();
    b.step();
  }
  CHECK_CLOSE(q, p, 0.0, 0.0);
  CHECK_THROWS_WITH_AS(b.load_state_tensors({{"state.5.exp_avg", zeros({4})}}),
                       doctest::Contains("names parameter 5 but there are 1"), Error);
  CHECK_THROWS_WITH_AS(b.load_state_tensors({{"state.0.exp_avg", zeros({3})}}),
                       doctest::Contains("state 'state.0.exp_avg' must have the parameter's shape"), Error);
  CHECK_THROWS_WITH_AS(b.load_state_tensors({{"state.0.velocity", zeros({4})}}),
                       doctest::Contains("unknown state field"), Error);
}

TEST_CASE("AdamW groups: no-decay parameters are not decayed; params without grads are skipped") {
  // With a zero gradient the Adam part is exactly 0 (m = v = 0 → 0 / eps), so only decay moves w.
  manual_seed(3);
  Linear lin(2, 2);
  lin.no_weight_decay_for_biases_and_norms();
  const Tensor w_before = lin.weight.clone().detach(), b_before = lin.bias.clone().detach();
  AdamW opt(weight_decay_groups(lin, 0.5), {.lr = 0.1});
  REQUIRE(opt.param_groups().size() == 2);
  CHECK(opt.param_groups()[0].weight_decay == 0.5);
  CHECK(opt.param_groups()[1].weight_decay == 0.0);
  CHECK(opt.param_groups()[0].lr == 0.1);
  lin.weight.set_grad(zeros({2, 2}));
  lin.bias.set_grad(zeros({2}));
  opt.step();
  CHECK_CLOSE(lin.weight, w_before * (1.0 - 0.1 * 0.5), 1e-7);
  CHECK_CLOSE(lin.bias, b_before, 0.0, 0.0);

  // A parameter without a gradient keeps its value and gets no state.
  opt.zero_grad();
  CHECK_FALSE(lin.weight.grad().defined());
  lin.weight.set_grad(zeros({2, 2}));
  const Tensor b_now = lin.bias.clone().detach();
  opt.step();
  CHECK_CLOSE(lin.bias, b_now, 0.0, 0.0);
  CHECK(opt.step_count(0) == 2);
  CHECK(opt.step_count(1) == 1);

  CHECK_THROWS_WITH_AS(AdamW(std::vector<Tensor>{lin.weight, lin.weight}),
                       doctest::Contains("AdamW: parameter 0 appears again as parameter 1"), Error);
}

TEST_CASE("fused update ops: errors name the op and the entry") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      Tensor p = zeros({3}, {.device = dev}), g = zeros({2}, {.device = dev});
      NoGradGuard no_grad;
      const std::string mismatch =
          fmt::format("adamw_step: entry 0: grad float32 (2,) on {0} does not match param float32 (3,)", dev.str());
      CHECK_THROWS_WITH_AS(adamw_step({p}, {g}, {zeros({3}, {.device = dev})}, {zeros({3}, {.device = dev})},
                                      {AdamParamHyper{}}, {}),
                           doctest::Contains(mismatch.c_str()), Error);
      CHECK_THROWS_WITH_AS(sgd_step({p}, {}, {}, {}, {}), doctest::Contains("sgd_step: 1 params but 0 grads"), Error);
      Tensor wide = zeros({3, 2}, {.device = dev});
      CHECK_THROWS_WITH_AS(sgd_step({wide.t()}, {zeros({2, 3}, {.device = dev})}, {}, {SgdParamHyper{}}, {}),
                           doctest::Contains("must be contiguous"), Error);
    }
  }
}

TEST_CASE("fused update ops: many tensors in one call equal one call per tensor") {
  for (Device dev : test::test_devices()) {
    SUBCASE(dev.str().c_str()) {
      // Sizes straddle the kernel's chunk size so chunks split tensors.
      std::vector<Tensor> ps, gs, ms, vs, ps2;
      std::vector<AdamParamHyper> hs;
      const std::vector<int64_t> sizes = {1, 7, 40000, 100000};
      for (size_t i = 0; i < sizes.size(); ++i) {
        ps.push_back(test::randn_leaf({sizes[i]}, 20 + i, false, DType::f32, dev));
        ps2.push_back(ps.back().clone());
        gs.push_back(test::randn_leaf({sizes[i]}, 30 + i, false, DType::f32, dev));
        ms.push_back(zeros({sizes[i]}, {.device = dev}));
        vs.push_back(zeros({sizes[i]}, {.device = dev}));
        hs.push_back({.lr = 0.01 * (i + 1), .weight_decay = 0.1 * i, .step = int64_t(i + 1)});
      }
      NoGradGuard no_grad;
      adamw_step(ps, gs, ms, vs, hs, {});
      for (size_t i = 0; i < sizes.size(); ++i) {
        Tensor m = zeros({sizes[i]}, {.device = dev}), v = zeros({sizes[i]}, {.device = dev});
        adamw_step({ps2[i]}, {gs[i]}, {m}, {v}, {hs[i]}, {});
        CHECK_CLOSE(ps2[i], ps[i], 0.0, 0.0);
        CHECK_CLOSE(m, ms[i], 0.0, 0.0);
      }
    }
  }
}

TEST_CASE("parity: adamw_step and sgd_step, CUDA against CPU over three steps") {
  if (!test::gpu_or_skip()) return;
  const std::vector<Shape> shapes = {{1}, {7}, {13, 130}, {1000}};
  const size_t n = shapes.size();
  for (DType dtype : test::kFloatTypes)
    for (int variant = 0; variant < 5; ++variant) {  // AdamW, Adam (L2), SGD momentum, Nesterov, plain SGD
      auto run = [&](Device dev) {
        NoGradGuard no_grad;
        std::vector<Tensor> params, m, v, out;
        for (size_t i = 0; i < n; ++i) {
          params.push_back(test::leaf(shapes[i], 130 + i, dtype, false).to(dev).clone());  // clone: its own storage
          m.push_back(zeros(shapes[i], {.dtype = dtype, .device = dev}));
          v.push_back(zeros(shapes[i], {.dtype = dtype, .device = dev}));
        }
        for (int64_t step = 1; step <= 3; ++step) {
          std::vector<Tensor> grads;
          for (size_t i = 0; i < n; ++i)
            grads.push_back(test::leaf(shapes[i], 140 + 10 * step + i, dtype, false).to(dev));
          if (variant < 2) {
            const std::vector<AdamParamHyper> h(n, AdamParamHyper{.lr = 0.01, .weight_decay = 0.1, .step = step});
            adamw_step(params, grads, m, v, h, {.decoupled_weight_decay = variant == 0});
          } else {
            const std::vector<SgdParamHyper> h(
                n, SgdParamHyper{.lr = 0.1, .weight_decay = 0.01, .init_buffer = step == 1});
            const SgdOptions o = variant == 2   ? SgdOptions{.momentum = 0.9, .dampening = 0.1}
                                 : variant == 3 ? SgdOptions{.momentum = 0.9, .nesterov = true}
                                                : SgdOptions{};
            sgd_step(params, grads, variant == 4 ? std::vector<Tensor>{} : m, h, o);
          }
        }
        for (const auto* list : {&params, &m, &v})
          for (const Tensor& t : *list) out.push_back(t.to(kCPU));
        return out;
      };
      const std::vector<Tensor> cpu = run(kCPU), gpu = run(kCUDA);
      for (size_t i = 0; i < cpu.size(); ++i) {
        INFO(dtype_name(dtype), " variant ", variant, " tensor ", i);
        CHECK_CLOSE(gpu[i], cpu[i], test::parity_atol(dtype), test::parity_rtol(dtype));
      }
    }
}

TEST_CASE("clip_grad_norm: returns the total norm and scales like torch") {
  Tensor a = zeros({2}, {.dtype = DType::f64, .requires_grad = true});
  Tensor b = zeros({2}, {.dtype = DType::f64, .requires_grad = true});
  Tensor c = zeros({2}, {.dtype = DType::f64, .requires_grad = true});  // no grad: ignored
  a.set_grad(f64({3, 0}));
  b.set_grad(f64({0, 4}));
  CHECK(clip_grad_norm({a, b, c}, 1.0) == doctest::Approx(5.0));
  CHECK_CLOSE(a.grad(), f64({0.599999880000024, 0.0}), 1e-12, 1e-12);
  CHECK_CLOSE(b.grad(), f64({0.0, 0.799999840000032}), 1e-12, 1e-12);
  // Under the limit: untouched.
  CHECK(clip_grad_norm({a, b}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK_CLOSE(b.grad(), f64({0.0, 0.799999840000032}), 0.0, 0.0);
}

TEST_CASE("schedules: warmup + cosine and step values at known steps") {
  WarmupCosine wc(1.0, 10, 110, 0.1);
  CHECK(wc.lr(0) == doctest::Approx(0.1));
  CHECK(wc.lr(4) == doctest::Approx(0.5));
  CHECK(wc.lr(9) == doctest::Approx(1.0));
  CHECK(wc.lr(10) == doctest::Approx(1.0));
  CHECK(wc.lr(60) == doctest::Approx(0.55));                                            // halfway: (1 + 0.1) / 2
  CHECK(wc.lr(35) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.25))));  // a quarter
  CHECK(wc.lr(110) == doctest::Approx(0.1));
  CHECK(wc.lr(1000) == doctest::Approx(0.1));
  CHECK_THROWS_WITH_AS(WarmupCosine(1.0, 10, 10), doctest::Contains("WarmupCosine: need"), Error);

  StepLR st(0.1, 30, 0.1);
  CHECK(st.lr(0) == doctest::Approx(0.1));
  CHECK(st.lr(29) == doctest::Approx(0.1));
  CHECK(st.lr(30) == doctest::Approx(0.01));
  CHECK(st.lr(95) == doctest::Approx(1e-4));

  Tensor p = param0();
  SGD opt(std::vector<Tensor>{p}, {.lr = 5.0});
  opt.set_lr(wc.lr(4));
  CHECK(opt.param_groups()[0].lr == doctest::Approx(0.5));
}

TEST_CASE("end to end: a 2-layer MLP trained with AdamW learns a synthetic classification task") {
  // Three classes by the sign pattern of two features of 8-d Gaussian inputs; 256 samples.
  manual_seed(123);
  const int64_t n = 256, d = 8;
  Tensor x = randn({n, d});
  std::vector<int64_t> labels(n);
  const std::vector<float> xv = x.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float a = xv[i * d], b = xv[i * d + 1];
    labels[i] = a > 0 ? (b > 0 ? 0 : 1) : 2;
  }
  Tensor y = from_vector<int64_t>(labels, {n});

  MLP model(d, 32, 3);
  model.no_weight_decay_for_biases_and_norms();
  AdamW opt(weight_decay_groups(model, 0.01), {.lr = 1e-2});
  WarmupCosine sched(1e-2, 10, 150, 1e-4);
  double first = 0, last = 0;
  for (int64_t step = 0; step < 150; ++step) {
    opt.set_lr(sched.lr(step));
    Tensor loss = cross_entropy(model.forward(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    clip_grad_norm(model.parameters(), 5.0);
    opt.step();
  }
  INFO("loss ", first, " → ", last);
  CHECK(first > 0.9);
  CHECK(last < first / 10);
  // Accuracy on the training set.
  NoGradGuard no_grad;
  const std::vector<int64_t> pred = argmax(model.forward(x), 1).to_vector<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += pred[i] == labels[i];
  CHECK(correct > n * 9 / 10);
}
