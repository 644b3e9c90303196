// tools/train/probe.h — a linear probe: a softmax classifier trained on a model's frozen image
// features, the reference a zero-shot classifier is judged against (CLIP's paper reports both).
//
//   features = model.image_features(images)  (models::HasImageFeatures; CLIP: normalised embeddings)
//   probe    = Linear(F, classes) on the features standardised with the train split's mean and std
//              per dimension, trained with Adam in shuffled minibatches for `epochs` passes (more
//              on a small set: at least min_steps steps); its accuracy is measured on the test split
// The model runs once per image (features are computed up front, batch by batch, and kept on the
// CPU: 60,000 × 64 floats is 15 MB), so the probe itself takes seconds.
//
// What it is not: fine-tuning (the model is frozen) or a hyper-parameter sweep (OpenAI's probe
// sweeps the L2 penalty; ours uses one setting, said in ProbeOptions).
// Extend: another probe (k-NN) is another function here taking the same features.
#pragma once

#include "models/registry.h"
#include "tools/train/data.h"

namespace sieve::tools {

struct ProbeOptions {
  int64_t epochs = 20, batch_size = 256, min_steps = 1000;
  double lr = 1e-2;  // Adam, constant
  uint64_t seed = 0;
  int64_t eval_batch_size = 500;  // the model's batch while computing features
  bool quiet = false;
};

struct ProbeResult {
  double train_accuracy = 0, test_accuracy = 0;
  int64_t features = 0;  // F
  int64_t epochs = 0;    // passes made
  double seconds = 0;    // features and training together
};

// A model without image features is an error naming it.
ProbeResult linear_probe(nn::Module& model, const ImageSet& train, const ImageSet& test, const DatasetInfo& data,
                         const ProbeOptions& options);

// The probe's two steps, apart: (N, F) features → a trained Linear's accuracy on both sets.
ProbeResult train_probe(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                        const Tensor& test_labels, int64_t classes, const ProbeOptions& options);

}  // namespace sieve::tools
