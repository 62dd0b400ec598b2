// nn::Module: the base of layers and models. Named parameters, buffers and sub-modules with dotted names
// (torchvision state-dict keys: "layer1.0.conv1.weight"), train/eval mode, freezing by name prefix,
// state_dict / load_state_dict, parameter selection by prefix (optimizer groups), and device moves.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;  // in registration order

class Module {
 public:
  virtual ~Module() = default;

  // Parameters (trainable leaves), buffers (state such as running statistics), in registration order,
  // recursively with dotted names.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters whose dotted name starts with `prefix` (or, with exclude, those that do not): e.g. the
  // head "fc." at 10x the backbone's learning rate.
  std::vector<Tensor> parameters_with_prefix(const std::string& prefix, bool exclude = false) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }

  // Training mode (BatchNorm uses batch statistics) vs evaluation mode; recursive.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Turns requires_grad off (freeze) or on for every parameter whose name starts with prefix ("" = all).
  // Returns how many parameters matched; zero matches is an error naming the prefix.
  int set_requires_grad(const std::string& prefix, bool requires_grad);

  // Parameters and buffers by dotted name (references to the live tensors, not copies).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the module's tensors. strict: missing and unexpected keys are errors. Any shape or
  // dtype mismatch is an error naming the key and both shapes. Returns the keys that were not used.
  std::vector<std::string> load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // Moves every parameter and buffer to `device` (in place: the module's tensors are replaced).
  void to(Device device);
  void zero_grad();

 protected:
  Tensor& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool buffers, NamedTensors& out) const;
  std::deque<std::pair<std::string, Tensor>> parameters_;  // deque: references stay valid
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace spml::nn
