// The accumulator type of the kernels' sums, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <type_traits>

namespace spml::kernels {

// Float sums accumulate in double (doubles in double): the loads dominate the cost, the reference is not the least
// accurate backend, and the CPU/CUDA parity tests can stay tight.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

}  // namespace spml::kernels
