// Seeded parameter initialisation with PyTorch's formulas (values come from the Philox streams, so the same
// seed gives the same numbers on the CPU and on CUDA).
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace spml::nn::init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (receptive field = product of
// dims 2..), as torch.nn.init._calculate_fan_in_and_fan_out.
int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

// N(0, gain / sqrt(fan)), gain = sqrt(2) for ReLU: torch.nn.init.kaiming_normal_(mode=fan_out|fan_in).
void kaiming_normal_(Tensor& weight, int64_t fan, uint64_t seed, double gain = 1.4142135623730951);
// U(-bound, bound).
void uniform_(Tensor& t, double bound, uint64_t seed);
// torch.nn.Linear.reset_parameters: kaiming_uniform(a = sqrt(5)) == U(+-1/sqrt(fan_in)) for the weight and
// U(+-1/sqrt(fan_in)) for the bias.
void linear_default_(Tensor& weight, Tensor& bias, uint64_t seed);

// A seed per named parameter derived from a run seed, so adding a layer does not shift the others' values.
uint64_t derive_seed(uint64_t seed, const std::string& name);

}  // namespace spml::nn::init
