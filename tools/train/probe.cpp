// tools/train/probe.cpp — the linear probe (see probe.h).
#include "tools/train/probe.h"

#include <chrono>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tools/train/progress.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

double accuracy_of(nn::Linear& probe, const Tensor& features, const Tensor& labels) {
  NoGradGuard no_grad;
  int64_t n = 0;
  const int64_t correct = count_correct(probe.forward(features), labels, &n);
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(n, 1));
}

}  // namespace

ProbeResult train_probe(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                        const Tensor& test_labels, int64_t classes, const ProbeOptions& options) {
  SIEVE_CHECK(train_features.ndim() == 2 && train_features.size(0) == train_labels.size(0) &&
                  test_features.ndim() == 2 && test_features.size(1) == train_features.size(1),
              "linear probe: features {} / {} do not match labels {} / {}", shape_str(train_features.shape()),
              shape_str(test_features.shape()), shape_str(train_labels.shape()), shape_str(test_labels.shape()));
  const int64_t n = train_features.size(0), F = train_features.size(1);
  // Standardised with the train split's statistics: Adam then sees features of unit scale.
  const Tensor mu = mean(train_features, {0}, true);
  const Tensor inv_sd = rsqrt(mean((train_features - mu) * (train_features - mu), {0}, true) + 1e-8);
  const Tensor train_x = (train_features - mu) * inv_sd, test_x = (test_features - mu) * inv_sd;
  Generator gen(options.seed);
  nn::Linear probe(F, classes, true, &gen);
  nn::Adam optimizer(probe.parameters(), {.lr = options.lr});
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  const int64_t epochs = std::max(options.epochs, (options.min_steps + steps_per_epoch - 1) / steps_per_epoch);
  ProgressBar bar("probe", epochs * steps_per_epoch, options.quiet);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    // A fresh order each epoch: the ranks of uniform draws.
    const Tensor order = argsort(rand({n}, {}, &gen));
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t start = s * options.batch_size, size = std::min(options.batch_size, n - start);
      const Tensor rows = order.narrow(0, start, size);
      const Tensor loss = cross_entropy(probe.forward(index_select(train_x, 0, rows)),
                                        index_select(train_labels, 0, rows));
      loss.backward();
      optimizer.step();
      optimizer.zero_grad();
      bar.update(epoch * steps_per_epoch + s + 1, {{"loss", fmt::format("{:.4f}", loss.item())}});
    }
  }
  bar.finish();
  return {.train_accuracy = accuracy_of(probe, train_x, train_labels),
          .test_accuracy = accuracy_of(probe, test_x, test_labels),
          .features = F,
          .epochs = epochs};
}

ProbeResult linear_probe(nn::Module& model, const ImageSet& train, const ImageSet& test, const DatasetInfo& data,
                         const ProbeOptions& options) {
  auto* source = dynamic_cast<models::HasImageFeatures*>(&model);
  SIEVE_CHECK(source != nullptr, "--probe: a {} has no image features to probe (clip has)", model.type_name());
  const auto start = std::chrono::steady_clock::now();
  auto features = [&](const Tensor& images) { return source->image_features(images); };
  const Tensor train_features = predict_logits(model, train.images, data, options.eval_batch_size, options.quiet, features);
  const Tensor test_features = predict_logits(model, test.images, data, options.eval_batch_size, options.quiet, features);
  ProbeResult r = train_probe(train_features, train.labels, test_features, test.labels, data.classes, options);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace sieve::tools
