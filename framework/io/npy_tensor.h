// Tensor <-> .npy: numeric .npy arrays as CPU tensors (float32/64, uint8, bool, int32, int64; other integer
// widths widened to int64, float16 kept as float16 storage) and tensors written as .npy files.
#pragma once

#include <string>

#include "framework/core/tensor.h"
#include "framework/io/npy.h"

namespace spml::io {

// Throws spml::Error naming `name` when the array holds strings or a type without a tensor equivalent.
Tensor npy_to_tensor(const NpyArray& array, const std::string& name);
NpyArray tensor_to_npy(const Tensor& tensor);  // any device; copied to the host

Tensor read_npy_tensor(const std::string& path);
void write_npy_tensor(const std::string& path, const Tensor& tensor);  // atomic

}  // namespace spml::io
