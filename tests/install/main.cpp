// Uses the installed library: a small autograd computation whose gradient is known exactly.
#include <cstdio>

#include "framework/core/runtime.h"
#include "framework/ops/ops.h"

int main() {
  spml::Tensor x = spml::Tensor::from_vector<double>({1.0, 2.0, 3.0}, {3});
  x.set_requires_grad(true);
  spml::sum(spml::mul(x, x)).backward();  // d/dx sum(x^2) = 2x
  const auto g = x.grad().to_vector<double>();
  std::printf("%s\ngrad %g %g %g\n", spml::build_info_string().c_str(), g[0], g[1], g[2]);
  return (g[0] == 2.0 && g[1] == 4.0 && g[2] == 6.0) ? 0 : 1;
}
