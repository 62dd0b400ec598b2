// nn::Module (names, freezing, state dicts, parameter groups), Linear's PyTorch init, and a tiny MLP that must
// learn the two-spirals problem.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/data/builders/toy.h"
#include "framework/nn/init.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "test_util.h"

namespace spml {
namespace {

// A two-level module with torchvision-like names: "body.0.weight", "body.0.bias", "fc.weight", "fc.bias",
// and a buffer "steps".
class Net : public nn::Layer {
 public:
  Net() {
    body_ = register_module("body", std::make_shared<nn::Sequential>());
    body_->push_back(std::make_shared<nn::Linear>(3, 4, true, 1));
    body_->push_back(std::make_shared<nn::ReLU>());
    fc_ = register_module("fc", std::make_shared<nn::Linear>(4, 2, true, 2));
    register_buffer("steps", Tensor::zeros({1}, DType::Int64));
  }
  Tensor forward(const Tensor& x) override { return fc_->forward(body_->forward(x)); }

 private:
  std::shared_ptr<nn::Sequential> body_;
  std::shared_ptr<nn::Linear> fc_;
};

std::vector<std::string> names(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

TEST(Module, DottedNamesGroupsAndFreezing) {
  Net net;
  EXPECT_EQ(names(net.named_parameters()),
            (std::vector<std::string>{"body.0.weight", "body.0.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(names(net.named_buffers()), (std::vector<std::string>{"steps"}));
  EXPECT_EQ(net.parameters_with_prefix("fc.").size(), 2u);
  EXPECT_EQ(net.parameters_with_prefix("fc.", /*exclude=*/true).size(), 2u);
  EXPECT_EQ(net.set_requires_grad("body.", false), 2);
  for (const auto& [n, t] : net.named_parameters()) EXPECT_EQ(t.requires_grad(), n.rfind("fc.", 0) == 0) << n;
  // A frozen body gets no gradient; the head does.
  const Tensor loss = sum(net.forward(Tensor::ones({2, 3})));
  loss.backward();
  EXPECT_FALSE(net.named_parameters()[0].second.grad().defined());
  EXPECT_TRUE(net.named_parameters()[2].second.grad().defined());
  EXPECT_ERROR_CONTAINS(net.set_requires_grad("layer9.", true), "layer9.");
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.named_children()[0].second->is_training());
}

TEST(Module, StateDictRoundTripAndErrorsNameKeys) {
  Net a, b;
  b.set_requires_grad("", true);
  {
    autograd::NoGradGuard no_grad;
    b.named_parameters()[0].second.fill_(0.25);
  }
  a.load_state_dict(b.state_dict());
  EXPECT_EQ(max_abs_diff(a.state_dict().at("body.0.weight"), b.state_dict().at("body.0.weight")), 0.0);
  EXPECT_EQ(a.state_dict().at("body.0.weight").to_vector<float>()[0], 0.25f);

  auto state = b.state_dict();
  state["fc.weight"] = Tensor::zeros({3, 4});
  EXPECT_ERROR_CONTAINS(a.load_state_dict(state), "'fc.weight'", "[3, 4]", "[2, 4]");
  state = b.state_dict();
  state.erase("fc.bias");
  EXPECT_ERROR_CONTAINS(a.load_state_dict(state), "missing keys: fc.bias");
  state = b.state_dict();
  state["num_batches_tracked"] = Tensor::zeros({1}, DType::Int64);
  EXPECT_ERROR_CONTAINS(a.load_state_dict(state), "unexpected keys: num_batches_tracked");
  EXPECT_EQ(a.load_state_dict(state, /*strict=*/false), (std::vector<std::string>{"num_batches_tracked"}));
}

TEST(Module, LinearInitFollowsPyTorchBounds) {
  nn::Linear layer(100, 50, true, 7);
  const double bound = 1.0 / std::sqrt(100.0);
  double max_w = 0, max_b = 0;
  for (float w : layer.weight().to_vector<float>()) max_w = std::max(max_w, std::fabs(double(w)));
  for (float b : layer.bias().to_vector<float>()) max_b = std::max(max_b, std::fabs(double(b)));
  EXPECT_LE(max_w, bound);
  EXPECT_GT(max_w, 0.95 * bound);  // 5000 draws fill the interval
  EXPECT_LE(max_b, bound);
  nn::Linear same(100, 50, true, 7), other(100, 50, true, 8);
  EXPECT_EQ(max_abs_diff(layer.weight(), same.weight()), 0.0);
  EXPECT_GT(max_abs_diff(layer.weight(), other.weight()), 0.0);
  // kaiming normal, fan_out of a conv-shaped weight [64, 3, 7, 7]: std = sqrt(2 / (64*49)).
  Tensor conv = Tensor::empty({64, 3, 7, 7});
  EXPECT_EQ(nn::init::fan_out(conv), 64 * 49);
  EXPECT_EQ(nn::init::fan_in(conv), 3 * 49);
  nn::init::kaiming_normal_(conv, nn::init::fan_out(conv), 3);
  double s2 = 0;
  const auto v = conv.to_vector<float>();
  for (float x : v) s2 += double(x) * x;
  EXPECT_NEAR(std::sqrt(s2 / double(v.size())), std::sqrt(2.0 / (64 * 49)), 0.002);
}

TEST(Module, TinyMlpLearnsTwoSpirals) {
  // Not linearly separable: reaching a low loss needs the hidden layers, autograd and Adam all working.
  const data::ToyData d = data::two_spirals(256, 0.02, 11);
  nn::Sequential mlp({std::make_shared<nn::Linear>(2, 32, true, 1), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::Linear>(32, 32, true, 2), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::Linear>(32, 1, true, 3)});
  optim::Adam adam({{mlp.parameters(), 0.02, "mlp"}});
  double first = 0, last = 0;
  for (int step = 0; step < 400; ++step) {
    adam.zero_grad();
    const Tensor p = sigmoid(mlp(d.features));
    const Tensor loss =
        neg(mean(add(mul(d.labels, log(add(p, 1e-7))), mul(add(neg(d.labels), 1.0), log(add(neg(p), 1.0 + 1e-7))))));
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_NEAR(first, std::log(2.0), 0.1);
  EXPECT_LT(last, 0.05) << "the MLP did not learn the spirals (first loss " << first << ")";
}

}  // namespace
}  // namespace spml
