// nn/init.h — weight initialisers, PyTorch's torch.nn.init formulas on sieve's Philox generator.
//
// Every initialiser writes in place under NoGradGuard (so it may be called on a parameter that
// requires grad) and draws from `gen`, or the default generator when null: the same seed gives
// the same weights, on any thread count, and later on CUDA.
// Fans follow PyTorch: for t: (out, in, k...) fan_in = in·Πk, fan_out = out·Πk; a 1-D tensor has
// fan_in = fan_out = its size.
//
// What it is not: choosing an init for a layer (each layer in nn/layers.cpp does that).
// Extend: a new initialiser maps uniform/normal draws (core/random.h) and copies them in.
#pragma once

#include <cmath>
#include <utility>

#include "core/random.h"
#include "core/tensor.h"

namespace sieve::nn::init {

std::pair<int64_t, int64_t> fans(const Tensor& t);  // (fan_in, fan_out)

void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void constant_(const Tensor& t, double value);
void uniform_(const Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
// N(mean, std²) conditioned on [a, b] (absolute bounds, as torch.nn.init.trunc_normal_), drawn by
// the inverse CDF so each element uses exactly one uniform draw.
void trunc_normal_(const Tensor& t, double std = 1.0, double a = -2.0, double b = 2.0, double mean = 0.0,
                   Generator* gen = nullptr);
// U(−g·√(6/(fan_in+fan_out)), +…)
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// U(−bound, bound), bound = √3 · √(2/(1+a²)) / √fan_in. The default a = √5 is PyTorch's Linear
// weight init, bound = 1/√fan_in.
void kaiming_uniform_(const Tensor& t, double a = std::sqrt(5.0), Generator* gen = nullptr);

}  // namespace sieve::nn::init
