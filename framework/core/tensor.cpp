// Tensor, Storage, dtype and device basics; factories, copies, views and in-place updates.
#include "framework/core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"

namespace spml {

// ---------------------------------------------------------------------------------------------- dtype / device
std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Float16:
      return 2;
    case DType::BFloat16:
      return 2;
    case DType::UInt8:
      return 1;
    case DType::Int32:
      return 4;
    case DType::Int64:
      return 8;
    case DType::Bool:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Float16:
      return "float16";
    case DType::BFloat16:
      return "bfloat16";
    case DType::UInt8:
      return "uint8";
    case DType::Int32:
      return "int32";
    case DType::Int64:
      return "int64";
    case DType::Bool:
      return "bool";
  }
  return "unknown";
}

bool is_floating(DType dtype) {
  return dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Float16 || dtype == DType::BFloat16;
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    char* end = nullptr;
    const long index = std::strtol(text.c_str() + 5, &end, 10);
    if (end && *end == '\0' && index >= 0) return cuda(int(index));
  }
  SPML_FAIL("device '", text, "' not understood: expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------- storage
namespace {
constexpr std::size_t kHostAlignment = 64;  // cache line, and enough for any SIMD load
}

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    const std::size_t rounded =
        std::max<std::size_t>(kHostAlignment, (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment);
    data_ = std::aligned_alloc(kHostAlignment, rounded);
    SPML_CHECK(data_ != nullptr, "out of host memory: asked for ", bytes, " bytes");
  } else {
    cuda_runtime::require_device(device.index, "tensor allocation");
    data_ = cuda_runtime::device_allocate(bytes, device.index);
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
    try {
      cuda_runtime::device_free(data_, device_.index);
    } catch (...) {
      // A destructor must not throw; the allocator reports its own errors elsewhere.
    }
  }
}

// ---------------------------------------------------------------------------------------------- factories
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) SPML_CHECK(d >= 0, "Tensor::empty: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(std::size_t(shape_numel(shape)) * element_size(dtype), device);
  return Tensor(impl);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  SPML_CHECK(int64_t(values.size()) == shape_numel(shape), "Tensor::from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  return from_host(values.data(), shape, dtype_of<T>::value, device);
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);

Tensor Tensor::from_host(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.nbytes() == 0) return t;
  if (device.is_cpu()) {
    std::memcpy(t.data_ptr(), data, t.nbytes());
  } else {
    cuda_runtime::memcpy(t.data_ptr(), data, t.nbytes(), cuda_runtime::CopyKind::HostToDevice, device.index);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------- metadata
void Tensor::require_defined(const char* what) const {
  SPML_CHECK(impl_ != nullptr, what, ": called on an undefined tensor");
}

const Shape& Tensor::shape() const {
  require_defined("Tensor::shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  const int64_t k = d < 0 ? d + n : d;
  SPML_CHECK(k >= 0 && k < n, "Tensor::size: dimension ", d, " out of range for shape ", shape_str(shape()));
  return impl_->shape[std::size_t(k)];
}

int64_t Tensor::numel() const {
  return shape_numel(shape());
}
DType Tensor::dtype() const {
  require_defined("Tensor::dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  require_defined("Tensor::device");
  return impl_->storage->device();
}

std::string Tensor::description() const {
  if (!impl_) return "undefined tensor";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::data_ptr() const {
  require_defined("Tensor::data_ptr");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset_bytes;
}

template <class T>
T* Tensor::data() const {
  SPML_CHECK(dtype() == dtype_of<T>::value || (dtype() == DType::Bool && std::is_same_v<T, uint8_t>),
             "Tensor::data: asked for ", dtype_name(dtype_of<T>::value), " elements of a ", description());
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template uint8_t* Tensor::data<uint8_t>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = to(Device::cpu());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  SPML_CHECK(numel() == 1, "Tensor::item: needs one element, got ", description());
  const Tensor host = to(Device::cpu());
  double value = 0;
  SPML_DISPATCH_ALL(dtype(), "Tensor::item", value = double(*static_cast<const scalar_t*>(host.data_ptr())));
  return value;
}

bool Tensor::same_storage(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
}

// ---------------------------------------------------------------------------------------------- copies
Tensor Tensor::to(Device target) const {
  require_defined("Tensor::to");
  if (device() == target) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType target) const {
  require_defined("Tensor::to");
  if (dtype() == target) return *this;
  Tensor out = empty(shape(), target, device());
  const int64_t n = numel();
  const DType src = dtype();
  SPML_DISPATCH_ALL(src, "Tensor::to(dtype)", {
    using src_t = scalar_t;
    SPML_DISPATCH_ALL(target, "Tensor::to(dtype)", {
      SPML_RUN_KERNEL(device(), cast, static_cast<const src_t*>(data_ptr()), static_cast<scalar_t*>(out.data_ptr()), n);
    });
  });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::detach() const {
  require_defined("Tensor::detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset_bytes = impl_->offset_bytes;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(impl);
}

// ---------------------------------------------------------------------------------------------- views
namespace {
Tensor make_view(const Tensor& base, const Shape& shape, std::size_t extra_offset_bytes) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->offset_bytes = base.impl()->offset_bytes + extra_offset_bytes;
  impl->shape = shape;
  impl->dtype = base.dtype();
  return Tensor(impl);
}
}  // namespace

Tensor Tensor::reshape(const Shape& requested) const {
  require_defined("reshape");
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SPML_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(requested));
      infer = int64_t(i);
    } else {
      SPML_CHECK(shape[i] >= 0, "reshape: negative dimension in ", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    SPML_CHECK(known > 0 && numel() % known == 0, "reshape: cannot view ", shape_str(this->shape()), " as ",
               shape_str(requested));
    shape[std::size_t(infer)] = numel() / known;
  }
  SPML_CHECK(shape_numel(shape) == numel(), "reshape: cannot view ", shape_str(this->shape()), " (", numel(),
             " elements) as ", shape_str(requested));
  Tensor out = make_view(*this, shape, 0);
  const Shape input_shape = this->shape();
  return autograd::record("reshape", out, {*this},
                          [input_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(input_shape)}; });
}

Tensor Tensor::flatten(int64_t start_dim) const {
  const int64_t n = dim();
  const int64_t s = start_dim < 0 ? start_dim + n : start_dim;
  SPML_CHECK(s >= 0 && s <= n, "flatten: start_dim ", start_dim, " out of range for ", shape_str(shape()));
  Shape out(shape().begin(), shape().begin() + s);
  out.push_back(shape_numel(Shape(shape().begin() + s, shape().end())));
  return reshape(out);
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  require_defined("slice");
  SPML_CHECK(dim() >= 1, "slice: needs at least one dimension, got ", description());
  const int64_t rows = shape()[0];
  SPML_CHECK(0 <= begin && begin <= end && end <= rows, "slice: rows [", begin, ", ", end, ") out of range for ",
             shape_str(shape()));
  Shape out_shape = shape();
  out_shape[0] = end - begin;
  const std::size_t row_bytes = std::size_t(rows ? numel() / rows : 0) * element_size(dtype());
  Tensor out = make_view(*this, out_shape, std::size_t(begin) * row_bytes);
  const Shape input_shape = shape();
  return autograd::record("slice", out, {*this}, [input_shape, begin, end](const Tensor& g) {
    Tensor full = Tensor::zeros(input_shape, g.dtype(), g.device());
    full.slice(begin, end).detach().copy_(g);
    return std::vector<Tensor>{full};
  });
}

// ---------------------------------------------------------------------------------------------- in-place
namespace {
void check_inplace_allowed(const Tensor& t, const char* op) {
  SPML_CHECK(!(autograd::grad_mode_enabled() && t.requires_grad()), op, ": in-place update of ", t.description(),
             " that requires grad while grad mode is on (use NoGradGuard or detach())");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  require_defined("fill_");
  check_inplace_allowed(*this, "fill_");
  const int64_t n = numel();
  SPML_DISPATCH_ALL(dtype(), "fill_",
                    { SPML_RUN_KERNEL(device(), fill, static_cast<scalar_t*>(data_ptr()), n, scalar_t(value)); });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  require_defined("copy_");
  check_inplace_allowed(*this, "copy_");
  SPML_CHECK(src.defined(), "copy_: source is undefined");
  SPML_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: source ", src.description(),
             " does not match destination ", description());
  const std::size_t bytes = nbytes();
  if (bytes == 0 || data_ptr() == src.data_ptr()) return *this;
  if (device().is_cpu() && src.device().is_cpu()) {
    std::memmove(data_ptr(), src.data_ptr(), bytes);
  } else if (device().is_cpu()) {
    cuda_runtime::memcpy(data_ptr(), src.data_ptr(), bytes, cuda_runtime::CopyKind::DeviceToHost, src.device().index);
  } else if (src.device().is_cpu()) {
    cuda_runtime::memcpy(data_ptr(), src.data_ptr(), bytes, cuda_runtime::CopyKind::HostToDevice, device().index);
  } else {
    SPML_CHECK(device() == src.device(), "copy_: between two CUDA devices (", src.device().str(), " -> ",
               device().str(), ") is not supported; go through the host");
    cuda_runtime::memcpy(data_ptr(), src.data_ptr(), bytes, cuda_runtime::CopyKind::DeviceToDevice, device().index,
                         false);
  }
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  require_defined("add_");
  check_inplace_allowed(*this, "add_");
  SPML_CHECK(other.defined() && other.shape() == shape() && other.dtype() == dtype() && other.device() == device(),
             "add_: operand ", other.description(), " does not match ", description());
  const int64_t n = numel();
  SPML_DISPATCH_FLOATING(dtype(), "add_", {
    SPML_RUN_KERNEL(device(), axpy, static_cast<scalar_t*>(data_ptr()), static_cast<const scalar_t*>(other.data_ptr()),
                    n, scalar_t(alpha));
  });
  return *this;
}

Tensor& Tensor::uniform_(double lo, double hi, uint64_t seed, uint64_t offset) {
  require_defined("uniform_");
  check_inplace_allowed(*this, "uniform_");
  const int64_t n = numel();
  SPML_DISPATCH_FLOATING(dtype(), "uniform_", {
    SPML_RUN_KERNEL(device(), fill_uniform, static_cast<scalar_t*>(data_ptr()), n, seed, offset, lo, hi);
  });
  return *this;
}

Tensor& Tensor::normal_(double mean, double stddev, uint64_t seed, uint64_t offset) {
  require_defined("normal_");
  check_inplace_allowed(*this, "normal_");
  const int64_t n = numel();
  SPML_DISPATCH_FLOATING(dtype(), "normal_", {
    SPML_RUN_KERNEL(device(), fill_normal, static_cast<scalar_t*>(data_ptr()), n, seed, offset, mean, stddev);
  });
  return *this;
}

// ---------------------------------------------------------------------------------------------- autograd
bool Tensor::requires_grad() const {
  return impl_ && impl_->requires_grad;
}

Tensor& Tensor::set_requires_grad(bool value) {
  require_defined("set_requires_grad");
  SPML_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad; ", description(),
             " is the output of ", impl_->grad_fn->name(), " (use detach())");
  SPML_CHECK(!value || dtype() == DType::Float32 || dtype() == DType::Float64,
             "set_requires_grad: only float32/float64 tensors can require grad, got ", description());
  impl_->requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const {
  return !impl_ || impl_->grad_fn == nullptr;
}

Tensor Tensor::grad() const {
  return impl_ && impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  require_defined("set_grad");
  if (grad.defined()) {
    SPML_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(), "set_grad: gradient ",
               grad.description(), " does not match ", description());
  }
  impl_->grad = grad.impl();
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  return impl_ ? impl_->grad_fn : none;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::run_backward(*this, gradient, retain_graph);
}

}  // namespace spml
