// tools/examples/train_mnist.cpp — sieve's C++ API without the command line: a two-layer MLP
// trained on MNIST with AdamW, then evaluated. Run it as train_mnist [DATA_DIR [EPOCHS]]
// (DATA_DIR holds the four MNIST files, from `tools/fetch-data mnist`; default data/mnist).
//
// What it is not: `sieve train` (tools/train/trainer.cpp adds schedules, checkpoints, resume).
// Extend: swap the model for any nn::Module, or the loss for any op; gradients come free.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "datasets/vision.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "ops/reduce.h"

using namespace sieve;

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : "data/mnist";
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;
  const ImageSet train = load_mnist(dir, /*train=*/true), test = load_mnist(dir, /*train=*/false);

  Generator init(0);                                      // the same seed, the same weights
  nn::MLP model(28 * 28, 128, 10, GeluApprox::none, 0.0, &init);
  nn::AdamW optimizer(model.parameters(), {.lr = 1e-3, .weight_decay = 0.01});  // fc1–GELU–fc2

  Loader loader(train.images.reshape({-1, 28 * 28}), train.labels, {.batch_size = 128, .seed = 0});
  for (int epoch = 0; epoch < epochs; ++epoch) {
    loader.start_epoch(epoch);
    double loss_sum = 0;
    int64_t steps = 0;
    while (auto batch = loader.next()) {
      Tensor loss = cross_entropy(model.forward(batch->inputs), batch->targets);  // (B, 10) vs (B)
      loss.backward();                                     // every parameter's .grad()
      optimizer.step();
      optimizer.zero_grad();
      loss_sum += loss.item();
      ++steps;
    }
    std::printf("epoch %d: train loss %.4f\n", epoch + 1, loss_sum / static_cast<double>(steps));
  }

  NoGradGuard no_grad;                                     // evaluation records no graph
  model.eval();
  const Tensor logits = model.forward(test.images.reshape({-1, 28 * 28}));  // (N, 10)
  const std::vector<int64_t> predicted = argmax(logits, -1).to_vector<int64_t>();
  const std::vector<int64_t> labels = test.labels.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  std::printf("test accuracy %.2f%% on %zu images\n", 100.0 * static_cast<double>(correct) / labels.size(),
              labels.size());
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "train_mnist: %s\n", e.what());
  return 1;
}
