// datasets/vision.h — small image-classification sets: MNIST, Fashion-MNIST, CIFAR-10 (binary).
//
// What it is: loaders that read a whole split into two CPU tensors,
//   images float32 (N, C, H, W) scaled to [0, 1] and labels int64 (N,) in 0..9.
// MNIST and Fashion-MNIST share file names and format: dir holds
//   train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
// each raw or with ".gz" (tools/fetch-data mnist|fashion-mnist puts them in data/<name>/).
// CIFAR-10's binary version: dir (or dir/cifar-10-batches-bin) holds data_batch_1.bin ..
// data_batch_5.bin (train) and test_batch.bin; each record is 1 label byte + 3072 pixel bytes
// (1024 red, 1024 green, 1024 blue, rows of 32), i.e. already CHW.
// Every file is checked (shape, counts, labels < 10); a problem is a sieve::Error naming the file.
// What it is not: batching, shuffling or augmentation (the loader, next), nor a downloader.
//
// Memory: float32 images cost 4 bytes per pixel: MNIST train 188 MB, CIFAR-10 train 614 MB.
//
// Extend: a new set with its own file layout gets a load_<name>() here returning ImageSet.
#pragma once

#include <string>

#include "core/tensor.h"

namespace sieve {

struct ImageSet {
  Tensor images;  // float32 (N, C, H, W) in [0, 1]
  Tensor labels;  // int64 (N,)
};

// train: the 60000-image split; otherwise the 10000-image test split (t10k).
ImageSet load_mnist(const std::string& dir, bool train);
// train: data_batch_1..5.bin (50000 images); otherwise test_batch.bin (10000).
ImageSet load_cifar10(const std::string& dir, bool train);

}  // namespace sieve
