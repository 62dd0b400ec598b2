// Optimizers with PyTorch's exact update rules: SGD (momentum, dampening, weight decay, Nesterov) and
// Adam/AdamW (per-parameter step counts and bias corrections, eps after the square root). Parameter groups
// carry their own learning rate. A parameter whose grad is undefined is skipped (its step does not advance),
// as in PyTorch. State is exported as named tensors for checkpoints and can be loaded back.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  double lr = 1e-3;
  std::string name;  // for messages and state keys ("backbone", "head"); defaults to the group's index
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // Sets every parameter's grad to undefined (PyTorch's set_to_none).
  void zero_grad();
  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // Keys "<group>.<index>.<slot>" (e.g. "head.0.exp_avg", "head.0.step"); steps as int64 scalars, on the CPU.
  virtual std::map<std::string, Tensor> state_dict() const = 0;
  // Loads a state_dict of an optimizer over the same groups and shapes; errors name the key and shapes.
  virtual void load_state_dict(const std::map<std::string, Tensor>& state) = 0;

 protected:
  std::string key(std::size_t group, std::size_t index, const char* slot) const;
  std::vector<ParamGroup> groups_;
};

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

class Adam final : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  void step() override;
  std::map<std::string, Tensor> state_dict() const override;
  void load_state_dict(const std::map<std::string, Tensor>& state) override;
  // The step count of parameter `index` of group `group` (0 before its first update).
  int64_t step_count(std::size_t group, std::size_t index) const { return state_[group][index].step; }

 private:
  struct ParamState {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq;  // created at the first update, like PyTorch's lazy state
  };
  AdamOptions options_;
  std::vector<std::vector<ParamState>> state_;
};

struct SgdOptions {
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD final : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SgdOptions options = {});
  void step() override;
  std::map<std::string, Tensor> state_dict() const override;
  void load_state_dict(const std::map<std::string, Tensor>& state) override;

 private:
  SgdOptions options_;
  std::vector<std::vector<Tensor>> momentum_buffer_;  // undefined until the first step with momentum
};

}  // namespace spml::optim
