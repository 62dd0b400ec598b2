// PyTorch-compatible initialisers on the Philox streams.
#include "framework/nn/init.h"

#include <cmath>

#include "framework/autograd/autograd.h"

namespace spml::nn::init {
namespace {
int64_t receptive_field(const Tensor& w) {
  SPML_CHECK(w.dim() >= 2, "init: fan needs a weight with at least 2 dimensions, got ", w.description());
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

int64_t fan_in(const Tensor& weight) {
  return weight.size(1) * receptive_field(weight);
}
int64_t fan_out(const Tensor& weight) {
  return weight.size(0) * receptive_field(weight);
}

void kaiming_normal_(Tensor& weight, int64_t fan, uint64_t seed, double gain) {
  SPML_CHECK(fan > 0, "kaiming_normal_: fan must be positive, got ", fan);
  autograd::NoGradGuard no_grad;
  weight.normal_(0.0, gain / std::sqrt(double(fan)), seed);
}

void uniform_(Tensor& t, double bound, uint64_t seed) {
  autograd::NoGradGuard no_grad;
  t.uniform_(-bound, bound, seed);
}

void linear_default_(Tensor& weight, Tensor& bias, uint64_t seed) {
  const double bound = 1.0 / std::sqrt(double(fan_in(weight)));
  uniform_(weight, bound, seed);
  if (bias.defined()) uniform_(bias, bound, seed ^ 0x9E3779B97F4A7C15ull);
}

uint64_t derive_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name, mixed with the seed
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;  // splitmix-style finaliser spreads nearby seeds apart
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace spml::nn::init
