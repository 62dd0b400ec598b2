// Order files (see sample_schedule.h).
#include "framework/data/sample_schedule.h"

#include <nlohmann/json.hpp>

#include "framework/data/loader.h"
#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::data {

namespace {
constexpr const char* kFormat = "spml-order-1";
}

SampleSchedule read_sample_schedule(const std::string& path) {
  return parse_sample_schedule(io::read_text_file(path), path);
}

SampleSchedule parse_sample_schedule(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    SPML_FAIL("order file ", path, ": not valid JSON (", e.what(), ")");
  }
  const auto format = j.is_object() ? j.find("format") : j.end();
  SPML_CHECK(j.is_object() && format != j.end() && format->is_string() && format->get<std::string>() == kFormat,
             "order file ", path, ": expected a JSON object with \"format\": \"", kFormat, "\"");
  SPML_CHECK(j.contains("size") && j["size"].is_number_integer() && j["size"].get<int64_t>() >= 0, "order file ", path,
             ": \"size\" must be a non-negative integer");
  SPML_CHECK(j.contains("epochs") && j["epochs"].is_array() && !j["epochs"].empty(), "order file ", path,
             ": \"epochs\" must be a non-empty array");
  SampleSchedule s;
  s.size = j["size"].get<int64_t>();
  int epoch = 0;
  for (const nlohmann::json& e : j["epochs"]) {
    ++epoch;
    SPML_CHECK(
        e.is_object() && e.contains("order") && e.contains("flip") && e["order"].is_array() && e["flip"].is_array(),
        "order file ", path, ": epoch ", epoch, " must be an object with arrays \"order\" and \"flip\"");
    SPML_CHECK(int64_t(e["order"].size()) == s.size && int64_t(e["flip"].size()) == s.size, "order file ", path,
               ": epoch ", epoch, " has ", e["order"].size(), " order and ", e["flip"].size(),
               " flip entries, expected size ", s.size);
    std::vector<int64_t> order;
    std::vector<uint8_t> flip;
    std::vector<uint8_t> seen(std::size_t(s.size), 0);
    for (const nlohmann::json& v : e["order"]) {
      SPML_CHECK(v.is_number_integer(), "order file ", path, ": epoch ", epoch, ": order entry ", v.dump(),
                 " is not an integer");
      const int64_t i = v.get<int64_t>();
      SPML_CHECK(i >= 0 && i < s.size && !seen[std::size_t(i)], "order file ", path, ": epoch ", epoch,
                 ": order is not a permutation of [0, ", s.size, ") (entry ", i, " out of range or repeated)");
      seen[std::size_t(i)] = 1;
      order.push_back(i);
    }
    for (const nlohmann::json& v : e["flip"]) {
      SPML_CHECK(v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1), "order file ", path,
                 ": epoch ", epoch, ": flip entry ", v.dump(), " is not 0 or 1");
      flip.push_back(uint8_t(v.get<int64_t>()));
    }
    s.orders.push_back(std::move(order));
    s.flips.push_back(std::move(flip));
  }
  return s;
}

void check_sample_schedule(const SampleSchedule& schedule, int64_t n, int epochs, const std::string& source) {
  SPML_CHECK(schedule.size == n, source, " was made for ", schedule.size, " training rows, but the train split has ",
             n);
  SPML_CHECK(schedule.epochs() >= epochs, source, " covers ", schedule.epochs(), " epochs, but ", epochs,
             " are to be trained");
}

SampleSchedule seeded_sample_schedule(int64_t n, int epochs, uint64_t order_seed, uint64_t flip_seed, bool shuffle,
                                      bool flip) {
  SampleSchedule s;
  s.size = n;
  for (int e = 1; e <= epochs; ++e) {
    s.orders.push_back(shuffle_order(n, order_seed, e, shuffle));
    std::vector<uint8_t> f(std::size_t(n), 0);
    if (flip)
      for (int64_t i = 0; i < n; ++i) f[std::size_t(i)] = flip_decision(flip_seed, e, i) ? 1 : 0;
    s.flips.push_back(std::move(f));
  }
  return s;
}

void write_sample_schedule(const std::string& path, const SampleSchedule& schedule) {
  nlohmann::json epochs = nlohmann::json::array();
  for (int e = 0; e < schedule.epochs(); ++e)
    epochs.push_back({{"order", schedule.orders[std::size_t(e)]}, {"flip", schedule.flips[std::size_t(e)]}});
  const nlohmann::json j = {{"format", kFormat}, {"size", schedule.size}, {"epochs", epochs}};
  io::write_file_atomic(path, j.dump() + "\n");
}

}  // namespace spml::data
