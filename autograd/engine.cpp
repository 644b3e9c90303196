// autograd/engine.cpp — reverse-mode backward over the recorded graph.
//
// backward() sorts the nodes reachable from the root in topological order with an iterative
// depth-first search (no recursion, so a 10,000-op graph cannot overflow the stack), then walks
// them from the root down. Each node's incoming gradient is the sum (+=) of what its consumers
// sent; leaves add what reaches them to their .grad. A reused tensor (b = a + a) and diamonds are
// therefore handled by the same accumulation.
//
// Extend: nothing to extend; ops only record nodes (autograd/node.h).
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/profile.h"

namespace sieve {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

namespace autograd {

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Op op, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->output = out.impl_ptr();
  node->scope = profile::current_scope();
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}

Node::~Node() {
  // Destroying the last handle of a 100,000-op chain would run 100,000 nested destructors and
  // overflow the stack. Instead, nodes only this chain still owns are moved to a local list and
  // destroyed one at a time, each with its links already cut.
  std::vector<std::shared_ptr<Node>> orphans;
  auto adopt_inputs = [&orphans](Node& node) {
    node.backward = nullptr;  // drops captured tensors first, so inputs may become sole owners
    for (Tensor& input : node.inputs) {
      TensorImpl* impl = input.impl();
      if (impl != nullptr && input.impl_ptr().use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1)
        orphans.push_back(std::move(impl->grad_fn));
    }
    node.inputs.clear();
  };
  adopt_inputs(*this);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    adopt_inputs(*node);
  }  // node's destructor now finds nothing left to adopt
}

namespace {

// Nodes reachable from root, each after every node that consumes its output (root first).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};  // (node, next input to visit)
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& input = node->inputs[next++];
      if (!input.defined()) continue;
      Node* child = input.impl()->grad_fn.get();
      if (child != nullptr && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

void accumulate(TensorImpl* target, const Tensor& g) {
  if (target->grad == nullptr) {
    // The leaf must own its gradient (optimizers update it in place), so a gradient that anything
    // else still sees — another input's gradient, a saved tensor, a view — is copied. One that
    // nobody else holds is simply taken over, which saves a copy per parameter per step.
    const bool sole_owner = g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
    target->grad = sole_owner && g.is_contiguous() && !g.requires_grad() ? g.impl_ptr() : g.clone().impl_ptr();
  } else
    target->grad = add(Tensor(target->grad), g).impl_ptr();
}

}  // namespace

}  // namespace autograd

Tensor& Tensor::requires_grad_(bool on) {
  SIEVE_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating-point tensors can require grad, got {}",
              describe());
  SIEVE_CHECK(is_leaf(), "requires_grad_: {} is the output of op '{}', not a leaf; use detach() first", describe(),
              op_name(impl()->grad_fn->op));
  impl()->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  const auto& g = checked()->grad;
  return g ? Tensor(g) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  SIEVE_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient {} does not match tensor {}",
              g.defined() ? g.describe() : "", describe());
  checked()->grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() { checked()->grad = nullptr; }

void Tensor::retain_grad() {
  SIEVE_CHECK(requires_grad(), "retain_grad: {} does not require grad", describe());
  checked()->retains_grad = true;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked()->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  using autograd::Node;
  const profile::PhaseGuard phase(profile::Phase::backward);
  SIEVE_CHECK(requires_grad(),
              "backward: {} does not require grad (none of the inputs of the ops that made it requires grad, "
              "or it was made under a no-grad guard)",
              describe());
  Tensor root_grad = grad_output;
  if (!root_grad.defined()) {
    SIEVE_CHECK(numel() == 1, "backward: {} is not a scalar; pass a gradient of its shape", describe());
    root_grad = ones_like(*this);
  }
  SIEVE_CHECK(root_grad.shape() == shape() && root_grad.dtype() == dtype() && root_grad.device() == device(),
              "backward: gradient {} does not match tensor {}", root_grad.describe(), describe());

  NoGradGuard no_grad;  // backward formulas use ops; they must not record
  if (is_leaf()) {
    autograd::accumulate(impl(), root_grad);
    return;
  }
  std::vector<Node*> order = autograd::topological_order(impl()->grad_fn.get());
  std::unordered_map<Node*, Tensor> pending{{order.front(), root_grad}};

  for (Node* node : order) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // no gradient flowed here (e.g. only through indices)
    Tensor g = std::move(it->second);
    pending.erase(it);
    SIEVE_CHECK(node->backward != nullptr,
                "backward through the graph a second time (at op '{}'): its saved tensors were freed by the "
                "first backward; pass retain_graph=true to the first call",
                op_name(node->op));
    if (auto out = node->output.lock(); out && out->retains_grad) autograd::accumulate(out.get(), g);

    autograd::Grads grads;
    {
      const profile::ScopeGuard scope(node->scope);  // charge the gradient to the forward's module
      grads = node->backward(g);
    }
    SIEVE_CHECK(grads.size() == node->inputs.size(), "backward of '{}' returned {} gradients for {} inputs",
                op_name(node->op), grads.size(), node->inputs.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      if (!grads[i].defined() || !input.defined() || !input.requires_grad()) continue;
      SIEVE_CHECK(grads[i].shape() == input.shape() && grads[i].dtype() == input.dtype(),
                  "backward of '{}' returned gradient {} for input {} ({})", op_name(node->op), grads[i].describe(),
                  i, input.describe());
      if (Node* producer = input.impl()->grad_fn.get()) {
        auto [slot, fresh] = pending.try_emplace(producer, grads[i]);
        if (!fresh) slot->second = add(slot->second, grads[i]);
      } else {
        autograd::accumulate(input.impl(), grads[i]);
      }
    }
    if (!retain_graph) node->backward = nullptr;  // frees the saved tensors
  }
}

}  // namespace sieve
