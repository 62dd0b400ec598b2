// Reductions (sum, mean), sum_to_shape, transpose and concat, with their backward.
#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"

namespace spml {
namespace {
// y[o, i] = scale * sum_k x[o, k, i] over a contiguous [outer, n, inner] view of x.
Tensor reduce_raw(const Tensor& x, int64_t outer, int64_t n, int64_t inner, double scale, const Shape& out_shape) {
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  SPML_DISPATCH_FLOATING(x.dtype(), "sum", {
    SPML_RUN_KERNEL(x.device(), reduce_sum, x.data<scalar_t>(), y.data<scalar_t>(), outer, n, inner, scalar_t(scale));
  });
  return y;
}

// The transpose of reduce_raw: y[o, k, i] = scale * g[o, i].
Tensor broadcast_raw(const Tensor& g, int64_t outer, int64_t n, int64_t inner, double scale, const Shape& out_shape) {
  Tensor y = Tensor::empty(out_shape, g.dtype(), g.device());
  SPML_DISPATCH_FLOATING(g.dtype(), "sum.backward", {
    SPML_RUN_KERNEL(g.device(), broadcast_dim, g.data<scalar_t>(), y.data<scalar_t>(), outer, n, inner,
                    scalar_t(scale));
  });
  return y;
}

void check_reducible(const Tensor& x, const char* op) {
  SPML_CHECK(x.defined(), op, ": input is undefined");
  SPML_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, op, ": expected float32 or float64, got ",
             x.description());
}

Tensor reduce_all(const Tensor& x, bool average, const char* name) {
  NvtxRange range(name);
  check_reducible(x, name);
  const int64_t n = x.numel();
  const double scale = average ? 1.0 / double(n) : 1.0;
  SPML_CHECK(!average || n > 0, name, ": mean of an empty tensor ", x.description());
  Tensor y = reduce_raw(x, 1, n, 1, scale, Shape{});
  const Shape in_shape = x.shape();
  return autograd::record(name, y, {x}, [in_shape, n, scale](const Tensor& g) {
    return std::vector<Tensor>{broadcast_raw(g, 1, n, 1, scale, in_shape)};
  });
}

Tensor reduce_dim(const Tensor& x, int64_t dim, bool keepdim, bool average, const char* name) {
  NvtxRange range(name);
  check_reducible(x, name);
  const int64_t nd = x.dim();
  const int64_t d = dim < 0 ? dim + nd : dim;
  SPML_CHECK(d >= 0 && d < nd, name, ": dimension ", dim, " out of range for ", shape_str(x.shape()));
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[std::size_t(i)];
  for (int64_t i = d + 1; i < nd; ++i) inner *= s[std::size_t(i)];
  const int64_t n = s[std::size_t(d)];
  SPML_CHECK(!average || n > 0, name, ": mean over an empty dimension of ", x.description());
  const double scale = average ? 1.0 / double(n) : 1.0;
  Shape out_shape = s;
  if (keepdim) {
    out_shape[std::size_t(d)] = 1;
  } else {
    out_shape.erase(out_shape.begin() + d);
  }
  Tensor y = reduce_raw(x, outer, n, inner, scale, out_shape);
  return autograd::record(name, y, {x}, [s, outer, n, inner, scale](const Tensor& g) {
    return std::vector<Tensor>{broadcast_raw(g, outer, n, inner, scale, s)};
  });
}
}  // namespace

Tensor sum(const Tensor& x) {
  return reduce_all(x, false, "sum");
}
Tensor mean(const Tensor& x) {
  return reduce_all(x, true, "mean");
}
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_dim(x, dim, keepdim, false, "sum");
}
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  return reduce_dim(x, dim, keepdim, true, "mean");
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const std::size_t nd = x.shape().size();
  SPML_CHECK(shape.size() <= nd, "sum_to_shape: ", shape_str(shape), " has more dimensions than ",
             shape_str(x.shape()));
  Shape target(nd, 1);
  std::copy(shape.begin(), shape.end(), target.begin() + (nd - shape.size()));
  autograd::NoGradGuard no_grad;
  Tensor current = x;
  for (std::size_t d = 0; d < nd; ++d) {
    if (target[d] == current.shape()[d]) continue;
    SPML_CHECK(target[d] == 1, "sum_to_shape: ", shape_str(x.shape()), " cannot be summed to ", shape_str(shape));
    current = sum(current, int64_t(d), /*keepdim=*/true);
  }
  return current.reshape(shape);
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  return x.reshape(shape);
}
Tensor flatten(const Tensor& x, int64_t start_dim) {
  return x.flatten(start_dim);
}

Tensor transpose(const Tensor& x) {
  NvtxRange range("transpose");
  SPML_CHECK(x.defined() && x.dim() == 2, "transpose: expected a 2-D tensor, got ", x.description());
  const int64_t rows = x.size(0), cols = x.size(1);
  Tensor y = Tensor::empty({cols, rows}, x.dtype(), x.device());
  SPML_DISPATCH_ALL(x.dtype(), "transpose",
                    { SPML_RUN_KERNEL(x.device(), transpose2d, x.data<scalar_t>(), y.data<scalar_t>(), rows, cols); });
  return autograd::record("transpose", y, {x}, [](const Tensor& g) { return std::vector<Tensor>{transpose(g)}; });
}

Tensor concat(const std::vector<Tensor>& parts) {
  NvtxRange range("concat");
  SPML_CHECK(!parts.empty(), "concat: needs at least one tensor");
  const Tensor& first = parts[0];
  SPML_CHECK(first.defined() && first.dim() >= 1, "concat: part 0 must have at least one dimension, got ",
             first.description());
  int64_t rows = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    SPML_CHECK(p.defined(), "concat: part ", i, " is undefined");
    const bool same_tail =
        p.dim() == first.dim() && std::equal(p.shape().begin() + 1, p.shape().end(), first.shape().begin() + 1);
    SPML_CHECK(same_tail && p.dtype() == first.dtype() && p.device() == first.device(), "concat: part ", i, " ",
               p.description(), " does not match part 0 ", first.description(), " beyond dimension 0");
    rows += p.size(0);
  }
  Shape out_shape = first.shape();
  out_shape[0] = rows;
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> offsets;
  int64_t row = 0;
  for (const Tensor& p : parts) {
    offsets.push_back(row);
    out.slice(row, row + p.size(0)).copy_(p.detach());
    row += p.size(0);
  }
  offsets.push_back(row);
  return autograd::record("concat", out, parts, [offsets](const Tensor& g) {
    std::vector<Tensor> grads;
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) grads.push_back(g.slice(offsets[i], offsets[i + 1]).clone());
    return grads;
  });
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  SPML_CHECK(a.defined() && b.defined() && a.shape() == b.shape(), "max_abs_diff: shapes differ: ", a.description(),
             " and ", b.description());
  const std::vector<double> x = a.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = b.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = std::fabs(x[i] - y[i]);
    if (std::isnan(d)) return d;
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace spml

namespace spml {

Tensor index_rows(const Tensor& x, const Tensor& indices) {
  NvtxRange range("index_rows");
  SPML_CHECK(x.defined() && x.dim() >= 1, "index_rows: x must have at least one dimension, got ", x.description());
  SPML_CHECK(indices.defined() && indices.dim() == 1 && indices.dtype() == DType::Int64,
             "index_rows: indices must be int64 [B], got ", indices.description());
  const Tensor host_index = indices.to(Device::cpu());
  const int64_t rows = x.size(0), count = indices.numel();
  const int64_t* hi = host_index.data<int64_t>();
  for (int64_t r = 0; r < count; ++r)
    SPML_CHECK(hi[r] >= 0 && hi[r] < rows, "index_rows: index ", hi[r], " at position ", r, " out of range for ",
               shape_str(x.shape()));
  const Tensor index = host_index.to(x.device());
  const int64_t width = rows ? x.numel() / rows : 0;
  Shape out_shape = x.shape();
  out_shape[0] = count;
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  SPML_DISPATCH_FLOATING(x.dtype(), "index_rows", {
    SPML_RUN_KERNEL(x.device(), gather_rows, x.data<scalar_t>(), index.data<int64_t>(), out.data<scalar_t>(), count,
                    width);
  });
  const Shape in_shape = x.shape();
  return autograd::record("index_rows", out, {x}, [index, in_shape, count, width](const Tensor& g) {
    Tensor full = Tensor::zeros(in_shape, g.dtype(), g.device());
    SPML_DISPATCH_FLOATING(g.dtype(), "index_rows.backward", {
      SPML_RUN_KERNEL(g.device(), scatter_add_rows, g.data<scalar_t>(), index.data<int64_t>(), full.data<scalar_t>(),
                      count, width);
    });
    return std::vector<Tensor>{full};
  });
}

}  // namespace spml
