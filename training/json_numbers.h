// Range-checked reads of JSON numbers into integers, for the run folder's readers (config.json, last.ckpt's
// metadata): nlohmann's get<int>() on 1e300 or 3e9 is a float-cast overflow or a silent wrap, never an error.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/common/error.h"

namespace spml::training {

// `value` as a T when it is an integral number within T's range (an integral float such as 3.0 counts); else
// spml::Error naming `what` (the key) and the value.
template <class T>
T json_integer(const nlohmann::json& value, const std::string& what) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  bool ok = false;
  if (value.is_number_unsigned()) {
    ok = value.get<uint64_t>() <= uint64_t(hi);
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    ok = v >= int64_t(lo) && (hi >= std::numeric_limits<int64_t>::max() || v <= int64_t(hi));
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    // double(hi) + 1 and double(lo) - 1 are exact bounds for int32 and round to +-2^63 for int64.
    ok = std::isfinite(d) && std::floor(d) == d && d > double(lo) - 1.0 && d < double(hi) + 1.0;
  }
  SPML_CHECK(ok, "key \"", what, "\": expected an integer in [", int64_t(lo), ", ", uint64_t(hi), "], got ",
             value.dump());
  if (value.is_number_float()) return T(value.get<double>());
  return value.get<T>();
}

// The integer at `key` of `object`, or `fallback` when the key is absent.
template <class T>
T json_integer_or(const nlohmann::json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  return it == object.end() ? fallback : json_integer<T>(*it, key);
}

}  // namespace spml::training
