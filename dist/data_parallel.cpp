// dist/data_parallel.cpp — DataParallel (see data_parallel.h).
#include "dist/data_parallel.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <optional>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "dist/dist.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

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

DataParallel::DataParallel(nn::Module& model, bool zero1, int64_t bucket_bytes) : model_(model), zero1_(zero1) {
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
  if (!zero1_) return;
  // Owners: the largest parameters first, each to the rank with the fewest elements so far.
  std::vector<size_t> by_size(params_.size());
  for (size_t i = 0; i < by_size.size(); ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return params_[a].numel() > params_[b].numel(); });
  owned_.assign(static_cast<size_t>(size()), {});
  std::vector<int64_t> load(static_cast<size_t>(size()), 0);
  for (size_t i : by_size) {
    const size_t r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owned_[r].push_back(i);
    load[r] += params_[i].numel();
  }
  for (std::vector<size_t>& mine : owned_) std::sort(mine.begin(), mine.end());
  segment_floats_ = load;
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

// Appends the gradients of `which` (zeros where a parameter has none), then a flag per parameter:
// 1 if it had one. Summed over ranks, a flag says whether any rank had a gradient.
void DataParallel::pack_gradients(const std::vector<size_t>& which, std::vector<float>& out) const {
  for (size_t i : which) {
    const Tensor g = params_[i].grad();
    if (g.defined()) {
      check_cpu_float(g, "gradient");
      const std::vector<float> values = g.to_vector<float>();
      out.insert(out.end(), values.begin(), values.end());
    } else {
      out.insert(out.end(), static_cast<size_t>(params_[i].numel()), 0.0f);
    }
  }
  for (size_t i : which) out.push_back(params_[i].grad().defined() ? 1.0f : 0.0f);
}

// The sums pack_gradients' layout holds, over all ranks, become the gradients of `which`: their
// mean over ranks, or none where no rank had one.
void DataParallel::unpack_means(const std::vector<size_t>& which, const float* sums) {
  const float inverse = 1.0f / static_cast<float>(size());
  int64_t total = 0;
  for (size_t i : which) total += params_[i].numel();
  const float* flag = sums + total;
  for (size_t i : which) {
    Tensor& p = params_[i];
    if (*flag++ > 0) {
      std::vector<float> mean(sums, sums + p.numel());
      for (float& v : mean) v *= inverse;
      p.set_grad(from_vector<float>(mean, p.shape()));
    }
    sums += p.numel();
  }
}

void DataParallel::average_gradients() {
  if (size() == 1) return;
  std::vector<float> flat;
  for (const std::vector<size_t>& bucket : buckets_) {
    flat.clear();
    pack_gradients(bucket, flat);
    allreduce_sum(flat.data(), std::ssize(flat));
    unpack_means(bucket, flat.data());
  }
}

void DataParallel::reduce_gradients() {
  if (size() == 1) return;
  if (!zero1_) {
    average_gradients();
    return;
  }
  // Segment d: d's parameters as pack_gradients lays them out; d receives its segment summed.
  std::vector<float> data;
  std::vector<int64_t> counts;
  for (const std::vector<size_t>& theirs : owned_) {
    const size_t before = data.size();
    pack_gradients(theirs, data);
    counts.push_back(static_cast<int64_t>(data.size() - before));
  }
  std::vector<float> sums(static_cast<size_t>(counts[static_cast<size_t>(rank())]));
  reduce_scatter_sum(data.data(), counts, sums.data());
  for (Tensor& p : params_) p.zero_grad();  // another rank's parameter: its owner steps it
  unpack_means(owned_[static_cast<size_t>(rank())], sums.data());
}

double DataParallel::clip_grad_norm(double max_norm) {
  if (!zero1_ || size() == 1) return nn::clip_grad_norm(model_.parameters(), max_norm);
  // nn::clip_grad_norm's sum, term by term in parameter order: each owner's squared norms, the
  // others' zeros (x + 0 is x), then the same scaling of the owners' gradients.
  std::vector<double> squares(params_.size(), 0.0);
  std::vector<Tensor> mine;
  for (size_t i : owned_[static_cast<size_t>(rank())])
    if (const Tensor g = params_[i].grad(); g.defined()) {
      squares[i] = sum(g * g).item();
      mine.push_back(params_[i]);
    }
  allreduce_sum(squares.data(), std::ssize(squares));
  double total_sq = 0.0;
  for (double v : squares) total_sq += v;
  const double total = std::sqrt(total_sq);
  nn::clip_grads_to(mine, total, max_norm);
  return total;
}

void DataParallel::after_step() {
  if (!zero1_ || size() == 1) return;
  std::vector<float> data;
  for (size_t i : owned_[static_cast<size_t>(rank())]) {
    const std::vector<float> values = params_[i].to_vector<float>();
    data.insert(data.end(), values.begin(), values.end());
  }
  std::vector<float> all(static_cast<size_t>(std::accumulate(segment_floats_.begin(), segment_floats_.end(), int64_t{0})));
  allgather(data.data(), segment_floats_, all.data());
  size_t at = 0;
  for (const std::vector<size_t>& theirs : owned_)
    for (size_t i : theirs) {
      const int64_t n = params_[i].numel();
      std::copy(all.begin() + static_cast<std::ptrdiff_t>(at),
                all.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(n)), params_[i].data<float>());
      at += static_cast<size_t>(n);
    }
}

namespace {

// The optimizer's state entries as bytes: per entry its name, dtype, shape and values.
std::vector<char> serialise(const std::map<std::string, Tensor>& state) {
  std::vector<char> out;
  const auto put = [&](const void* p, size_t n) { out.insert(out.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n); };
  for (const auto& [name, t] : state) {
    const Tensor c = t.to(kCPU).contiguous();
    const uint64_t name_size = name.size(), ndim = static_cast<uint64_t>(c.ndim());
    const uint8_t dtype = static_cast<uint8_t>(c.dtype());
    put(&name_size, sizeof name_size);
    put(name.data(), name.size());
    put(&dtype, 1);
    put(&ndim, sizeof ndim);
    for (int64_t d : c.shape()) put(&d, sizeof d);
    put(c.raw_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  }
  return out;
}

std::map<std::string, Tensor> deserialise(const std::vector<char>& bytes) {
  std::map<std::string, Tensor> out;
  size_t at = 0;
  const auto get = [&](void* p, size_t n) {
    std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + n),
              static_cast<char*>(p));
    at += n;
  };
  while (at < bytes.size()) {
    uint64_t name_size = 0, ndim = 0;
    uint8_t dtype = 0;
    get(&name_size, sizeof name_size);
    std::string name(name_size, '\0');
    get(name.data(), name_size);
    get(&dtype, 1);
    get(&ndim, sizeof ndim);
    Shape shape(ndim);
    for (int64_t& d : shape) get(&d, sizeof d);
    Tensor t = zeros(shape, {.dtype = static_cast<DType>(dtype)});
    get(t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
    out[name] = t;
  }
  return out;
}

// The trained parameter a state entry ("state.<index>.<field>") belongs to: its index in params.
std::optional<size_t> state_owner_index(const nn::Optimizer& optimizer, const std::vector<Tensor>& params,
                                        const std::string& key) {
  if (!key.starts_with("state.")) return std::nullopt;
  size_t index = 0, at = 6;
  for (; at < key.size() && std::isdigit(static_cast<unsigned char>(key[at])) && index < (size_t{1} << 40); ++at)
    index = index * 10 + static_cast<size_t>(key[at] - '0');
  const std::vector<Tensor> flat = optimizer.params_flat();
  if (at == 6 || index >= flat.size()) return std::nullopt;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].same(flat[index])) return i;
  return std::nullopt;
}

}  // namespace

std::map<std::string, Tensor> DataParallel::optimizer_state(const nn::Optimizer& optimizer) const {
  if (!zero1_ || size() == 1) return optimizer.state_tensors();
  const std::vector<char> all = gather_bytes(serialise(optimizer.state_tensors()));
  return is_root() ? deserialise(all) : std::map<std::string, Tensor>{};
}

std::map<std::string, Tensor> DataParallel::own_state(const nn::Optimizer& optimizer,
                                                      const std::map<std::string, Tensor>& state) const {
  if (!zero1_ || size() == 1) return state;
  const std::vector<size_t>& mine = owned_[static_cast<size_t>(rank())];
  std::map<std::string, Tensor> kept;
  for (const auto& [key, t] : state) {
    const std::optional<size_t> i = state_owner_index(optimizer, params_, key);
    if (!i || std::binary_search(mine.begin(), mine.end(), *i)) kept[key] = t;  // unknown keys: the optimizer judges
  }
  return kept;
}

}  // namespace sieve::dist
