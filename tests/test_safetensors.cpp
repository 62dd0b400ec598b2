// safetensors read/write (every dtype, header layout, malformed files), F16/BF16 conversion, a file written by
// scripts/export_torchvision_weights.py, load_weights with head skipping, and checkpoint resume identity.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "framework/io/checkpoint.h"
#include "framework/io/file.h"
#include "framework/io/safetensors.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "test_util.h"

namespace spml {
namespace {

using io::read_safetensors;
using io::write_safetensors;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "spml_st_" + std::to_string(::getpid()) + "_" + name;
}

std::string fixture(const std::string& name) {
  return std::string(SPML_TEST_DATA_DIR) + "/safetensors/" + name;
}

Tensor from_bits16(const std::vector<uint16_t>& bits, DType dtype, const Shape& shape) {
  return Tensor::from_host(bits.data(), shape, dtype);
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  const auto* p = static_cast<const uint8_t*>(host.data_ptr());
  return std::vector<uint8_t>(p, p + host.nbytes());
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// A raw file: 8-byte length of `header`, the header, then `buffer_bytes` bytes of data.
std::string write_raw(const std::string& name, const std::string& header, std::size_t buffer_bytes,
                      uint64_t declared_len = UINT64_MAX) {
  const std::string path = temp_path(name);
  std::string bytes(8, '\0');
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = char(n >> (8 * i));
  bytes += header + std::string(buffer_bytes, '\x01');
  io::write_file_atomic(path, bytes);
  return path;
}

// ---------------------------------------------------------------------------------------------- round trips
TEST(Safetensors, RoundTripEveryDtype) {
  std::map<std::string, Tensor> in;
  in["f32"] = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f}, {2, 3});
  in["f64"] = Tensor::from_vector<double>({1.0 / 3.0, -1e300}, {2});
  in["f16"] = from_bits16({0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00, 0x7e00}, DType::Float16, {3, 2});
  in["bf16"] = from_bits16({0x4049, 0xbf80, 0x7f80}, DType::BFloat16, {3});
  in["i64"] = Tensor::from_vector<int64_t>({INT64_MIN, -1, INT64_MAX}, {3, 1});
  in["i32"] = Tensor::from_vector<int32_t>({INT32_MIN, 7}, {1, 2});
  in["u8"] = Tensor::from_vector<uint8_t>({0, 128, 255}, {3});
  Tensor b = Tensor::empty({2, 2}, DType::Bool);
  const uint8_t bools[] = {1, 0, 0, 1};
  std::memcpy(b.data_ptr(), bools, 4);
  in["bool"] = b;
  in["scalar"] = Tensor::full({}, 42, DType::Int64);
  in["empty"] = Tensor::zeros({0, 5});
  const std::string path = temp_path("every_dtype.safetensors");
  write_safetensors(path, in);
  const io::SafetensorsFile out = read_safetensors(path);
  EXPECT_TRUE(out.metadata.empty());
  ASSERT_EQ(out.tensors.size(), in.size());
  for (const auto& [key, t] : in) {
    SCOPED_TRACE(key);
    ASSERT_EQ(out.tensors.count(key), 1u);
    const Tensor& r = out.tensors.at(key);
    EXPECT_EQ(r.dtype(), t.dtype());
    EXPECT_EQ(r.shape(), t.shape());
    EXPECT_TRUE(r.device().is_cpu());
    EXPECT_EQ(bytes_of(r), bytes_of(t));
  }
  std::remove(path.c_str());
}

TEST(Safetensors, ExactHeaderLayout) {
  const std::string path = temp_path("layout.safetensors");
  // Keys given out of order (std::map sorts them); "B" < "_" < "a" in byte order, "__metadata__" still first.
  write_safetensors(path,
                    {{"b", Tensor::from_vector<float>({1, 2}, {2})},
                     {"a", Tensor::from_vector<int64_t>({7}, {1})},
                     {"B", Tensor::from_vector<uint8_t>({9, 8, 7}, {3})}},
                    {{"k", "v"}});
  const std::vector<uint8_t> bytes = io::read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[std::size_t(i)];
  EXPECT_EQ(n % 8, 0u);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  const std::string expected =
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"B\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
      "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[3,11]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[11,19]}}";
  ASSERT_GE(header.size(), expected.size());
  EXPECT_EQ(header.substr(0, expected.size()), expected);
  EXPECT_EQ(header.substr(expected.size()), std::string(header.size() - expected.size(), ' '));
  EXPECT_LT(header.size() - expected.size(), 8u);
  ASSERT_EQ(bytes.size(), 8 + n + 19);
  const uint8_t* data = bytes.data() + 8 + n;
  EXPECT_EQ(data[0], 9);
  EXPECT_EQ(data[2], 7);
  EXPECT_EQ(data[3], 7);  // int64 7, little-endian
  float f[2];
  std::memcpy(f, data + 11, 8);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], 2.0f);
  std::remove(path.c_str());
}

TEST(Safetensors, MetadataRoundTrip) {
  const std::string path = temp_path("meta.safetensors");
  const std::map<std::string, std::string> meta = {{"format", "pt"},
                                                   {"quote\"and\\slash", "line\nbreak\ttab"},
                                                   {"unicode", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93"},
                                                   {"empty", ""},
                                                   {"json", "{\"epoch\": 3, \"lr\": [0.1, 0.01]}"}};
  write_safetensors(path, {{"x", Tensor::ones({1})}}, meta);
  EXPECT_EQ(read_safetensors(path).metadata, meta);
  // No tensors at all: the header is "{}" padded to 8 bytes.
  write_safetensors(path, {});
  const std::vector<uint8_t> bytes = io::read_file(path);
  EXPECT_EQ(std::string(bytes.begin() + 8, bytes.end()), "{}      ");
  const io::SafetensorsFile empty = read_safetensors(path);
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_TRUE(empty.metadata.empty());
  std::remove(path.c_str());
}

TEST(Safetensors, WriteRejectsBadInput) {
  const std::string path = temp_path("bad_write.safetensors");
  EXPECT_ERROR_CONTAINS(write_safetensors(path, {{"x", Tensor()}}), path.c_str(), "'x'", "undefined");
  EXPECT_ERROR_CONTAINS(write_safetensors(path, {{"__metadata__", Tensor::ones({1})}}), "__metadata__");
  EXPECT_ERROR_CONTAINS(write_safetensors(path, {{"", Tensor::ones({1})}}), "invalid tensor key");
  EXPECT_ERROR_CONTAINS(write_safetensors(path, {{"x", Tensor::ones({1})}}, {{"bad", "\xff\xfe"}}), "UTF-8");
  std::ifstream probe(path);
  EXPECT_FALSE(probe.good()) << "nothing may be written when the input is refused";
}

TEST(Safetensors, WritesCudaTensors) {
  SPML_SKIP_WITHOUT_CUDA();
  const std::string path = temp_path("cuda.safetensors");
  const Tensor host = test::random_tensor({3, 5}, 7, DType::Float32);
  write_safetensors(path, {{"w", host.to(Device::cuda())}});
  EXPECT_EQ(bytes_of(read_safetensors(path).tensors.at("w")), bytes_of(host));
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------------- malformed files
TEST(Safetensors, MalformedFiles) {
  const std::string missing = temp_path("does_not_exist.safetensors");
  EXPECT_ERROR_CONTAINS(read_safetensors(missing), missing.c_str(), "cannot open");

  {
    const std::string path = temp_path("truncated.safetensors");
    io::write_file_atomic(path, std::string("\x10\x00\x00", 3));
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "truncated", "3 bytes");
  }
  {
    const std::string path = write_raw("too_long.safetensors", "{}      ", 0, 1000);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "header length 1000", "larger than the file");
  }
  {
    const std::string path = write_raw("bad_json.safetensors", "{\"a\": {\"dtype\": ", 0);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "invalid JSON header");
  }
  {
    const std::string path = write_raw("array.safetensors", "[1, 2]  ", 0);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "expected a JSON object");
  }
  {
    const std::string path =
        write_raw("unknown_dtype.safetensors", R"({"w": {"dtype": "I16", "shape": [2], "data_offsets": [0, 4]}})", 4);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'w'", "unsupported dtype 'I16'");
  }
  {
    const std::string path =
        write_raw("size.safetensors", R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 20);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'w'", "[2, 3]", "needs 24 bytes", "hold 20 bytes");
  }
  {
    const std::string path =
        write_raw("range.safetensors", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'w'", "out of range", "12 bytes");
  }
  {
    const std::string path = write_raw("overlap.safetensors",
                                       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                       12);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'b'", "overlap", "'a'");
  }
  {
    const std::string path = write_raw("gap.safetensors",
                                       R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                                       12);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "bytes [4, 8)", "not covered", "'b'");
  }
  {
    const std::string path =
        write_raw("tail.safetensors", R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})", 5);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "bytes [2, 5)", "not covered");
  }
  {
    const std::string path =
        write_raw("reversed.safetensors", R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [2, 0]}})", 2);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'a'", "begin after end");
  }
  {
    const std::string path = write_raw("no_dtype.safetensors", R"({"a": {"shape": [1], "data_offsets": [0, 1]}})", 1);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'a'", "\"dtype\"");
  }
  {
    const std::string path =
        write_raw("neg_shape.safetensors", R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", 1);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "'a'", "non-negative");
  }
  {
    const std::string path = write_raw("meta_number.safetensors", R"({"__metadata__": {"epoch": 3}})", 0);
    EXPECT_ERROR_CONTAINS(read_safetensors(path), path.c_str(), "__metadata__", "'epoch'", "not a string");
  }
}

// ---------------------------------------------------------------------------------------------- conversion
TEST(Safetensors, Float16ToFloat32Exact) {
  const std::vector<uint16_t> bits = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x8001, 0x03ff, 0x0400,
                                      0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555};
  const std::vector<float> f = io::to_float32(from_bits16(bits, DType::Float16, {13})).to_vector<float>();
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.5f);
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(f[4], -std::ldexp(1.0f, -24));
  EXPECT_EQ(f[5], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f[6], std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(bits_of(f[7]), 0x00000000u);
  EXPECT_EQ(bits_of(f[8]), 0x80000000u);
  EXPECT_EQ(f[9], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f[10], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f[11]));
  EXPECT_EQ(f[12], 0.333251953125f);
  // Every half value survives float32 and back bit for bit (NaNs stay NaN).
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = uint16_t(i);
  const Tensor wide = io::to_float32(from_bits16(all, DType::Float16, {65536}));
  const Tensor back = io::convert_floating(wide, DType::Float16);
  const auto* b = static_cast<const uint16_t*>(back.data_ptr());
  const float* w = wide.data<float>();
  for (uint32_t i = 0; i < 65536; ++i) {
    if ((i & 0x7c00) == 0x7c00 && (i & 0x3ff)) {
      ASSERT_TRUE(std::isnan(w[i])) << i;
      ASSERT_TRUE((b[i] & 0x7c00) == 0x7c00 && (b[i] & 0x3ff)) << i;
    } else {
      ASSERT_EQ(b[i], i) << "half bits " << i;
    }
  }
}

TEST(Safetensors, BFloat16ToFloat32Exact) {
  const std::vector<uint16_t> bits = {0x4049, 0x3f80, 0xc020, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x8000};
  const std::vector<float> f = io::to_float32(from_bits16(bits, DType::BFloat16, {8})).to_vector<float>();
  EXPECT_EQ(f[0], 3.140625f);
  EXPECT_EQ(f[1], 1.0f);
  EXPECT_EQ(f[2], -2.5f);
  EXPECT_EQ(f[3], std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(f[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f[5], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f[6]));
  EXPECT_EQ(bits_of(f[7]), 0x80000000u);
}

TEST(Safetensors, FloatNarrowingRoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector<float>(
      {65519.0f, 65520.0f, std::ldexp(1.0f, -25), std::ldexp(3.0f, -26), 1.0f + std::ldexp(1.0f, -11),
       1.0f + std::ldexp(3.0f, -11), 1e6f, -inf, std::nanf("")},
      {9});
  const Tensor xh = io::convert_floating(x, DType::Float16);
  const auto* h = static_cast<const uint16_t*>(xh.data_ptr());
  EXPECT_EQ(h[0], 0x7bff);  // 65519 -> 65504
  EXPECT_EQ(h[1], 0x7c00);  // 65520 (halfway to 65536) -> inf
  EXPECT_EQ(h[2], 0x0000);  // 2^-25 halfway between 0 and 2^-24 -> 0 (even)
  EXPECT_EQ(h[3], 0x0001);  // 0.75 * 2^-24 -> 2^-24
  EXPECT_EQ(h[4], 0x3c00);  // 1 + 2^-11 halfway -> 1 (even)
  EXPECT_EQ(h[5], 0x3c02);  // 1 + 3*2^-11 halfway -> 1 + 2^-9 (even)
  EXPECT_EQ(h[6], 0x7c00);
  EXPECT_EQ(h[7], 0xfc00);
  EXPECT_TRUE((h[8] & 0x7c00) == 0x7c00 && (h[8] & 0x3ff));
  const Tensor y =
      Tensor::from_vector<float>({1.0f + std::ldexp(1.0f, -8), 1.0f + std::ldexp(3.0f, -8), 3.14159265f}, {3});
  const Tensor yb = io::convert_floating(y, DType::BFloat16);
  const auto* b = static_cast<const uint16_t*>(yb.data_ptr());
  EXPECT_EQ(b[0], 0x3f80);
  EXPECT_EQ(b[1], 0x3f82);
  EXPECT_EQ(b[2], 0x4049);
  EXPECT_ERROR_CONTAINS(io::to_float32(Tensor::zeros({2}, DType::Int64)), "int64");
}

// ---------------------------------------------------------------------------------------------- torch export
float expected_float(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
    return s == "inf" ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return float(v.get<double>());
}

TEST(Safetensors, ReadsFileWrittenByTorchExportScript) {
  const io::SafetensorsFile file = read_safetensors(fixture("torch_export.safetensors"));
  const nlohmann::json expected = nlohmann::json::parse(io::read_text_file(fixture("torch_export_expected.json")));
  EXPECT_EQ(file.metadata.at("source"), "tiny_model.pth");
  EXPECT_EQ(file.metadata.at("arch"), "tiny");
  EXPECT_EQ(file.metadata.size(), 2u);
  ASSERT_EQ(file.tensors.size(), expected["tensors"].size());
  bool saw_f16 = false, saw_bf16 = false;
  for (const auto& [key, e] : expected["tensors"].items()) {
    SCOPED_TRACE(key);
    ASSERT_EQ(file.tensors.count(key), 1u);
    const Tensor& t = file.tensors.at(key);
    EXPECT_EQ(t.shape(), e["shape"].get<Shape>());
    const std::string dt = e["dtype"].get<std::string>();
    const auto& values = e["values"];
    ASSERT_EQ(std::size_t(t.numel()), values.size());
    if (dt == "F32" || dt == "F16" || dt == "BF16") {
      EXPECT_EQ(t.dtype(), dt == "F32" ? DType::Float32 : dt == "F16" ? DType::Float16 : DType::BFloat16);
      saw_f16 |= dt == "F16";
      saw_bf16 |= dt == "BF16";
      const std::vector<float> got = io::to_float32(t).to_vector<float>();
      for (std::size_t i = 0; i < got.size(); ++i) {
        const float want = expected_float(values[i]);
        if (std::isnan(want)) {
          EXPECT_TRUE(std::isnan(got[i])) << i;
        } else {
          EXPECT_EQ(bits_of(got[i]), bits_of(want)) << i << ": " << got[i] << " vs " << want;
        }
      }
    } else if (dt == "F64") {
      EXPECT_EQ(t.dtype(), DType::Float64);
      const std::vector<double> got = t.to_vector<double>();
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], values[i].get<double>()) << i;
    } else if (dt == "I64") {
      EXPECT_EQ(t.dtype(), DType::Int64);
      const std::vector<int64_t> got = t.to_vector<int64_t>();
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], values[i].get<int64_t>()) << i;
    } else if (dt == "I32") {
      EXPECT_EQ(t.dtype(), DType::Int32);
      const std::vector<int32_t> got = t.to_vector<int32_t>();
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], values[i].get<int32_t>()) << i;
    } else {
      ASSERT_TRUE(dt == "U8" || dt == "BOOL") << dt;
      EXPECT_EQ(t.dtype(), dt == "U8" ? DType::UInt8 : DType::Bool);
      const std::vector<uint8_t> got = bytes_of(t);
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(int(got[i]), values[i].get<int>()) << i;
    }
  }
  EXPECT_TRUE(saw_f16 && saw_bf16);
  EXPECT_EQ(file.tensors.at("1.num_batches_tracked").dtype(), DType::Int64);
  // Writing what was read gives back the same bytes (same layout rules as the script, but sorted metadata).
  const std::string path = temp_path("rewrite.safetensors");
  write_safetensors(path, file.tensors, file.metadata);
  const io::SafetensorsFile again = read_safetensors(path);
  for (const auto& [key, t] : file.tensors) EXPECT_EQ(bytes_of(again.tensors.at(key)), bytes_of(t)) << key;
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------------- load_weights
// BatchNorm-like state (parameters and buffers as torch names them), without depending on a CNN layer.
class NormState : public nn::Module {
 public:
  explicit NormState(int64_t c) {
    register_parameter("weight", Tensor::ones({c}));
    register_parameter("bias", Tensor::zeros({c}));
    register_buffer("running_mean", Tensor::zeros({c}));
    register_buffer("running_var", Tensor::ones({c}));
    register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  }
};

// Children "0" Linear(4, 3), "1" NormState(3), "fc" Linear(3, classes): the fixture's module names.
class TinyNet : public nn::Module {
 public:
  explicit TinyNet(int64_t classes, uint64_t seed = 11) {
    register_module("0", std::make_shared<nn::Linear>(4, 3, true, seed));
    register_module("1", std::make_shared<NormState>(3));
    register_module("fc", std::make_shared<nn::Linear>(3, classes, true, seed + 1));
  }
};

std::map<std::string, Tensor> snapshot(const nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : m.state_dict()) out[k] = t.to(Device::cpu()).clone();
  return out;
}

void expect_same_bytes(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(bytes_of(a), bytes_of(b)) << what;
}

TEST(Safetensors, LoadWeightsSkipsMismatchedHead) {
  const auto weights = read_safetensors(fixture("torch_export.safetensors")).tensors;
  TinyNet model(2);
  const auto before = snapshot(model);
  const io::LoadReport report = io::load_weights(model, weights);
  EXPECT_EQ(report.skipped_head_keys, (std::vector<std::string>{"fc.bias", "fc.weight"}));
  EXPECT_EQ(report.unexpected_keys, (std::vector<std::string>{"extra.bf16", "extra.bool", "extra.empty", "extra.f64",
                                                              "extra.half", "extra.i32", "extra.u8"}));
  for (const auto& [k, t] : model.state_dict()) {
    if (k.rfind("fc.", 0) == 0) {
      expect_same_bytes(t, before.at(k), k + " stays as initialised");
    } else {
      expect_same_bytes(t, weights.at(k), k);
    }
  }
  EXPECT_EQ(model.state_dict().at("1.num_batches_tracked").item(), 3.0);
  EXPECT_TRUE(model.state_dict().at("0.weight").requires_grad());

  // Same number of classes: the head loads too.
  TinyNet same(5);
  const io::LoadReport full = io::load_weights(same, weights);
  EXPECT_TRUE(full.skipped_head_keys.empty());
  for (const auto& [k, t] : same.state_dict()) expect_same_bytes(t, weights.at(k), k);
}

TEST(Safetensors, LoadWeightsErrors) {
  const auto weights = read_safetensors(fixture("torch_export.safetensors")).tensors;
  TinyNet model(2);
  const auto before = snapshot(model);
  auto expect_unchanged = [&](const char* what) {
    for (const auto& [k, t] : model.state_dict()) expect_same_bytes(t, before.at(k), std::string(what) + ": " + k);
  };
  {
    auto w = weights;
    w["0.weight"] = Tensor::zeros({3, 5});
    EXPECT_ERROR_CONTAINS(io::load_weights(model, w), "'0.weight'", "[3, 5]", "[3, 4]");
    expect_unchanged("backbone shape");
  }
  {
    auto w = weights;
    w.erase("1.running_var");
    EXPECT_ERROR_CONTAINS(io::load_weights(model, w), "missing", "1.running_var");
  }
  {
    auto w = weights;
    w.erase("fc.bias");  // a missing head key is an error even though the head is skipped
    EXPECT_ERROR_CONTAINS(io::load_weights(model, w), "missing", "fc.bias");
  }
  {
    auto w = weights;
    w["1.num_batches_tracked"] = Tensor::zeros({}, DType::Int32);
    EXPECT_ERROR_CONTAINS(io::load_weights(model, w), "'1.num_batches_tracked'", "int32", "int64");
  }
  // head_prefix "" disables skipping; another prefix makes fc an ordinary key.
  EXPECT_ERROR_CONTAINS(io::load_weights(model, weights, ""), "'fc.bias'", "[5]", "[2]");
  EXPECT_ERROR_CONTAINS(io::load_weights(model, weights, "head."), "'fc.", "only keys under 'head.'");
  expect_unchanged("after every failed load");
}

TEST(Safetensors, LoadWeightsConvertsFloatDtypes) {
  TinyNet source(2, 99);
  std::map<std::string, Tensor> w;
  for (const auto& [k, t] : source.state_dict()) w[k] = t.detach();
  w["0.weight"] = io::convert_floating(w["0.weight"], DType::Float16);
  w["0.bias"] = io::convert_floating(w["0.bias"], DType::BFloat16);
  w["1.running_var"] = w["1.running_var"].to(DType::Float64);
  TinyNet model(2);
  io::load_weights(model, w);
  const auto s = model.state_dict();
  expect_same_bytes(s.at("0.weight"), io::to_float32(w["0.weight"]), "f16 weight");
  expect_same_bytes(s.at("0.bias"), io::to_float32(w["0.bias"]), "bf16 bias");
  expect_same_bytes(s.at("1.running_var"), source.state_dict().at("1.running_var"), "f64 buffer");
  expect_same_bytes(s.at("fc.weight"), source.state_dict().at("fc.weight"), "f32 head");
}

TEST(Safetensors, LoadWeightsOntoCudaModel) {
  SPML_SKIP_WITHOUT_CUDA();
  auto weights = read_safetensors(fixture("torch_export.safetensors")).tensors;
  weights["0.weight"] = io::convert_floating(weights["0.weight"], DType::BFloat16);
  TinyNet model(2);
  model.to(Device::cuda());
  const io::LoadReport report = io::load_weights(model, weights);
  EXPECT_EQ(report.skipped_head_keys.size(), 2u);
  const auto s = model.state_dict();
  EXPECT_TRUE(s.at("0.weight").device().is_cuda());
  expect_same_bytes(s.at("0.weight"), io::to_float32(weights["0.weight"]), "0.weight");
  expect_same_bytes(s.at("1.running_mean"), weights["1.running_mean"], "1.running_mean");
  // to_float32 of a CUDA tensor lies on the device.
  const Tensor dev = io::to_float32(weights["extra.half"].to(Device::cuda()));
  EXPECT_TRUE(dev.device().is_cuda());
  expect_same_bytes(dev, io::to_float32(weights["extra.half"]), "extra.half");
}

// ---------------------------------------------------------------------------------------------- checkpoints
void train_steps(nn::Linear& layer, optim::Optimizer& opt, int steps, int first_step) {
  for (int s = first_step; s < first_step + steps; ++s) {
    const Tensor x = test::random_tensor({6, 4}, 100 + uint64_t(s), DType::Float32);
    const Tensor target = test::random_tensor({6, 3}, 200 + uint64_t(s), DType::Float32, 0.0, 1.0);
    opt.zero_grad();
    const Tensor d = sub(sigmoid(layer(x)), target);
    mean(mul(d, d)).backward();
    opt.step();
  }
}

TEST(Checkpoint, AdamResumeIsBitIdentical) {
  const std::string path = temp_path("adam.ckpt.safetensors");
  nn::Linear a(4, 3, true, 1);
  optim::Adam adam_a({{a.parameters(), 0.05, "all"}});
  train_steps(a, adam_a, 3, 0);
  const std::string meta = R"({"epoch": 3, "step": 3, "rng": [1, 2, 3], "config": {"lr": 0.05}})";
  io::save_checkpoint(path, a, adam_a, meta);
  train_steps(a, adam_a, 2, 3);

  nn::Linear b(4, 3, true, 777);  // other initial values: everything must come from the checkpoint
  optim::Adam adam_b({{b.parameters(), 0.05, "all"}});
  EXPECT_EQ(io::load_checkpoint(path, b, adam_b), meta);
  EXPECT_EQ(adam_b.step_count(0, 0), 3);
  train_steps(b, adam_b, 2, 3);
  expect_same_bytes(b.weight(), a.weight(), "weight");
  expect_same_bytes(b.bias(), a.bias(), "bias");
  EXPECT_EQ(adam_b.step_count(0, 1), 5);
  std::remove(path.c_str());
}

TEST(Checkpoint, SgdMomentumResumeIsBitIdentical) {
  const std::string path = temp_path("sgd.ckpt.safetensors");
  optim::SgdOptions o;
  o.momentum = 0.9;
  nn::Linear a(4, 3, true, 2);
  optim::SGD sgd_a({{a.parameters(), 0.1, "all"}}, o);
  train_steps(a, sgd_a, 3, 0);
  io::save_checkpoint(path, a, sgd_a, "");
  train_steps(a, sgd_a, 2, 3);
  nn::Linear b(4, 3, true, 3);
  optim::SGD sgd_b({{b.parameters(), 0.1, "all"}}, o);
  EXPECT_EQ(io::load_checkpoint(path, b, sgd_b), "{}");
  train_steps(b, sgd_b, 2, 3);
  expect_same_bytes(b.weight(), a.weight(), "weight");
  expect_same_bytes(b.bias(), a.bias(), "bias");
  std::remove(path.c_str());
}

TEST(Checkpoint, FileLayout) {
  const std::string path = temp_path("layout.ckpt.safetensors");
  nn::Linear a(4, 3, true, 1);
  optim::Adam adam({{a.parameters(), 0.05, "all"}});
  train_steps(a, adam, 1, 0);
  io::save_checkpoint(path, a, adam, R"({"epoch": 1})");
  const io::SafetensorsFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata,
            (std::map<std::string, std::string>{{"format", "spml-checkpoint-1"}, {"meta", R"({"epoch": 1})"}}));
  std::vector<std::string> keys;
  for (const auto& [k, t] : file.tensors) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"model.bias", "model.weight", "optim.all.0.exp_avg",
                                            "optim.all.0.exp_avg_sq", "optim.all.0.step", "optim.all.1.exp_avg",
                                            "optim.all.1.exp_avg_sq", "optim.all.1.step"}));
  EXPECT_EQ(file.tensors.at("optim.all.0.step").dtype(), DType::Int64);
  expect_same_bytes(file.tensors.at("model.weight"), a.weight(), "model.weight");
  std::remove(path.c_str());
}

TEST(Checkpoint, Errors) {
  const std::string path = temp_path("err.ckpt.safetensors");
  nn::Linear a(4, 3, true, 1);
  optim::Adam adam({{a.parameters(), 0.05, "all"}});
  train_steps(a, adam, 1, 0);
  EXPECT_ERROR_CONTAINS(io::save_checkpoint(path, a, adam, "{epoch: 1"), path.c_str(), "not valid JSON");
  io::save_checkpoint(path, a, adam, "{}");

  {  // strict model keys: another shape, and a model with a key the file lacks
    nn::Linear wide(5, 3, true, 1);
    optim::Adam o({{wide.parameters(), 0.05, "all"}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, wide, o), path.c_str(), "'weight'", "[3, 4]", "[3, 5]");
    TinyNet net(3);
    optim::Adam o2({{net.parameters(), 0.05, "all"}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, net, o2), path.c_str(), "missing");
  }
  {  // optimizer over the parameters in another order: its load fails and the model is restored
    nn::Linear b(4, 3, true, 9);
    const auto before = snapshot(b);
    optim::Adam swapped({{{b.bias(), b.weight()}, 0.05, "all"}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, b, swapped), path.c_str(), "optimizer state", "all.0.exp_avg");
    for (const auto& [k, t] : b.state_dict()) expect_same_bytes(t, before.at(k), k);
  }
  {  // not a checkpoint: a plain safetensors file, and foreign keys
    write_safetensors(path, {{"model.weight", a.weight()}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, a, adam), path.c_str(), "no \"format\"");
    write_safetensors(path, {{"model.weight", a.weight()}}, {{"format", "spml-checkpoint-0"}, {"meta", "{}"}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, a, adam), path.c_str(), "spml-checkpoint-0");
    write_safetensors(path, {{"other.x", a.weight()}}, {{"format", "spml-checkpoint-1"}, {"meta", "{}"}});
    EXPECT_ERROR_CONTAINS(io::load_checkpoint(path, a, adam), path.c_str(), "'other.x'");
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace spml
