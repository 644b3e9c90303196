// nn/module.h — Module: the base of every layer and model (named parameters, buffers, children).
//
// A Module registers its parameters (trainable leaves), buffers (state that is saved but not
// trained) and child modules under local names; the dotted PyTorch-style names
// (`blocks.0.attn.qkv.weight`) come from walking the tree in registration order, so a state dict
// written here loads into the same PyTorch model and back. Modules are held by std::shared_ptr
// so a parent and a caller can share a child.
//
//   struct Block : Module {
//     std::shared_ptr<Linear> fc;
//     Block() : Module("Block") { fc = register_module("fc", std::make_shared<Linear>(4, 4)); }
//     Tensor forward(const Tensor& x) override {
//       const ModuleScope scope(this);  // the profiler charges the ops below to this module
//       return fc->forward(x);
//     }
//   };
//
// What it is not: the layers (nn/layers.h), checkpoint files (safetensors I/O lives in core/).
// Extend: derive from Module, register every tensor that must be trained or saved, override
// forward when the module maps one tensor to one tensor (Sequential needs that), and open a
// ModuleScope first in every forward so `sieve profile` can name the module its ops ran in.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "ops/profile.h"

namespace sieve::nn {

// One parameter as seen from the model's root: its dotted name, the tensor (a handle: writing to
// it writes the module's parameter) and whether optimizers must leave it undecayed.
struct NamedParameter {
  std::string name;
  Tensor tensor;
  bool no_weight_decay = false;
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // The one-tensor forward that Sequential chains. Modules with other signatures leave it alone
  // and calling it is an error naming the module type.
  virtual Tensor forward(const Tensor& x);

  // ---- the tree, walked depth-first in registration order (own entries before children's) ----
  std::vector<NamedParameter> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  int64_t num_parameters() const;  // total element count of all parameters

  // ---- constants: what a reader needs besides the weights to compute the same function ----
  // One line ("layer_norm eps=1e-06", "gelu erf"), empty when a module has none. Checkpoints store
  // every module's (nn/checkpoint.h), so a later change of a default is caught, not silently
  // applied to an old file. A layer with a constant that changes its output overrides this.
  virtual std::string constants() const { return {}; }
  // Every non-empty constants() of the tree, by dotted module path.
  std::map<std::string, std::string> named_constants() const;

  // ---- state dict: parameters and buffers by dotted name ----
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the existing tensors (no re-allocation, so optimizers keep their handles).
  // A shape or dtype mismatch is an error naming the key. strict: every key must match, and all
  // missing and unexpected keys are listed in one error before anything is written.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // ---- modes ----
  void train(bool on = true);  // this module and all descendants
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- weight decay flags ----
  // Marks a parameter by its dotted name (e.g. "blocks.0.norm.weight"); unknown names are an error.
  void set_no_weight_decay(const std::string& dotted_name, bool on = true);
  // The common rule (timm, nanoGPT): biases and every parameter with fewer than 2 dims (norm
  // weights, scales) are not decayed; matrices and embeddings are.
  void no_weight_decay_for_biases_and_norms();

  // Sets requires_grad on every parameter (freezing a sub-tree).
  // Moves every parameter and buffer to `device` in place (ops/copy.h move_storage_): the
  // handles layers and optimizers hold stay valid. Build (and initialise) on the CPU, then move,
  // so a model is identical on either device.
  void to(Device device);
  Device device() const;  // of the first parameter or buffer (kCPU when it has none)
  void requires_grad_(bool on = true);
  void zero_grad();  // drops every parameter's gradient

 protected:
  // Registration: the tensor is stored as a handle; the layer keeps its own handle as a member.
  // Parameters are made leaves that require grad. Names are unique per module and contain no '.'.
  Tensor register_parameter(const std::string& name, Tensor tensor, bool no_weight_decay = false);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  struct Param {
    std::string name;
    Tensor tensor;
    bool no_weight_decay;
  };
  void check_new_name(const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, std::vector<NamedParameter>& params,
               std::vector<std::pair<std::string, Tensor>>* buffers) const;
  Param* find_param(const std::string& dotted_name);

  std::string type_name_;
  bool training_ = true;
  std::vector<Param> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Opened at the top of a forward: until the forward returns, the profiler (ops/profile.h) charges
// every kernel — and, through the autograd nodes recorded meanwhile, every gradient kernel — to
// this module. Free when no profiler is running (one thread-local read).
using ModuleScope = profile::ScopeGuard;

// Every module under root (root included, as "") by address → its dotted path ("blocks.0.attn"),
// which is how the profiler's scopes get their names.
std::unordered_map<const void*, std::string> module_paths(const Module& root);

// ModuleList: children named "0", "1", ... (PyTorch's nn.ModuleList), so their parameters read
// `blocks.3.fc.weight`. Holds any Module; at() casts back to the type you stored.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return children().size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    SIEVE_CHECK(m != nullptr, "ModuleList: element {} is a {}, not the type asked for", i, (*this)[i]->type_name());
    return m;
  }

 protected:
  explicit ModuleList(std::string type_name) : Module(std::move(type_name)) {}
};

// Sequential: a ModuleList whose forward feeds each child's output to the next.
class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  Tensor forward(const Tensor& x) override;
};

}  // namespace sieve::nn
