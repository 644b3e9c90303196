// dist/data_parallel.cpp — DataParallel (see data_parallel.h).
#include "dist/data_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "dist/dist.h"

namespace sieve::dist {

namespace {

void check_cpu_float(const Tensor& t, const char* what) {
  SIEVE_CHECK(t.device() == kCPU, "data parallel: a {} on {} (only CPU tensors for now)", what, t.describe());
  SIEVE_CHECK(t.dtype() == DType::f32, "data parallel: a {} of {} (float32 only)", what, t.describe());
}

// A parameter's or buffer's values (any dtype), moved to every rank from rank 0, in place.
void broadcast_tensor(const Tensor& t) {
  SIEVE_CHECK(t.device() == kCPU && t.is_contiguous(), "data parallel: a parameter or buffer on {}, or not "
              "contiguous (only contiguous CPU tensors for now)", t.describe());
  broadcast(t.raw_data(), t.numel() * static_cast<int64_t>(dtype_size(t.dtype())));
}

}  // namespace

DataParallel::DataParallel(nn::Module& model, int64_t bucket_bytes) : model_(model) {
  for (const Tensor& p : model.parameters())
    if (p.requires_grad()) {
      check_cpu_float(p, "parameter");
      params_.push_back(p);
    }
  int64_t bytes = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    if (buckets_.empty() || bytes >= bucket_bytes) buckets_.emplace_back(), bytes = 0;
    buckets_.back().push_back(i);
    bytes += params_[i].numel() * static_cast<int64_t>(sizeof(float));
  }
}

void DataParallel::broadcast_state() {
  if (size() == 1) return;
  // For tests/tools/test_ddp.py: SIEVE_TEST_SKEW_INIT=1 makes every rank but 0 start from other
  // weights, which the broadcast below must overwrite (the run then equals an unskewed one).
  if (const char* skew = std::getenv("SIEVE_TEST_SKEW_INIT"); skew != nullptr && std::string(skew) == "1" && rank() != 0)
    for (const Tensor& p : model_.parameters())
      if (p.device() == kCPU && p.dtype() == DType::f32 && p.is_contiguous())
        for (int64_t i = 0; i < p.numel(); ++i) p.data<float>()[i] += 0.5f;
  for (const Tensor& p : model_.parameters()) broadcast_tensor(p);
  for (const auto& [name, b] : model_.named_buffers()) broadcast_tensor(b);
}

std::pair<int64_t, int64_t> DataParallel::slice(int64_t n) {
  const int64_t N = size(), r = rank();
  return {r * n / N, (r + 1) * n / N};
}

double DataParallel::loss_weight(int64_t rows, int64_t n) {
  return static_cast<double>(rows) * static_cast<double>(size()) / static_cast<double>(n);
}

void DataParallel::average_gradients() {
  if (size() == 1) return;
  const float inverse = 1.0f / static_cast<float>(size());
  std::vector<float> flat;
  for (const std::vector<size_t>& bucket : buckets_) {
    flat.clear();
    for (size_t i : bucket) {
      const Tensor g = params_[i].grad();
      if (g.defined()) {
        check_cpu_float(g, "gradient");
        const std::vector<float> values = g.to_vector<float>();
        flat.insert(flat.end(), values.begin(), values.end());
      } else {
        flat.insert(flat.end(), static_cast<size_t>(params_[i].numel()), 0.0f);
      }
    }
    for (size_t i : bucket) flat.push_back(params_[i].grad().defined() ? 1.0f : 0.0f);  // who had one
    allreduce_sum(flat.data(), std::ssize(flat));
    size_t at = 0, flag = flat.size() - bucket.size();
    for (size_t i : bucket) {
      Tensor& p = params_[i];
      const int64_t n = p.numel();
      if (flat[flag++] > 0) {
        std::vector<float> mean(flat.begin() + static_cast<std::ptrdiff_t>(at),
                                flat.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(n)));
        for (float& v : mean) v *= inverse;
        p.set_grad(from_vector<float>(mean, p.shape()));
      }
      at += static_cast<size_t>(n);
    }
  }
}

}  // namespace sieve::dist
