// Optimizers against torch.optim (golden values from scripts/make_optim_golden.py, float64), state round trips,
// PyTorch's skipping of parameters without gradients, and the one-pass CPU Adam against the per-element formula.
#include <gtest/gtest.h>

#include <cmath>
#include <type_traits>

#include "framework/autograd/autograd.h"
#include "framework/core/runtime.h"
#include "framework/optim/optimizer.h"
#include "kernels/common/optim_math.h"
#include "test_util.h"

namespace spml {
namespace {
using Values = std::vector<double>;

const Values kP0 = {0.5, -1.0, 2.0};
const std::vector<Values> kGrads = {{0.1, -0.2, 0.3}, {-0.4, 0.5, 0.05}};

template <class MakeOptimizer>
std::vector<Values> run_two_steps(MakeOptimizer make) {
  Tensor p = test::leaf(Tensor::from_vector<double>(kP0, {3}));
  auto opt = make(std::vector<optim::ParamGroup>{{{p}, 0.1, "w"}});
  std::vector<Values> out;
  for (const Values& g : kGrads) {
    opt.zero_grad();
    p.set_grad(Tensor::from_vector<double>(g, {3}));
    opt.step();
    out.push_back(p.to_vector<double>());
  }
  return out;
}

void expect_values(const std::vector<Values>& got, const std::vector<Values>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t s = 0; s < got.size(); ++s)
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(got[s][i], want[s][i], 1e-14) << "step " << s + 1 << " element " << i;
}

TEST(Optim, AdamMatchesTorch) {
  expect_values(run_two_steps([](auto groups) { return optim::Adam(groups); }),
                {{0.400000009999999, -0.9000000049999998, 1.9000000033333333},
                 {0.4559503574851284, -0.944221530217233, 1.821667272150606}});
}

TEST(Optim, AdamWithL2WeightDecayBetasAndEpsMatchesTorch) {
  optim::AdamOptions o;
  o.beta1 = 0.8;
  o.beta2 = 0.99;
  o.eps = 1e-3;
  o.weight_decay = 0.1;
  expect_values(run_two_steps([&](auto groups) { return optim::Adam(groups, o); }),
                {{0.40066225165562913, -0.9003322259136213, 1.9001996007984032},
                 {0.4487462962389218, -0.9265260665759312, 1.8096238565540879}});
}

TEST(Optim, AdamWMatchesTorch) {
  optim::AdamOptions o;
  o.weight_decay = 0.1;
  o.decoupled_weight_decay = true;
  expect_values(run_two_steps([&](auto groups) { return optim::Adam(groups, o); }),
                {{0.395000009999999, -0.8900000049999998, 1.8800000033333333},
                 {0.4470003573851284, -0.9253215301672328, 1.7828672721172727}});
}

TEST(Optim, SgdVariantsMatchTorch) {
  expect_values(run_two_steps([](auto groups) { return optim::SGD(groups); }),
                {{0.49, -0.98, 1.97}, {0.53, -1.03, 1.965}});
  optim::SgdOptions momentum;
  momentum.momentum = 0.9;
  momentum.dampening = 0.1;
  momentum.weight_decay = 0.01;
  expect_values(run_two_steps([&](auto groups) { return optim::SGD(groups, momentum); }),
                {{0.4895, -0.979, 1.968}, {0.51560945, -1.0042189, 1.9329288}});
  optim::SgdOptions nesterov;
  nesterov.momentum = 0.9;
  nesterov.nesterov = true;
  expect_values(run_two_steps([&](auto groups) { return optim::SGD(groups, nesterov); }),
                {{0.481, -0.962, 1.943}, {0.5488999999999999, -1.0408, 1.9092}});
}

TEST(Optim, GroupsHaveTheirOwnLearningRateAndSkipMissingGrads) {
  Tensor a = test::leaf(Tensor::from_vector<double>({1.0}, {1}));
  Tensor b = test::leaf(Tensor::from_vector<double>({1.0}, {1}));
  Tensor c = test::leaf(Tensor::from_vector<double>({1.0}, {1}));
  optim::Adam adam({{{a, c}, 0.1, "backbone"}, {{b}, 1.0, "head"}});
  a.set_grad(Tensor::from_vector<double>({1.0}, {1}));
  b.set_grad(Tensor::from_vector<double>({1.0}, {1}));
  adam.step();                             // c has no grad: untouched, its step count stays 0
  EXPECT_NEAR(a.item(), 1.0 - 0.1, 1e-7);  // first Adam step moves by ~lr
  EXPECT_NEAR(b.item(), 1.0 - 1.0, 1e-7);
  EXPECT_EQ(c.item(), 1.0);
  EXPECT_EQ(adam.step_count(0, 0), 1);
  EXPECT_EQ(adam.step_count(0, 1), 0);
}

TEST(Optim, StateRoundTripContinuesTheSameTrajectory) {
  auto make = [](Tensor& p) { return optim::Adam({{{p}, 0.05, "w"}}); };
  Tensor p1 = test::leaf(Tensor::from_vector<double>(kP0, {3}));
  Tensor p2 = test::leaf(Tensor::from_vector<double>(kP0, {3}));
  optim::Adam first = make(p1);
  p1.set_grad(Tensor::from_vector<double>(kGrads[0], {3}));
  first.step();
  // A fresh optimizer loads the state and the parameter values, then both take the same step.
  optim::Adam resumed = make(p2);
  resumed.load_state_dict(first.state_dict());
  {
    autograd::NoGradGuard no_grad;
    p2.copy_(p1);
  }
  for (optim::Adam* opt : {&first, &resumed}) {
    Tensor& p = opt == &first ? p1 : p2;
    p.set_grad(Tensor::from_vector<double>(kGrads[1], {3}));
    opt->step();
  }
  EXPECT_EQ(p1.to_vector<double>(), p2.to_vector<double>());
  EXPECT_EQ(resumed.step_count(0, 0), 2);
  auto state = first.state_dict();
  state["w.0.exp_avg"] = Tensor::zeros({4}, DType::Float64);
  EXPECT_ERROR_CONTAINS(resumed.load_state_dict(state), "w.0.exp_avg", "float64[4]", "float64[3]");
  state.erase("w.0.step");
  EXPECT_ERROR_CONTAINS(resumed.load_state_dict(state), "missing key 'w.0.step'");
}

// The CPU Adam updates a whole group in one pass (vectorised, one parallel region over all its tensors): the
// result must be adam_update's per-element formula bit for bit, for any thread count, with tensors at different
// steps (one without a gradient at the first step), sizes off the vector widths and one tensor listed twice.
template <class T>
void expect_one_pass_adam_is_the_per_element_formula(const optim::AdamOptions& options, int threads) {
  set_num_threads(threads);
  const DType dtype = std::is_same_v<T, float> ? DType::Float32 : DType::Float64;
  const std::vector<int64_t> sizes = {1, 7, 16, 33, 1000, 70001};
  std::vector<Tensor> params;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    params.push_back(test::leaf(test::random_tensor({sizes[i]}, 10 + i, dtype)));
  std::vector<Tensor> listed = params;
  listed.push_back(params[2]);  // updated twice per step, in order, each entry with its own state
  optim::Adam adam({{listed, 0.01, "all"}}, options);

  // The reference: adam_update element by element, entry after entry, as the per-tensor loop did.
  std::vector<std::vector<T>> p, m, v;
  for (const Tensor& t : params) p.push_back(t.to_vector<T>());
  for (const Tensor& t : listed) {
    m.emplace_back(std::size_t(t.numel()), T(0));
    v.emplace_back(std::size_t(t.numel()), T(0));
  }
  std::vector<int64_t> steps(listed.size(), 0);
  const auto index_of = [&](std::size_t entry) { return entry < params.size() ? entry : std::size_t(2); };
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<T>> grads;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const bool skip = step == 0 && i == 4;
      const Tensor g = test::random_tensor({sizes[i]}, 100 * uint64_t(step) + i, dtype);
      params[i].set_grad(skip ? Tensor() : g);
      grads.push_back(skip ? std::vector<T>() : g.to_vector<T>());
    }
    adam.step();
    for (std::size_t e = 0; e < listed.size(); ++e) {
      const std::size_t i = index_of(e);
      if (grads[i].empty()) continue;
      kernels::AdamParams a;
      a.lr = 0.01;
      a.beta1 = options.beta1;
      a.beta2 = options.beta2;
      a.eps = options.eps;
      a.weight_decay = options.weight_decay;
      a.decoupled = options.decoupled_weight_decay;
      ++steps[e];
      a.bias_correction1 = 1.0 - std::pow(options.beta1, double(steps[e]));
      a.bias_correction2 = 1.0 - std::pow(options.beta2, double(steps[e]));
      for (std::size_t k = 0; k < p[i].size(); ++k) kernels::adam_update(p[i][k], grads[i][k], m[e][k], v[e][k], a);
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(params[i].to_vector<T>(), p[i]) << dtype_name(dtype) << " tensor " << i << ", " << threads << " threads";
  set_num_threads(0);
}

TEST(Optim, AdamOnePassOverAGroupIsThePerElementFormulaBitForBit) {
  optim::AdamOptions l2, decoupled;
  l2.weight_decay = 0.1;
  decoupled.weight_decay = 0.1;
  decoupled.decoupled_weight_decay = true;
  for (int threads : {1, 2}) {
    for (const optim::AdamOptions& o : {optim::AdamOptions{}, l2, decoupled}) {
      expect_one_pass_adam_is_the_per_element_formula<float>(o, threads);
      expect_one_pass_adam_is_the_per_element_formula<double>(o, threads);
    }
  }
}

TEST(Optim, RejectsNonParameters) {
  const Tensor not_leaf = Tensor::ones({2});
  EXPECT_ERROR_CONTAINS(optim::Adam({{{not_leaf}, 0.1, "g"}}), "group 'g' parameter 0", "requires grad");
  Tensor p = test::leaf(Tensor::ones({2}));
  optim::AdamOptions bad;
  bad.beta1 = 1.0;
  EXPECT_ERROR_CONTAINS(optim::Adam({{{p}, 0.1, "p"}}, bad), "betas");
}

}  // namespace
}  // namespace spml
