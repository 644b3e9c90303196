// nn/layers.cpp — the basic layers, each a few lines of ops (see nn/layers.h for shapes).
//
// Extend: a new layer registers its parameters in its constructor (initialised there, so a
// seeded generator reproduces the model) and writes forward from ops.
#include "nn/layers.h"

#include <cmath>

#include "nn/init.h"
#include "ops/dropout.h"
#include "ops/index.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace sieve::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* gen)
    : Module("Linear"), in_features(in), out_features(out) {
  SIEVE_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in {} out {}", in, out);
  weight = register_parameter("weight", empty({out, in}));
  init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
  if (with_bias) {
    bias = register_parameter("bias", empty({out}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  const ModuleScope scope(this);
  SIEVE_CHECK(x.ndim() >= 1 && x.size(-1) == in_features, "Linear({}, {}): input {} does not end in {}",
              in_features, out_features, x.describe(), in_features);
  // weight.t() is a transposed view: matmul hands it to BLAS as a transpose flag, no copy. The bias
  // (undefined without one) is added inside the product, one op and one graph node.
  return x.ndim() == 1 ? matmul(x.unsqueeze(0), weight.t(), bias).squeeze(0) : matmul(x, weight.t(), bias);
}

Embedding::Embedding(int64_t num, int64_t dim, Generator* gen) : Module("Embedding") {
  SIEVE_CHECK(num > 0 && dim > 0, "Embedding: sizes must be positive, got ({}, {})", num, dim);
  weight = register_parameter("weight", empty({num, dim}));
  init::normal_(weight, 0.0, 1.0, gen);
}

Tensor Embedding::forward(const Tensor& ids) {
  const ModuleScope scope(this);
  return embedding(weight, ids);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, bool affine) : Module("LayerNorm"), eps(eps_) {
  if (affine) {
    weight = register_parameter("weight", ones({dim}));
    bias = register_parameter("bias", zeros({dim}));
  }
}

std::string LayerNorm::constants() const { return fmt::format("layer_norm eps={:g}", eps); }

Tensor LayerNorm::forward(const Tensor& x) {
  const ModuleScope scope(this);
  return layer_norm(x, weight, bias, eps);
}

RMSNorm::RMSNorm(int64_t dim, double eps_) : Module("RMSNorm"), eps(eps_) {
  weight = register_parameter("weight", ones({dim}));
}

std::string RMSNorm::constants() const { return fmt::format("rms_norm eps={:g}", eps); }

Tensor RMSNorm::forward(const Tensor& x) {
  const ModuleScope scope(this);
  return rms_norm(x, weight, eps);
}

Dropout::Dropout(double p_, Generator* gen) : Module("Dropout"), p(p_), gen_(gen) {
  SIEVE_CHECK(p >= 0.0 && p <= 1.0, "Dropout: p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) {
  const ModuleScope scope(this);
  return dropout(x, p, is_training(), gen_);
}

MLP::MLP(int64_t in, int64_t hidden, int64_t out, GeluApprox approx_, double p, Generator* gen)
    : Module("MLP"), approx(approx_) {
  if (out < 0) out = in;
  fc1 = register_module("fc1", std::make_shared<Linear>(in, hidden, true, gen));
  // gen initialises weights only; dropout draws from the default generator, whose state a
  // training checkpoint saves (a generator held here would restart on resume).
  drop = register_module("drop", std::make_shared<Dropout>(p));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, out, true, gen));
}

std::string MLP::constants() const { return approx == GeluApprox::tanh ? "gelu tanh" : "gelu erf"; }

Tensor MLP::forward(const Tensor& x) {
  const ModuleScope scope(this);
  return fc2->forward(drop->forward(gelu(fc1->forward(x), approx)));
}

}  // namespace sieve::nn
