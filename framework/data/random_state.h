// NumPy's legacy np.random.RandomState(seed), bit-exact for what the SPML protocol draws: MT19937 seeded like
// NumPy for an integer seed (init_genrand), random_interval (masked rejection sampling), the legacy Fisher-Yates
// shuffle, permutation and random_sample. The SPML splits and observed labels depend on these exact draws.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace spml::data {

class RandomState {
 public:
  // NumPy accepts integer seeds in [0, 2^32 - 1]; larger values throw spml::Error as NumPy raises ValueError.
  explicit RandomState(uint64_t seed = 0);
  void seed(uint64_t seed);

  uint32_t next_uint32();  // one raw MT19937 output (genrand_int32)
  uint64_t next_uint64();  // (first << 32) | second, as NumPy's mt19937_next64
  // Uniform integer in [0, max]: outputs masked to the smallest 2^k - 1 >= max, rejected while > max; 32-bit
  // outputs when max <= 0xffffffff, else 64-bit ones. max == 0 draws nothing.
  uint64_t random_interval(uint64_t max);
  double random_sample();  // [0, 1) with 53 random bits from two outputs

  // In place, as RandomState.shuffle on a 1-D array: for i = n-1 down to 1, swap x[i] with x[random_interval(i)].
  template <class T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size() > 0 ? x.size() - 1 : 0; i >= 1; --i) {
      const std::size_t j = std::size_t(random_interval(i));
      std::swap(x[i], x[j]);
    }
  }
  std::vector<int64_t> permutation(int64_t n);  // arange(n) shuffled

 private:
  static constexpr int kN = 624;
  std::array<uint32_t, kN> key_{};
  int pos_ = kN;
};

}  // namespace spml::data
