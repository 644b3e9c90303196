// autograd/node.h — one recorded op in the dynamic graph, and how ops record themselves.
//
// Every differentiable op, after computing its output, calls `record(...)`: the output gets a Node
// holding the op's inputs (the graph's edges) and a backward function that maps the gradient of
// the output to one gradient per input. Backward functions are written with sieve's own ops (under
// a no-grad guard), so they read like the math:
//
//   Tensor out = ...exp kernel...;
//   if (any_requires_grad({x}))
//     record(Op::exp, out, {x}, [y = out.detach()](const Tensor& g) { return Grads{g * y}; });
//
// Saved tensors must not hold the output's history (that would be a reference cycle): save the
// output as `out.detach()`; inputs may be saved as they are.
//
// What it is not: the engine (autograd/engine.cpp walks the graph) or the grad mode switch
// (autograd/grad_mode.h).
//
// Extend: nothing to extend here; a new op only calls record().
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "ops/op_list.h"

namespace sieve::autograd {

// One gradient per input, in the order of Node::inputs; an undefined Tensor means "no gradient"
// (an index input, or an input that does not require grad).
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

struct Node {
  Op op = Op::count;                // which op of the closed list (op_name(op) for messages)
  std::vector<Tensor> inputs;       // edges of the graph
  BackwardFn backward;              // null once the graph has been freed
  std::weak_ptr<TensorImpl> output; // for retain_grad
  const void* scope = nullptr;      // the profiler scope (module) open when it was recorded

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // unlinks a long chain iteratively; plain destruction would recurse once per op
};

// True when grad mode is on and any defined input requires grad.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a Node to `out` when any_requires_grad(inputs); otherwise does nothing.
void record(Op op, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace sieve::autograd

namespace sieve {
using autograd::Grads;
}
