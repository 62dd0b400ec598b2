// Define-by-run reverse-mode autograd: graph nodes, grad mode, and the backward engine.
// Each op records one Node on its output holding what its backward needs (captured in a closure next to the
// forward code); backward() walks the graph in reverse topological order and accumulates (+=) into leaves.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::autograd {

class Node {
 public:
  explicit Node(std::string name) : name_(std::move(name)), backward_label_(name_ + ".backward") {}
  virtual ~Node() = default;
  const std::string& name() const { return name_; }
  const char* backward_label() const { return backward_label_.c_str(); }
  // dL/d(input i) for each input edge, given dL/d(output); an undefined Tensor means "no gradient".
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  // Frees what the backward needed (saved tensors); a later backward through this node is an error.
  virtual void release_saved() { released_ = true; }
  bool released() const { return released_; }

  std::vector<std::shared_ptr<Node>> next;  // one per input; nullptr where the input needs no gradient
  Shape output_shape;                       // to check the incoming gradient
  DType output_dtype = DType::Float32;
  Device output_device;

 protected:
  bool released_ = false;

 private:
  std::string name_;
  std::string backward_label_;
};

// The node that adds an incoming gradient into a leaf tensor's grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : Node("accumulate_grad"), leaf_(leaf) {}
  std::vector<Tensor> backward(const Tensor& grad_output) override;
  void release_saved() override {}  // holds nothing; leaves may take part in many backward passes

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

// Backward of one op: the closure captures the saved tensors; it returns one gradient per input.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, BackwardFn fn) : Node(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> backward(const Tensor& grad_output) override;
  void release_saved() override {
    fn_ = nullptr;
    released_ = true;
  }

 private:
  BackwardFn fn_;
};

bool grad_mode_enabled();
void set_grad_mode(bool enabled);

// Disables recording in its scope (evaluation, optimizer steps, in-place updates).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// The edge a gradient for `t` flows into: its grad_fn, its leaf accumulator, or nullptr.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

// True when grad mode is on and any input requires grad (then an op must record its node).
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `backward` as the grad_fn of `output` when needed; returns output.
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward);

// Runs the backward pass from `root` with dL/droot = gradient.
void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

}  // namespace spml::autograd
