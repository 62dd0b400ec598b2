// spml-demo: trains a small MLP on the two-spirals toy problem with Adam and reports loss and accuracy; a
// quick end-to-end check of tensors, autograd, linear/activation ops and the optimizer on CPU or CUDA.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>

#include "framework/autograd/autograd.h"
#include "framework/core/runtime.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/data/builders/toy.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"

namespace {
// Mean binary cross-entropy on probabilities (eps keeps the logs finite at saturation).
spml::Tensor bce(const spml::Tensor& p, const spml::Tensor& y) {
  using namespace spml;
  const Tensor pos = mul(y, log(add(p, 1e-7)));
  const Tensor neg_part = mul(add(neg(y), 1.0), log(add(neg(p), 1.0 + 1e-7)));
  return neg(mean(add(pos, neg_part)));
}

double accuracy(const spml::Tensor& p, const spml::Tensor& y) {
  const auto pv = p.to(spml::Device::cpu()).to_vector<float>();
  const auto yv = y.to(spml::Device::cpu()).to_vector<float>();
  int64_t correct = 0;
  for (std::size_t i = 0; i < pv.size(); ++i) correct += (pv[i] > 0.5f) == (yv[i] > 0.5f);
  return double(correct) / double(pv.size());
}
}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-demo: train a small MLP on two spirals (tensor, autograd and optimizer smoke run)"};
  std::string device_name = "cpu";
  int threads = 0, steps = 600, hidden = 64, points = 512;
  double lr = 0.01;
  uint64_t seed = 0;
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads for OpenMP and BLAS (0: all cores)")->capture_default_str();
  app.add_option("--steps", steps, "full-batch Adam steps")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden units per layer")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--points", points, "training points (even)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed for data and initialisation")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    using namespace spml;
    const Device device = setup_threads_and_device(threads, device_name);
    std::printf("%s\n", build_info_string().c_str());

    const data::ToyData train = data::two_spirals(points, 0.03, seed);
    const Tensor x = train.features.to(device), y = train.labels.to(device);
    auto model = std::make_shared<nn::Sequential>();
    model->push_back(std::make_shared<nn::Linear>(2, hidden, true, seed + 1));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::Linear>(hidden, hidden, true, seed + 2));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::Linear>(hidden, 1, true, seed + 3));
    model->to(device);
    optim::Adam adam({{model->parameters(), lr, "mlp"}});

    const auto start = std::chrono::steady_clock::now();
    double loss_value = 0;
    for (int step = 1; step <= steps; ++step) {
      adam.zero_grad();
      const Tensor loss = bce(sigmoid(model->forward(x)), y);
      loss.backward();
      adam.step();
      loss_value = loss.item();
      SPML_CHECK(std::isfinite(loss_value), "spml-demo: loss became ", loss_value, " at step ", step);
      if (step == 1 || step % 100 == 0 || step == steps) std::printf("step %4d  loss %.5f\n", step, loss_value);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    autograd::NoGradGuard no_grad;
    const double acc = accuracy(sigmoid(model->forward(x)), y);
    std::printf(
        "{\"final_loss\": %.6f, \"train_accuracy\": %.4f, \"steps\": %d, \"seconds\": %.2f, \"device\": \"%s\"}\n",
        loss_value, acc, steps, seconds, device.str().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-demo: error: %s\n", e.what());
    return 1;
  }
}
