// Central-difference gradient checker (see gradcheck.h).
#include "framework/testing/gradcheck.h"

#include <cmath>
#include <sstream>

#include "framework/autograd/autograd.h"

namespace spml::testing {
namespace {
double read(const Tensor& t, int64_t i) {
  return t.dtype() == DType::Float64 ? t.data<double>()[i] : double(t.data<float>()[i]);
}
void write(const Tensor& t, int64_t i, double v) {
  if (t.dtype() == DType::Float64) {
    t.data<double>()[i] = v;
  } else {
    t.data<float>()[i] = float(v);
  }
}
// L = sum(out * r) in double.
double projected(const Tensor& out, const std::vector<double>& r) {
  const std::vector<double> v = out.to(DType::Float64).to_vector<double>();
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) s += v[i] * r[i];
  return s;
}
}  // namespace

GradCheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& options) {
  bool any_f32 = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    SPML_CHECK(t.defined() && t.device().is_cpu(), "gradcheck: input ", i, " must be a defined CPU tensor, got ",
               t.description());
    SPML_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, "gradcheck: input ", i,
               " must be float32 or float64, got ", t.description());
    if (t.requires_grad()) SPML_CHECK(t.is_leaf(), "gradcheck: input ", i, " must be a leaf tensor");
    any_f32 |= t.requires_grad() && t.dtype() == DType::Float32;
  }
  const double step = options.step > 0 ? options.step : (any_f32 ? 5e-3 : 1e-6);
  const double atol = options.atol > 0 ? options.atol : (any_f32 ? 2e-3 : 1e-6);
  const double rtol = options.rtol > 0 ? options.rtol : (any_f32 ? 2e-2 : 1e-5);
  const double kink_tol = options.kink_tolerance > 0 ? options.kink_tolerance : (any_f32 ? 5e-2 : 1e-3);

  // Analytic gradients through autograd with output gradient r.
  for (const Tensor& t : inputs)
    if (t.requires_grad()) t.set_grad(Tensor());
  Tensor out = f(inputs);
  SPML_CHECK(out.defined() && out.requires_grad(), "gradcheck: the function's output does not require grad");
  Tensor r = Tensor::empty(out.shape(), DType::Float64);
  r.uniform_(-1.0, 1.0, options.seed);
  const std::vector<double> r_host = r.to_vector<double>();
  out.backward(r.to(out.dtype()).to(out.device()));

  GradCheckResult result;
  std::ostringstream failures;
  int reported = 0;
  autograd::NoGradGuard no_grad;
  const double base = projected(f(inputs), r_host);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    const Tensor g = x.grad().defined() ? x.grad().to(DType::Float64) : Tensor::zeros(x.shape(), DType::Float64);
    const double* analytic = g.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      if (options.skip && options.skip(i, j)) {
        ++result.skipped;
        continue;
      }
      const double v = read(x, j);
      const double h = step * std::max(1.0, std::fabs(v));
      write(x, j, v + h);
      const double plus = projected(f(inputs), r_host);
      write(x, j, v - h);
      const double minus = projected(f(inputs), r_host);
      write(x, j, v);
      const double numeric = (plus - minus) / (2 * h);
      if (options.skip_kinks) {
        const double forward = (plus - base) / h, backward = (base - minus) / h;
        if (std::fabs(forward - backward) > kink_tol * std::max(1.0, std::fabs(numeric))) {
          ++result.skipped;
          continue;
        }
      }
      ++result.checked;
      const double err = std::fabs(analytic[j] - numeric);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (!(err <= atol + rtol * std::fabs(numeric))) {
        result.ok = false;
        if (reported++ < options.max_reported_failures)
          failures << "input " << i << " element " << j << ": analytic " << analytic[j] << " vs numeric " << numeric
                   << " (|diff| " << err << ")\n";
      }
    }
  }
  std::ostringstream summary;
  summary << (result.ok ? "gradcheck passed" : "gradcheck FAILED") << ": " << result.checked << " elements checked, "
          << result.skipped << " skipped, max |analytic - numeric| " << result.max_abs_error << "\n"
          << failures.str();
  result.message = summary.str();
  return result;
}

}  // namespace spml::testing
