// Batch-norm math shared by the CPU kernels (reference and fast) and the CUDA kernel.
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"

namespace spml::kernels {

// PyTorch's running statistics after one training batch of `count` values per channel: momentum-weighted, the
// variance UNBIASED (biased_var * count / (count - 1)). Either pointer may be null.
template <class T>
SPML_HD void batchnorm_update_running(T* running_mean, T* running_var, int64_t ch, double mean, double biased_var,
                                      double count, double momentum) {
  if (running_mean) running_mean[ch] = T((1 - momentum) * double(running_mean[ch]) + momentum * mean);
  if (running_var) {
    const double denominator = count - 1 > 1 ? count - 1 : 1.0;
    running_var[ch] = T((1 - momentum) * double(running_var[ch]) + momentum * biased_var * count / denominator);
  }
}

}  // namespace spml::kernels
