// Philox4x32-10 counter-based generator: element i of a stream is a pure function of (seed, counter),
// so the CPU and CUDA fills produce identical values and parallelise without shared state.
#pragma once

#include "kernels/common/hd.h"

namespace spml::kernels {

struct Philox4x32 {
  uint32_t v[4];
};

SPML_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t& hi) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

SPML_HD Philox4x32 philox4x32_10(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, c0, hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: never 0, so log() in Box-Muller stays finite.
SPML_HD double uint_to_unit(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ static_cast<uint64_t>(lo >> 11);  // 53 bits
  return (static_cast<double>(bits & ((uint64_t(1) << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
}

// Element `index` of a uniform [lo, hi) stream / a normal(mean, std) stream; computed in double so the
// float32 value is the same rounding of the same number on both backends.
SPML_HD double philox_uniform(uint64_t seed, uint64_t index, double lo, double hi) {
  const Philox4x32 r = philox4x32_10(seed, index);
  return lo + (hi - lo) * (1.0 - uint_to_unit(r.v[0], r.v[1]));
}

SPML_HD double philox_normal(uint64_t seed, uint64_t index, double mean, double stddev) {
  const Philox4x32 r = philox4x32_10(seed, index);
  const double u1 = uint_to_unit(r.v[0], r.v[1]);
  const double u2 = uint_to_unit(r.v[2], r.v[3]);
  const double radius = ::sqrt(-2.0 * ::log(u1));
  return mean + stddev * radius * ::cos(6.283185307179586476925 * u2);
}

}  // namespace spml::kernels
