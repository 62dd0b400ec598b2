// Tensor: a shared handle to an n-d array (shape, dtype, device) over contiguous storage that views share,
// plus the autograd fields (requires_grad, grad, grad_fn). Copies between devices are explicit (to()).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "kernels/common/error.h"

namespace spml {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);

namespace autograd {
class Node;
}

// Raw memory on one device, freed through its allocator when the last view goes away.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset_bytes = 0;  // where this view starts in the storage
  Shape shape;
  DType dtype = DType::Float32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;         // set on outputs of recorded ops
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: the node that accumulates into grad
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- factories (uninitialised, filled, from host data, random) ---
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  // Copies `bytes` of host memory holding numel elements of dtype.
  static Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

  // --- metadata ---
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const { return std::size_t(numel()) * element_size(dtype()); }
  std::string description() const;  // "float32[2, 3] on cpu"

  // --- data access (host pointers only for CPU tensors) ---
  void* data_ptr() const;
  template <class T>
  T* data() const;  // checks that T matches dtype
  template <class T>
  std::vector<T> to_vector() const;  // copies to the host; T must match dtype
  double item() const;               // value of a one-element tensor, as double

  // --- copies and views ---
  Tensor to(Device device) const;  // a copy on `device` (the same tensor when already there); not recorded
  Tensor to(DType dtype) const;    // a converted copy; not recorded
  Tensor clone() const;            // a detached deep copy
  Tensor detach() const;           // shares storage, no autograd history
  // Views sharing storage (recorded, gradients flow back to the base).
  Tensor reshape(const Shape& shape) const;  // one dimension may be -1
  Tensor flatten(int64_t start_dim = 1) const;
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of the first dimension

  // --- in-place, not recorded (optimizers, gradient accumulation, init); refused on tensors that
  // take part in autograd while grad mode is on ---
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);                       // same shape and dtype, any devices
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& uniform_(double lo, double hi, uint64_t seed, uint64_t offset = 0);
  Tensor& normal_(double mean, double stddev, uint64_t seed, uint64_t offset = 0);

  // --- autograd ---
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value);  // leaves only
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  // Reverse-mode gradient of this tensor w.r.t. every leaf that requires grad; gradients accumulate (+=)
  // into the leaves' grad. A non-scalar needs `gradient` (same shape). Saved tensors are freed afterwards
  // unless retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same_storage(const Tensor& other) const;

 private:
  void require_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace spml
