// safetensors reading (validated against the format's rules), atomic writing, F16/BF16 conversion and
// pretrained-weight loading with head skipping.
#include "framework/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "framework/autograd/autograd.h"
#include "framework/io/file.h"
#include "framework/nn/module.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

namespace spml::io {
namespace {

using json = nlohmann::json;

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypes[] = {{"F32", DType::Float32},   {"F64", DType::Float64}, {"F16", DType::Float16},
                                 {"BF16", DType::BFloat16}, {"I64", DType::Int64},   {"I32", DType::Int32},
                                 {"U8", DType::UInt8},      {"BOOL", DType::Bool}};

const char* safetensors_dtype(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  SPML_FAIL("safetensors: dtype ", dtype_name(dtype), " has no safetensors name");
}

bool parse_dtype(const std::string& name, DType& out) {
  for (const auto& d : kDTypes)
    if (name == d.name) {
      out = d.dtype;
      return true;
    }
  return false;
}

// A non-negative JSON integer that fits int64, or false.
bool json_index(const json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    out = int64_t(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return out >= 0;
  }
  return false;
}

struct Entry {
  std::string key;
  DType dtype;
  Shape shape;
  int64_t begin, end;
};

std::string json_string(const std::string& s, const std::string& path, const char* what) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    SPML_FAIL(path, ": write_safetensors: ", what, " '", s, "' is not valid UTF-8");
  }
}

// ------------------------------------------------------------------------------------------ half precision bits
float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t float_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));  // inf / nan (payload kept)
  return bits_to_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

float bfloat16_to_float(uint16_t b) {
  return bits_to_float(uint32_t(b) << 16);
}

uint16_t float_to_half(float f) {
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // nan: quiet, top payload bits
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);                         // >= 65520 (or inf) rounds to inf
  if (ax < 0x38800000u) {  // below 2^-14: half subnormal (or zero); the scaling by 2^24 is exact
    const float scaled = bits_to_float(ax) * 16777216.0f;
    return uint16_t(sign | uint16_t(std::nearbyint(scaled)));  // round to nearest even (default mode)
  }
  const uint32_t mant = ax & 0x7fffffu;
  uint32_t h = (((ax >> 23) - 127 + 15) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is correct
  return uint16_t(sign | h);
}

uint16_t float_to_bfloat16(float f) {
  const uint32_t x = float_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // nan: keep it a (quiet) nan
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Host element i of a floating tensor as float (exact except for Float64).
template <class Get>
Tensor convert_on_host(const Tensor& host, DType target, Get&& get) {
  const int64_t n = host.numel();
  Tensor out = Tensor::empty(host.shape(), target);
  switch (target) {
    case DType::Float32: {
      float* o = out.data<float>();
      for (int64_t i = 0; i < n; ++i) o[i] = float(get(i));
      break;
    }
    case DType::Float64: {
      double* o = out.data<double>();
      for (int64_t i = 0; i < n; ++i) o[i] = double(get(i));
      break;
    }
    case DType::Float16: {
      auto* o = static_cast<uint16_t*>(out.data_ptr());
      for (int64_t i = 0; i < n; ++i) o[i] = float_to_half(float(get(i)));
      break;
    }
    case DType::BFloat16: {
      auto* o = static_cast<uint16_t*>(out.data_ptr());
      for (int64_t i = 0; i < n; ++i) o[i] = float_to_bfloat16(float(get(i)));
      break;
    }
    default:
      SPML_FAIL("convert_floating: target dtype ", dtype_name(target), " is not floating");
  }
  return out;
}

std::string join_keys(const std::vector<std::string>& keys, std::size_t max_listed = 20) {
  std::string s;
  for (std::size_t i = 0; i < keys.size() && i < max_listed; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > max_listed) s += ", ... (" + std::to_string(keys.size() - max_listed) + " more)";
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- read
namespace {

// The 8-byte little-endian header length, checked against the cap and against the bytes that follow it.
uint64_t checked_header_length(const unsigned char len_bytes[8], uint64_t file_size, const std::string& path) {
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  SPML_CHECK(header_len <= file_size - 8, path, ": header length ", header_len, " is larger than the file (", file_size,
             " bytes, ", file_size - 8, " after the length field)");
  SPML_CHECK(header_len <= kMaxSafetensorsHeaderBytes, path, ": header length ", header_len, " exceeds the limit of ",
             kMaxSafetensorsHeaderBytes, " bytes (that of Python's safetensors)");
  return header_len;
}

struct ParsedHeader {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;  // sorted by data_offsets; the ranges tile [0, buffer_size) exactly
};

// Validates the JSON header against a data buffer of buffer_size bytes (see read_safetensors for the rules).
ParsedHeader parse_header_json(const std::string& header, uint64_t buffer_size, const std::string& path) {
  json root;
  try {
    // The parser itself is iterative, but printing (error messages) and some accessors recurse: bound the depth.
    root = json::parse(header, [&](int depth, json::parse_event_t, json&) {
      SPML_CHECK(depth <= kMaxSafetensorsJsonDepth, path, ": invalid JSON header: nested deeper than ",
                 kMaxSafetensorsJsonDepth, " levels");
      return true;
    });
  } catch (const json::exception& e) {
    SPML_FAIL(path, ": invalid JSON header (", e.what(), ")");
  }
  SPML_CHECK(root.is_object(), path, ": invalid header: expected a JSON object, got ", root.type_name());

  ParsedHeader parsed;
  std::vector<Entry>& entries = parsed.entries;
  for (const auto& item : root.items()) {
    // Named references, not a structured binding: the lambda below captures them (clang rejects capturing a
    // structured binding before C++20).
    const std::string& key = item.key();
    const json& value = item.value();
    if (key == "__metadata__") {
      SPML_CHECK(value.is_object(), path, ": invalid header: __metadata__ must be an object of strings, got ",
                 value.type_name());
      for (const auto& [mk, mv] : value.items()) {
        SPML_CHECK(mv.is_string(), path, ": invalid header: __metadata__ value of '", mk, "' is a ", mv.type_name(),
                   ", not a string");
        parsed.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    SPML_CHECK(value.is_object(), path, ": invalid header: entry '", key, "' is a ", value.type_name(),
               ", not an object");
    auto field = [&](const char* name) -> const json& {
      auto it = value.find(name);
      SPML_CHECK(it != value.end(), path, ": invalid header: tensor '", key, "' has no \"", name, "\"");
      return *it;
    };
    Entry e;
    e.key = key;
    const json& dtype = field("dtype");
    SPML_CHECK(dtype.is_string(), path, ": invalid header: tensor '", key, "' has a non-string dtype");
    SPML_CHECK(parse_dtype(dtype.get<std::string>(), e.dtype), path, ": tensor '", key, "' has unsupported dtype '",
               dtype.get<std::string>(), "' (supported: F32, F64, F16, BF16, I64, I32, U8, BOOL)");
    const json& shape = field("shape");
    SPML_CHECK(shape.is_array(), path, ": invalid header: tensor '", key, "' has a shape that is not an array");
    // numel with overflow detection (saturates past 2^62). The product of the non-zero dimensions must stay below
    // 2^62 as well: [0, 2^40, 2^40] holds no data but overflows int64 when the tensor code multiplies it out.
    constexpr int64_t kHuge = int64_t(1) << 62;
    int64_t numel = 1, nonzero = 1;
    for (const json& d : shape) {
      int64_t n = 0;
      SPML_CHECK(json_index(d, n), path, ": invalid header: tensor '", key, "' has shape ", shape.dump(),
                 " (dimensions must be non-negative integers)");
      e.shape.push_back(n);
      numel = (n != 0 && numel > kHuge / n) ? kHuge : numel * n;
      if (n != 0) {
        SPML_CHECK(nonzero <= kHuge / n, path, ": invalid header: tensor '", key, "' has shape ", shape.dump(),
                   " with too many elements");
        nonzero *= n;
      }
    }
    const json& offsets = field("data_offsets");
    SPML_CHECK(
        offsets.is_array() && offsets.size() == 2 && json_index(offsets[0], e.begin) && json_index(offsets[1], e.end),
        path, ": invalid header: tensor '", key, "' has data_offsets ", offsets.dump(),
        " (expected [begin, end], non-negative integers)");
    SPML_CHECK(e.begin <= e.end, path, ": tensor '", key, "' has data_offsets [", e.begin, ", ", e.end,
               "] with begin after end");
    const int64_t esize = int64_t(element_size(e.dtype));
    const int64_t expected = numel >= kHuge / esize ? kHuge : numel * esize;
    SPML_CHECK(expected == e.end - e.begin, path, ": tensor '", key, "': shape ", shape_str(e.shape), " x ",
               dtype.get<std::string>(), " needs ", expected, " bytes but data_offsets [", e.begin, ", ", e.end,
               "] hold ", e.end - e.begin, " bytes");
    SPML_CHECK(uint64_t(e.end) <= buffer_size, path, ": tensor '", key, "' has data_offsets [", e.begin, ", ", e.end,
               "] out of range: the data buffer holds ", buffer_size, " bytes");
    entries.push_back(std::move(e));
  }

  // The ranges must tile the buffer exactly: sorted by (begin, end), each starts where the previous ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.key) < std::tie(b.begin, b.end, b.key);
  });
  int64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    SPML_CHECK(e.begin >= pos, path, ": tensor '", e.key, "' data_offsets [", e.begin, ", ", e.end,
               "] overlap tensor '", prev ? prev->key : "", "' [", prev ? prev->begin : 0, ", ", pos, "]");
    SPML_CHECK(e.begin == pos, path, ": bytes [", pos, ", ", e.begin,
               ") of the data buffer are not covered by any tensor (before '", e.key, "')");
    pos = e.end;
    prev = &e;
  }
  SPML_CHECK(uint64_t(pos) == buffer_size, path, ": bytes [", pos, ", ", buffer_size,
             ") at the end of the data buffer are not covered by any tensor");
  return parsed;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SPML_CHECK(in.good(), path, ": cannot open for reading (", std::strerror(errno), ")");
  in.seekg(0, std::ios::end);
  const std::streamoff size_off = in.tellg();
  SPML_CHECK(size_off >= 0, path, ": cannot determine the file size");
  const uint64_t file_size = uint64_t(size_off);
  in.seekg(0, std::ios::beg);
  SPML_CHECK(file_size >= 8, path, ": truncated safetensors file: ", file_size,
             " bytes, fewer than the 8 of the header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  SPML_CHECK(in.gcount() == 8, path, ": read error in the header length");
  const uint64_t header_len = checked_header_length(len_bytes, file_size, path);
  std::string header(std::size_t(header_len), '\0');
  in.read(header.data(), std::streamsize(header_len));
  SPML_CHECK(uint64_t(in.gcount()) == header_len, path, ": read error in the header");
  const uint64_t buffer_size = file_size - 8 - header_len;
  ParsedHeader parsed = parse_header_json(header, buffer_size, path);

  SafetensorsFile file;
  file.metadata = std::move(parsed.metadata);
  const std::streamoff data_start = std::streamoff(8 + header_len);
  for (const Entry& e : parsed.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    const int64_t bytes = e.end - e.begin;
    if (bytes > 0) {
      in.seekg(data_start + std::streamoff(e.begin), std::ios::beg);
      in.read(static_cast<char*>(t.data_ptr()), std::streamsize(bytes));
      SPML_CHECK(in.gcount() == std::streamsize(bytes), path, ": read error in the data of tensor '", e.key, "'");
    }
    file.tensors.emplace(e.key, std::move(t));
  }
  return file;
}

SafetensorsFile parse_safetensors(const uint8_t* data, std::size_t size, const std::string& name) {
  SPML_CHECK(size >= 8, name, ": truncated safetensors file: ", size, " bytes, fewer than the 8 of the header length");
  const uint64_t header_len = checked_header_length(data, size, name);
  const std::string header(reinterpret_cast<const char*>(data) + 8, std::size_t(header_len));
  const uint8_t* buffer = data + 8 + header_len;
  ParsedHeader parsed = parse_header_json(header, size - 8 - header_len, name);
  SafetensorsFile file;
  file.metadata = std::move(parsed.metadata);
  for (const Entry& e : parsed.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), buffer + e.begin, std::size_t(e.end - e.begin));
    file.tensors.emplace(e.key, std::move(t));
  }
  return file;
}

SafetensorsFile parse_safetensors(const std::vector<uint8_t>& bytes, const std::string& name) {
  return parse_safetensors(bytes.data(), bytes.size(), name);
}

// ---------------------------------------------------------------------------------------------- write
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header +=
          (first ? "" : ",") + json_string(k, path, "metadata key") + ":" + json_string(v, path, "metadata value");
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& [key, t] : tensors) {
    SPML_CHECK(!key.empty() && key != "__metadata__", path, ": write_safetensors: invalid tensor key '", key, "'");
    SPML_CHECK(t.defined(), path, ": write_safetensors: tensor '", key, "' is undefined");
    std::string shape;
    for (int64_t d : t.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    const uint64_t end = offset + t.nbytes();
    header += (header.size() > 1 ? "," : "") + json_string(key, path, "tensor key") + ":{\"dtype\":\"" +
              safetensors_dtype(t.dtype()) + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';

  std::vector<uint8_t> bytes(8 + header.size() + offset);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  uint8_t* out = bytes.data() + 8 + header.size();
  for (const auto& [key, t] : tensors) {
    if (t.nbytes() == 0) continue;
    const Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
    std::memcpy(out, host.data_ptr(), host.nbytes());
    out += host.nbytes();
  }
  write_file_atomic(path, bytes.data(), bytes.size());
}

// ---------------------------------------------------------------------------------------------- conversion
Tensor convert_floating(const Tensor& t, DType target) {
  SPML_CHECK(t.defined(), "convert_floating: tensor is undefined");
  SPML_CHECK(is_floating(t.dtype()) && is_floating(target), "convert_floating: ", t.description(), " -> ",
             dtype_name(target), ": both dtypes must be floating");
  if (t.dtype() == target) return t;
  const Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  Tensor out;
  switch (host.dtype()) {
    case DType::Float32: {
      const float* p = host.data<float>();
      out = convert_on_host(host, target, [p](int64_t i) { return p[i]; });
      break;
    }
    case DType::Float64: {
      const double* p = host.data<double>();
      if (target == DType::Float32) {
        out = host.to(DType::Float32);
      } else {  // Float16/BFloat16 through float (rounds twice in rare halfway cases)
        out = convert_on_host(host, target, [p](int64_t i) { return float(p[i]); });
      }
      break;
    }
    case DType::Float16: {
      const auto* p = static_cast<const uint16_t*>(host.data_ptr());
      out = convert_on_host(host, target, [p](int64_t i) { return half_to_float(p[i]); });
      break;
    }
    case DType::BFloat16: {
      const auto* p = static_cast<const uint16_t*>(host.data_ptr());
      out = convert_on_host(host, target, [p](int64_t i) { return bfloat16_to_float(p[i]); });
      break;
    }
    default:
      SPML_FAIL("convert_floating: unsupported source ", t.description());
  }
  return t.device().is_cpu() ? out : out.to(t.device());
}

Tensor to_float32(const Tensor& t) {
  SPML_CHECK(t.defined(), "to_float32: tensor is undefined");
  SPML_CHECK(is_floating(t.dtype()), "to_float32: ", t.description(), " is not floating (F16, BF16, F32, F64)");
  return convert_floating(t, DType::Float32);
}

// ---------------------------------------------------------------------------------------------- load_weights
LoadReport load_weights(nn::Module& model, const std::map<std::string, Tensor>& weights,
                        const std::string& head_prefix) {
  std::map<std::string, Tensor> own = model.state_dict();
  LoadReport report;
  auto in_head = [&](const std::string& k) { return !head_prefix.empty() && k.rfind(head_prefix, 0) == 0; };

  std::vector<std::string> missing;
  for (const auto& [name, t] : own)
    if (!weights.count(name)) missing.push_back(name);
  SPML_CHECK(missing.empty(), "load_weights: ", missing.size(),
             " model key(s) missing from the weights: ", join_keys(missing));
  for (const auto& [name, t] : weights)
    if (!own.count(name)) report.unexpected_keys.push_back(name);

  bool skip_head = false;
  for (const auto& [name, target] : own) {
    const Tensor& src = weights.at(name);
    if (in_head(name) && src.defined() && src.shape() != target.shape()) skip_head = true;
  }

  // Check everything, converting dtypes as needed, before copying anything.
  std::vector<std::pair<Tensor, Tensor>> copies;  // (model tensor, source of the same dtype)
  for (const auto& [name, target] : own) {
    if (skip_head && in_head(name)) {
      report.skipped_head_keys.push_back(name);
      continue;
    }
    const Tensor& src = weights.at(name);
    SPML_CHECK(src.defined(), "load_weights: key '", name, "' is undefined in the weights");
    SPML_CHECK(src.shape() == target.shape(), "load_weights: key '", name, "' has shape ", shape_str(src.shape()),
               " in the weights but the model expects ", shape_str(target.shape()),
               in_head(name) || head_prefix.empty() ? "" : " (only keys under '" + head_prefix + "' may differ)");
    Tensor value = src;
    if (src.dtype() != target.dtype()) {
      SPML_CHECK(is_floating(src.dtype()) && is_floating(target.dtype()), "load_weights: key '", name, "' has dtype ",
                 dtype_name(src.dtype()), " in the weights but the model expects ", dtype_name(target.dtype()));
      value = convert_floating(src, target.dtype());
    }
    copies.emplace_back(target, value);
  }
  autograd::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

}  // namespace spml::io
