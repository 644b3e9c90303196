// models/mlp.cpp — MlpClassifier (see mlp.h).
#include "models/mlp.h"

#include "ops/elementwise.h"

namespace sieve::models {

MlpClassifier::MlpClassifier(int64_t in, const std::vector<int64_t>& hidden, int64_t classes, double dropout,
                             Generator* gen)
    : Module("MlpClassifier"), in_features(in) {
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  int64_t width = in;
  for (int64_t h : hidden) {
    layers->push_back(std::make_shared<nn::Linear>(width, h, true, gen));
    width = h;
  }
  drop = register_module("drop", std::make_shared<nn::Dropout>(dropout));  // default generator: see nn/layers.h
  head = register_module("head", std::make_shared<nn::Linear>(width, classes, true, gen));
}

Tensor MlpClassifier::forward(const Tensor& x) {
  SIEVE_CHECK(x.ndim() >= 2 && x.numel() / x.size(0) == in_features,
              "MlpClassifier: expects (B, ...) with {} features per sample, got {}", in_features, shape_str(x.shape()));
  const nn::ModuleScope scope(this);
  Tensor h = x.reshape({x.size(0), in_features});
  for (size_t i = 0; i < layers->size(); ++i) h = drop->forward(relu(layers->at<nn::Linear>(i)->forward(h)));
  return head->forward(h);
}

}  // namespace sieve::models
