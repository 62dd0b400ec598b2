// LL-Cp's and EM+APL's per-run training labels (see label_state.h).
#include "training/label_state.h"

#include <algorithm>
#include <numeric>

#include "kernels/common/error.h"

namespace spml::training {
namespace {

Tensor gather(const Tensor& table, const Tensor& indices) {
  SPML_CHECK(indices.dtype() == DType::Int64 && indices.dim() == 1 && indices.device().is_cpu(),
             "TrainLabelState: batch indices must be int64 [B] on the CPU, got ", indices.description());
  const int64_t rows = table.size(0), cols = table.size(1), count = indices.numel();
  Tensor out = Tensor::empty({count, cols});
  const float* src = table.data<float>();
  float* dst = out.data<float>();
  const int64_t* index = indices.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    SPML_CHECK(index[i] >= 0 && index[i] < rows, "TrainLabelState: batch index ", index[i], " outside [0, ", rows, ")");
    std::copy(src + index[i] * cols, src + (index[i] + 1) * cols, dst + i * cols);
  }
  return out;
}

}  // namespace

TrainLabelState::TrainLabelState(const Tensor& observed) {
  SPML_CHECK(
      observed.defined() && observed.dim() == 2 && observed.dtype() == DType::Float32 && observed.device().is_cpu(),
      "TrainLabelState: observed labels must be [N, C] float32 on the CPU, got ", observed.description());
  observed_ = observed.clone();
  labels_ = observed.clone();
  apl_targets_ = Tensor::full(observed.shape(), kNotPseudoLabelled, DType::Float32, Device::cpu());
  const int64_t rows = observed.size(0), cols = observed.size(1);
  unobserved_at_start_.assign(std::size_t(cols), 0);
  const float* y = observed_.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = y[r * cols + c];
      SPML_CHECK(v == 0.0f || v == 1.0f, "TrainLabelState: observed label ", v, " at row ", r, ", column ", c,
                 " is not 0 or 1");
      unobserved_at_start_[std::size_t(c)] += v == 0.0f;
    }
}

Tensor TrainLabelState::label_rows(const Tensor& indices) const {
  return gather(labels_, indices);
}

Tensor TrainLabelState::apl_target_rows(const Tensor& indices) const {
  return gather(apl_targets_, indices);
}

int64_t TrainLabelState::flip_to_positive(const Tensor& indices, const Tensor& mask) {
  const int64_t cols = labels_.size(1), count = indices.numel();
  SPML_CHECK(indices.dtype() == DType::Int64 && indices.device().is_cpu() && mask.device().is_cpu() &&
                 mask.dtype() == DType::Float32 && mask.dim() == 2 && mask.size(0) == count && mask.size(1) == cols,
             "TrainLabelState::flip_to_positive: needs int64 indices [B] and a float32 mask [B, ", cols,
             "] on the CPU, got ", indices.description(), " and ", mask.description());
  const int64_t* index = indices.data<int64_t>();
  const float* m = mask.data<float>();
  float* labels = labels_.data<float>();
  int64_t changed = 0;
  for (int64_t i = 0; i < count; ++i) {
    SPML_CHECK(index[i] >= 0 && index[i] < labels_.size(0), "TrainLabelState: batch index ", index[i], " outside [0, ",
               labels_.size(0), ")");
    for (int64_t c = 0; c < cols; ++c) {
      float& y = labels[index[i] * cols + c];
      if (m[i * cols + c] == 1.0f && y == 0.0f) {
        y = 1.0f;
        ++changed;
      }
    }
  }
  return changed;
}

int64_t TrainLabelState::pseudo_label(const Tensor& probabilities, int epochs, int warmup) {
  const int64_t rows = labels_.size(0), cols = labels_.size(1);
  SPML_CHECK(probabilities.defined() && probabilities.device().is_cpu() && probabilities.dtype() == DType::Float32 &&
                 probabilities.shape() == labels_.shape(),
             "TrainLabelState::pseudo_label: needs the train split's probabilities as float32 ",
             shape_str(labels_.shape()), " on the CPU, got ", probabilities.description());
  SPML_CHECK(warmup >= 1 && warmup < epochs, "TrainLabelState::pseudo_label: warm-up ", warmup, " outside [1, ", epochs,
             ")");
  const float* p = probabilities.data<float>();
  const float* y = observed_.data<float>();
  float* targets = apl_targets_.data<float>();
  int64_t labelled = 0;
  std::vector<int64_t> candidates;
  for (int64_t c = 0; c < cols; ++c) {
    // The published code's int(0.9 * U_c / (T - warmup)), evaluated left to right in float64.
    const int64_t quota =
        int64_t(kAplProportion * double(unobserved_at_start_[std::size_t(c)]) / double(epochs - warmup));
    candidates.clear();
    for (int64_t r = 0; r < rows; ++r)
      if (y[r * cols + c] == 0.0f && targets[r * cols + c] < 0.0f) candidates.push_back(r);
    const int64_t picked = std::min<int64_t>(quota, int64_t(candidates.size()));
    if (picked <= 0) continue;
    const auto lower = [&](int64_t a, int64_t b) {
      const float pa = p[a * cols + c], pb = p[b * cols + c];
      return pa != pb ? pa < pb : a < b;
    };
    std::nth_element(candidates.begin(), candidates.begin() + (picked - 1), candidates.end(), lower);
    for (int64_t j = 0; j < picked; ++j) {
      const int64_t r = candidates[std::size_t(j)];
      const float pr = p[r * cols + c];
      SPML_CHECK(pr >= 0.0f && pr <= 1.0f, "TrainLabelState::pseudo_label: probability ", pr, " at row ", r, ", class ",
                 c, " is not in [0, 1]");
      targets[r * cols + c] = pr;
    }
    labelled += picked;
  }
  return labelled;
}

int64_t TrainLabelState::flipped_count() const {
  const float* a = labels_.data<float>();
  const float* b = observed_.data<float>();
  int64_t n = 0;
  for (int64_t i = 0; i < labels_.numel(); ++i) n += a[i] != b[i];
  return n;
}

int64_t TrainLabelState::pseudo_labelled_count() const {
  const float* t = apl_targets_.data<float>();
  int64_t n = 0;
  for (int64_t i = 0; i < apl_targets_.numel(); ++i) n += t[i] >= 0.0f;
  return n;
}

}  // namespace spml::training
