// MT19937 as in NumPy's randomkit-derived legacy code (mt19937_seed, mt19937_gen, random_interval).
#include "framework/data/random_state.h"

#include <numeric>

#include "kernels/common/error.h"

namespace spml::data {

RandomState::RandomState(uint64_t seed) {
  this->seed(seed);
}

void RandomState::seed(uint64_t seed) {
  SPML_CHECK(seed <= 0xffffffffULL, "RandomState: seed ", seed, " must be between 0 and 2**32 - 1");
  // NumPy's _legacy_seeding for an integer calls mt19937_seed, which is Matsumoto-Nishimura's init_genrand.
  uint32_t s = uint32_t(seed);
  for (int i = 0; i < kN; ++i) {
    key_[i] = s;
    s = 1812433253U * (s ^ (s >> 30)) + uint32_t(i + 1);
  }
  pos_ = kN;
}

uint32_t RandomState::next_uint32() {
  constexpr int kM = 397;
  constexpr uint32_t kMatrixA = 0x9908b0dfU, kUpper = 0x80000000U, kLower = 0x7fffffffU;
  if (pos_ == kN) {
    auto twist = [&](int i, int next, int far) {
      const uint32_t y = (key_[i] & kUpper) | (key_[next] & kLower);
      key_[i] = key_[far] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    };
    for (int i = 0; i < kN; ++i) twist(i, (i + 1) % kN, (i + kM) % kN);
    pos_ = 0;
  }
  uint32_t y = key_[pos_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

uint64_t RandomState::next_uint64() {
  const uint64_t hi = next_uint32();
  return (hi << 32) | next_uint32();
}

uint64_t RandomState::random_interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int shift = 1; shift <= 32; shift *= 2) mask |= mask >> shift;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (next_uint64() & mask)) > max) {
    }
  }
  return value;
}

double RandomState::random_sample() {
  const int32_t a = int32_t(next_uint32() >> 5), b = int32_t(next_uint32() >> 6);
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

std::vector<int64_t> RandomState::permutation(int64_t n) {
  SPML_CHECK(n >= 0, "RandomState::permutation: n = ", n, " is negative");
  std::vector<int64_t> x(static_cast<std::size_t>(n));
  std::iota(x.begin(), x.end(), int64_t(0));
  shuffle(x);
  return x;
}

}  // namespace spml::data
