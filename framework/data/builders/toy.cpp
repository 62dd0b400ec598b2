// Two-spirals generator on the Philox streams (same data for the same seed on every machine).
#include "framework/data/builders/toy.h"

#include <cmath>
#include <vector>

#include "kernels/common/philox.h"

namespace spml::data {

ToyData two_spirals(int64_t n, double noise, uint64_t seed) {
  SPML_CHECK(n >= 2 && n % 2 == 0, "two_spirals: n must be even and >= 2, got ", n);
  std::vector<float> x(static_cast<std::size_t>(2 * n)), y(static_cast<std::size_t>(n));
  const int64_t half = n / 2;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i % half;
    const int label = i < half ? 0 : 1;
    const double t = 0.25 + 2.75 * double(k) / double(half);  // 0.25 .. 3 radians-ish turns
    const double angle = t * 3.14159265358979 + (label ? 3.14159265358979 : 0.0);
    const double jx = kernels::philox_normal(seed, uint64_t(2 * i), 0.0, noise);
    const double jy = kernels::philox_normal(seed, uint64_t(2 * i + 1), 0.0, noise);
    x[std::size_t(2 * i)] = float(t * std::cos(angle) / 3.0 + jx);
    x[std::size_t(2 * i + 1)] = float(t * std::sin(angle) / 3.0 + jy);
    y[std::size_t(i)] = float(label);
  }
  return {Tensor::from_vector(x, {n, 2}), Tensor::from_vector(y, {n, 1})};
}

}  // namespace spml::data
