// nn::Module implementation: recursive name collection, freezing, state dicts and device moves.
#include "framework/nn/module.h"

#include <set>

#include "framework/autograd/autograd.h"

namespace spml::nn {

void Module::check_new_name(const std::string& name) const {
  SPML_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: invalid name '", name,
             "' (non-empty, no dots)");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  SPML_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), "Module: name '", name,
             "' registered twice");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  SPML_CHECK(value.defined(), "Module: parameter '", name, "' is undefined");
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  SPML_CHECK(value.defined(), "Module: buffer '", name, "' is undefined");
  buffers_.emplace_back(name, value);
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool buffers, NamedTensors& out) const {
  for (const auto& [name, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  return parameters_with_prefix("");
}

std::vector<Tensor> Module::parameters_with_prefix(const std::string& prefix, bool exclude) const {
  std::vector<Tensor> out;
  for (const auto& [name, t] : named_parameters()) {
    const bool match = name.rfind(prefix, 0) == 0;
    if (match != exclude) out.push_back(t);
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

int Module::set_requires_grad(const std::string& prefix, bool requires_grad) {
  int matched = 0;
  for (auto& [name, t] : named_parameters()) {
    if (name.rfind(prefix, 0) != 0) continue;
    t.set_requires_grad(requires_grad);
    ++matched;
  }
  SPML_CHECK(matched > 0, "Module::set_requires_grad: no parameter name starts with '", prefix, "'");
  return matched;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : named_parameters()) out[name] = t;
  for (const auto& [name, t] : named_buffers()) out[name] = t;
  return out;
}

std::vector<std::string> Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::map<std::string, Tensor> own = state_dict();
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : own)
    if (!state.count(name)) missing.push_back(name);
  for (const auto& [name, t] : state)
    if (!own.count(name)) unexpected.push_back(name);
  if (strict) {
    auto join = [](const std::vector<std::string>& keys) {
      std::string s;
      for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
      return s;
    };
    SPML_CHECK(missing.empty(), "load_state_dict: missing keys: ", join(missing));
    SPML_CHECK(unexpected.empty(), "load_state_dict: unexpected keys: ", join(unexpected));
  }
  // Check every key before copying any, so a failed load leaves the module unchanged.
  for (const auto& [name, target] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    const Tensor& src = it->second;
    SPML_CHECK(src.defined() && src.shape() == target.shape(), "load_state_dict: key '", name, "' has shape ",
               src.defined() ? shape_str(src.shape()) : "undefined", " but the model expects ",
               shape_str(target.shape()));
    SPML_CHECK(src.dtype() == target.dtype(), "load_state_dict: key '", name, "' has dtype ", dtype_name(src.dtype()),
               " but the model expects ", dtype_name(target.dtype()));
  }
  autograd::NoGradGuard no_grad;
  for (auto& [name, target] : own) {
    auto it = state.find(name);
    if (it != state.end()) Tensor(target).copy_(it->second);
  }
  return unexpected;
}

void Module::to(Device device) {
  for (auto& [name, t] : parameters_) {
    if (t.device() == device) continue;
    const bool requires_grad = t.requires_grad();
    Tensor moved = t.detach().to(device);
    moved.set_requires_grad(requires_grad);
    t = moved;
  }
  for (auto& [name, t] : buffers_)
    if (t.device() != device) t = t.to(device);
  for (auto& [name, child] : children_) child->to(device);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.set_grad(Tensor());
}

}  // namespace spml::nn
