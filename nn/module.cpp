// nn/module.cpp — Module's tree walks, state dicts and modes; ModuleList and Sequential.
//
// Names are built on the fly by a depth-first walk (own parameters, then children in registration
// order), the order PyTorch's named_parameters() uses, so two models built alike list alike.
//
// Extend: a new kind of registered state (e.g. non-persistent buffers) gets its own list here and
// its own place in the walk.
#include "nn/module.h"

#include "autograd/grad_mode.h"
#include "ops/copy.h"

namespace sieve::nn {

Tensor Module::forward(const Tensor&) {
  fail("{}: this module has no one-tensor forward (call its own forward with its arguments)", type_name_);
}

void Module::check_new_name(const std::string& name) const {
  SIEVE_CHECK(!name.empty() && name.find('.') == std::string::npos,
              "{}: register: name '{}' must be non-empty and contain no '.'", type_name_, name);
  for (const auto& p : params_) SIEVE_CHECK(p.name != name, "{}: '{}' is already registered", type_name_, name);
  for (const auto& b : buffers_) SIEVE_CHECK(b.first != name, "{}: '{}' is already registered", type_name_, name);
  for (const auto& c : children_) SIEVE_CHECK(c.first != name, "{}: '{}' is already registered", type_name_, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, bool no_weight_decay) {
  check_new_name(name);
  SIEVE_CHECK(tensor.defined(), "{}: parameter '{}' is an undefined tensor", type_name_, name);
  SIEVE_CHECK(tensor.is_leaf(), "{}: parameter '{}' must be a leaf (detach it first)", type_name_, name);
  tensor.requires_grad_(true);
  params_.push_back({name, tensor, no_weight_decay});
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name);
  SIEVE_CHECK(tensor.defined(), "{}: buffer '{}' is an undefined tensor", type_name_, name);
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  SIEVE_CHECK(module != nullptr, "{}: child module '{}' is null", type_name_, name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, std::vector<NamedParameter>& params,
                     std::vector<std::pair<std::string, Tensor>>* buffers) const {
  for (const auto& p : params_) params.push_back({prefix + p.name, p.tensor, p.no_weight_decay});
  if (buffers != nullptr)
    for (const auto& [name, t] : buffers_) buffers->emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, buffers);
}

std::vector<NamedParameter> Module::named_parameters() const {
  std::vector<NamedParameter> out;
  collect("", out, nullptr);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters()) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<NamedParameter> params;
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", params, &out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : named_parameters()) n += p.tensor.numel();
  return n;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::vector<NamedParameter> params;
  std::vector<std::pair<std::string, Tensor>> buffers;
  collect("", params, &buffers);
  std::map<std::string, Tensor> out;
  for (auto& p : params) out.emplace(p.name, p.tensor);
  for (auto& [name, t] : buffers) out.emplace(name, t);
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  const std::map<std::string, Tensor> own = state_dict();
  // Check everything first, so a failed load leaves the model untouched.
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : own)
    if (!state.count(name)) missing.push_back(name);
  for (const auto& [name, t] : state)
    if (!own.count(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty()))
    fail("{}: load_state_dict: missing keys [{}]; unexpected keys [{}]", type_name_, fmt::join(missing, ", "),
         fmt::join(unexpected, ", "));
  for (const auto& [name, dst] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    const Tensor& src = it->second;
    SIEVE_CHECK(src.defined(), "{}: load_state_dict: '{}' is an undefined tensor", type_name_, name);
    SIEVE_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(),
                "{}: load_state_dict: '{}' expects {}, got {}", type_name_, name, dst.describe(), src.describe());
  }
  NoGradGuard no_grad;  // copying into a leaf that requires grad is not a graph op
  for (const auto& [name, dst] : own) {
    auto it = state.find(name);
    if (it != state.end()) copy_(dst, it->second.device() == dst.device() ? it->second : it->second.to(dst.device()));
  }
}

void Module::to(Device device) {
  std::vector<Tensor> tensors = parameters();
  for (const auto& [name, buffer] : named_buffers()) tensors.push_back(buffer);
  move_storage_(tensors, device);
}

Device Module::device() const {
  const std::vector<Tensor> params = parameters();
  if (!params.empty()) return params.front().device();
  const auto buffers = named_buffers();
  return buffers.empty() ? kCPU : buffers.front().second.device();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

Module::Param* Module::find_param(const std::string& dotted_name) {
  const size_t dot = dotted_name.find('.');
  if (dot == std::string::npos) {
    for (auto& p : params_)
      if (p.name == dotted_name) return &p;
    return nullptr;
  }
  const std::string head = dotted_name.substr(0, dot);
  for (auto& [name, child] : children_)
    if (name == head) return child->find_param(dotted_name.substr(dot + 1));
  return nullptr;
}

void Module::set_no_weight_decay(const std::string& dotted_name, bool on) {
  Param* p = find_param(dotted_name);
  SIEVE_CHECK(p != nullptr, "{}: set_no_weight_decay: no parameter named '{}'", type_name_, dotted_name);
  p->no_weight_decay = on;
}

void Module::no_weight_decay_for_biases_and_norms() {
  for (auto& p : params_)
    if (p.name == "bias" || p.tensor.ndim() < 2) p.no_weight_decay = true;
  for (auto& [name, child] : children_) child->no_weight_decay_for_biases_and_norms();
}

void Module::requires_grad_(bool on) {
  for (auto& p : named_parameters()) p.tensor.requires_grad_(on);
}

void Module::zero_grad() {
  for (auto& p : named_parameters()) p.tensor.zero_grad();
}

// ---- ModuleList, Sequential ----

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) : Module("ModuleList") {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(children().size()), std::move(module));
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  SIEVE_CHECK(i < size(), "{}: index {} out of range for {} modules", type_name(), i, size());
  return children()[i].second;
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : ModuleList("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  const ModuleScope scope(this);
  Tensor h = x;
  for (const auto& [name, child] : children()) h = child->forward(h);
  return h;
}

}  // namespace sieve::nn

namespace sieve::nn {

std::map<std::string, std::string> Module::named_constants() const {
  std::map<std::string, std::string> out;
  for (const auto& [module, path] : module_paths(*this)) {
    const std::string text = static_cast<const Module*>(module)->constants();
    if (!text.empty()) out[path] = text;
  }
  return out;
}

std::unordered_map<const void*, std::string> module_paths(const Module& root) {
  std::unordered_map<const void*, std::string> paths{{&root, ""}};
  std::vector<std::pair<const Module*, std::string>> stack{{&root, ""}};
  while (!stack.empty()) {
    auto [module, path] = stack.back();
    stack.pop_back();
    for (const auto& [name, child] : module->children()) {
      std::string child_path = path.empty() ? name : path + "." + name;
      if (paths.try_emplace(child.get(), child_path).second) stack.push_back({child.get(), child_path});
    }
  }
  return paths;
}

}  // namespace sieve::nn
