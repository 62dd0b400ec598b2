// The backward engine: dependency counting over the graph, then a reverse topological walk that calls each
// node's backward once with the sum of its incoming gradients.
#include "framework/autograd/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"

namespace spml::autograd {
namespace {
thread_local bool t_grad_mode = true;

void check_gradient_matches(const Node& node, const Tensor& g) {
  SPML_CHECK(g.shape() == node.output_shape && g.dtype() == node.output_dtype && g.device() == node.output_device,
             node.name(), ".backward: gradient ", g.description(), " does not match the op's output ",
             dtype_name(node.output_dtype), shape_str(node.output_shape), " on ", node.output_device.str());
}

// a += b for gradients, without in-place writes into tensors that may be shared (a fresh sum when needed).
Tensor accumulate(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return add(a, b);
}
}  // namespace

bool grad_mode_enabled() {
  return t_grad_mode;
}
void set_grad_mode(bool enabled) {
  t_grad_mode = enabled;
}

std::vector<Tensor> AccumulateGrad::backward(const Tensor& grad_output) {
  auto leaf = leaf_.lock();
  if (!leaf) return {};  // the parameter is gone; nothing to accumulate into
  Tensor leaf_tensor(leaf);
  NoGradGuard no_grad;
  if (!leaf->grad) {
    // The leaf's grad owns its memory: copy, so later += never writes into another tensor's storage.
    leaf->grad = grad_output.clone().impl();
  } else {
    Tensor(leaf->grad).add_(grad_output);
  }
  return {};
}

std::vector<Tensor> FunctionNode::backward(const Tensor& grad_output) {
  SPML_CHECK(fn_ != nullptr, name(),
             ".backward: the saved tensors were freed by an earlier backward(); call backward(g, "
             "/*retain_graph=*/true) the first time to backward through the graph twice");
  return fn_(grad_output);
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  const auto& impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  auto acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(impl);
    acc->output_shape = impl->shape;
    acc->output_dtype = impl->dtype;
    acc->output_device = t.device();
    impl->grad_accumulator = acc;
  }
  return acc;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!t_grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->next.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next.push_back(gradient_edge(t));
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  node->output_device = output.device();
  output.impl()->grad_fn = node;
  output.impl()->requires_grad = true;
  return output;
}

void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  SPML_CHECK(root.defined(), "backward: called on an undefined tensor");
  SPML_CHECK(root.requires_grad(), "backward: ", root.description(),
             " does not require grad (no input of its graph requires grad, or it was computed under NoGradGuard)");
  Tensor seed = gradient;
  if (!seed.defined()) {
    SPML_CHECK(root.numel() == 1, "backward: ", root.description(),
               " is not a scalar; pass the output gradient (same shape) to backward()");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  SPML_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() && seed.device() == root.device(),
             "backward: gradient ", seed.description(), " does not match ", root.description());

  NoGradGuard no_grad;  // backward closures compute plain tensors (no higher-order gradients)
  const std::shared_ptr<Node> start = gradient_edge(root);

  // Count, for every reachable node, how many edges point at it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{start.get()};
  std::unordered_set<Node*> seen{start.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& next : node->next) {
      if (!next) continue;
      ++dependencies[next.get()];
      if (seen.insert(next.get()).second) stack.push_back(next.get());
    }
  }

  std::unordered_map<Node*, Tensor> pending;  // summed incoming gradients
  pending[start.get()] = seed;
  std::vector<std::shared_ptr<Node>> ready{start};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    Tensor grad_output = std::move(pending[node.get()]);
    pending.erase(node.get());
    std::vector<Tensor> grads(node->next.size());
    if (grad_output.defined()) {  // undefined: no gradient reached this node; only release its children
      NvtxRange range(node->backward_label());
      check_gradient_matches(*node, grad_output);
      grads = node->backward(grad_output);
      if (!retain_graph) node->release_saved();
      SPML_CHECK(grads.empty() || grads.size() == node->next.size(), node->name(), ".backward returned ", grads.size(),
                 " gradients for ", node->next.size(), " inputs");
      grads.resize(node->next.size());
    }
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const auto& next = node->next[i];
      if (!next) continue;
      Node* key = next.get();
      if (grads[i].defined()) pending[key] = accumulate(pending[key], grads[i]);
      if (--dependencies[key] == 0) ready.push_back(next);
    }
  }
}

}  // namespace spml::autograd
