// The project's exception type and a check macro that builds its message from stream-style arguments.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace spml {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace spml

// SPML_CHECK(cond, "op: ", details...) throws spml::Error with the concatenated message when cond is false.
#define SPML_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) throw ::spml::Error(::spml::detail::concat(__VA_ARGS__)); \
  } while (0)
#define SPML_FAIL(...) throw ::spml::Error(::spml::detail::concat(__VA_ARGS__))
