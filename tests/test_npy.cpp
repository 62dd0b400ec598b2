// Tests of the NumPy .npy reader/writer (framework/io/npy.h): hand-built golden bytes, reference files written by
// NumPy (tests/data/npy, from scripts/make_npy_fixtures.py), round trips of every type, header parsing and errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "framework/io/npy.h"
#include "kernels/common/error.h"

namespace {

using spml::io::NpyArray;
using spml::io::NpyType;
namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(SPML_TEST_DATA_DIR) + "/npy/" + name;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Runs `statement`, expects spml::Error, and returns its message (empty when nothing was thrown).
template <class F>
std::string npy_error(F&& statement) {
  try {
    statement();
  } catch (const spml::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected spml::Error";
  return "";
}

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "' lacks '" << (part) << "'"

// Element i of a little-endian array, read as T.
template <class T>
T at(const NpyArray& a, std::size_t i) {
  EXPECT_EQ(sizeof(T), a.item_size());
  EXPECT_LE((i + 1) * sizeof(T), a.data.size());
  T v;
  std::memcpy(&v, a.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <class T>
std::vector<uint8_t> to_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <class T>
NpyArray make_array(NpyType type, std::vector<int64_t> shape, const std::vector<T>& values) {
  NpyArray a;
  a.type = type;
  a.shape = std::move(shape);
  a.data = to_bytes(values);
  return a;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A .npy file built by hand: magic, version, header length (u16 for 1.x, u32 otherwise), header text, data.
// The header text is used as given (no padding added), so tests control every byte.
std::vector<uint8_t> npy_bytes(int major, const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  return concat(out, data);
}

// The exact bytes of np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)) with NumPy >= 1.23: the dict, 20 spaces of
// room for the first dimension to grow to 21 digits, padding to 127 bytes, '\n' (data at offset 128).
std::vector<uint8_t> numpy_arange6_f4_bytes() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header += std::string(20, ' ');
  header += std::string(128 - 10 - 1 - header.size(), ' ') + "\n";
  EXPECT_EQ(header.size(), 118u);
  return npy_bytes(1, header, to_bytes(std::vector<float>{0, 1, 2, 3, 4, 5}));
}

// A padded v1 header for a dict literal, as a writer that pads to 64 would produce.
std::vector<uint8_t> padded_npy(const std::string& dict, const std::vector<uint8_t>& data) {
  std::string header = dict;
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  return npy_bytes(1, header, data);
}

// A fresh directory per test, removed afterwards.
class NpyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("spml_npy_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------------------------
// Writing: exact bytes

TEST(Npy, SerializeMatchesHandBuiltNumPyBytes) {
  const NpyArray a = make_array(NpyType::Float32, {2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5});
  const std::vector<uint8_t> bytes = spml::io::serialize_npy(a);
  const std::vector<uint8_t> golden = numpy_arange6_f4_bytes();
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes, golden);
  // Version 1.0, header length 118 (u16 little-endian), data 64-aligned, header ends in '\n'.
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(bytes[8] | (bytes[9] << 8), 118);
  EXPECT_EQ((10 + 118) % 64, 0);
  EXPECT_EQ(bytes[127], '\n');
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(std::string(bytes.begin() + 10, bytes.begin() + 10 + static_cast<std::ptrdiff_t>(dict.size())), dict);
}

TEST(Npy, SerializeIsByteIdenticalToNumPyFiles) {
  // Each fixture was written by np.save; re-serializing what we read must give the same file.
  for (const char* name :
       {"f4_2x3.npy", "bool.npy", "u1.npy", "i8_scalar.npy", "f2.npy", "unicode.npy", "f4_empty_0x3.npy"}) {
    SCOPED_TRACE(name);
    const std::vector<uint8_t> original = read_bytes(fixture(name));
    const NpyArray a = spml::io::read_npy(fixture(name));
    EXPECT_EQ(spml::io::serialize_npy(a), original);
  }
}

TEST(Npy, HeaderAlignmentForManyShapes) {
  // Data offset is always a multiple of 64 and the header always ends in '\n', whatever the shape text length
  // (the growth padding depends on the digits of the first dimension; a 0 dimension keeps big shapes empty).
  for (int rank = 0; rank < 12; ++rank) {
    for (int64_t first : {int64_t{0}, int64_t{5}, int64_t{123456789012345678}}) {
      if (rank == 1 && first > 5) continue;
      std::vector<int64_t> shape(static_cast<std::size_t>(rank), 1);
      if (rank > 0) shape[0] = first;
      if (rank > 1 && first > 5) shape[1] = 0;
      NpyArray a;
      a.type = NpyType::Int8;
      a.shape = shape;
      a.data.assign(static_cast<std::size_t>(a.numel()), 7);
      const std::vector<uint8_t> bytes = spml::io::serialize_npy(a);
      const std::size_t header_len = bytes[8] | (bytes[9] << 8);
      EXPECT_EQ((10 + header_len) % 64, 0u) << rank << " " << first;
      EXPECT_EQ(bytes[10 + header_len - 1], '\n') << rank << " " << first;
      EXPECT_EQ(bytes.size(), 10 + header_len + a.data.size());
      EXPECT_EQ(spml::io::parse_npy(bytes, "aligned").shape, shape);
    }
  }
}

TEST(Npy, HugeHeaderSwitchesToVersion2) {
  // 30000 dimensions of size 1 make a header over 65535 bytes: NumPy then writes version 2.0 (u32 length).
  NpyArray a;
  a.type = NpyType::Float32;
  a.shape.assign(30000, 1);
  a.data = to_bytes(std::vector<float>{42.5f});
  const std::vector<uint8_t> bytes = spml::io::serialize_npy(a);
  EXPECT_EQ(bytes[6], 2);
  EXPECT_EQ(bytes[7], 0);
  const std::size_t header_len =
      bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<std::size_t>(bytes[11]) << 24);
  EXPECT_GT(header_len, 65535u);
  EXPECT_EQ((12 + header_len) % 64, 0u);
  EXPECT_EQ(bytes.size(), 12 + header_len + 4);
  const NpyArray back = spml::io::parse_npy(bytes, "huge");
  EXPECT_EQ(back.shape, a.shape);
  EXPECT_EQ(at<float>(back, 0), 42.5f);
}

TEST(Npy, WritesOneByteTypesWithPipeAndOthersLittleEndian) {
  const auto header_of = [](const NpyArray& a) {
    const std::vector<uint8_t> b = spml::io::serialize_npy(a);
    return std::string(b.begin() + 10, b.end());
  };
  EXPECT_CONTAINS(header_of(make_array(NpyType::UInt8, {1}, std::vector<uint8_t>{1})), "'descr': '|u1'");
  EXPECT_CONTAINS(header_of(make_array(NpyType::Int8, {1}, std::vector<int8_t>{1})), "'descr': '|i1'");
  EXPECT_CONTAINS(header_of(make_array(NpyType::Bool, {1}, std::vector<uint8_t>{1})), "'descr': '|b1'");
  EXPECT_CONTAINS(header_of(make_array(NpyType::UInt64, {1}, std::vector<uint64_t>{1})), "'descr': '<u8'");
  EXPECT_CONTAINS(header_of(make_array(NpyType::Float64, {}, std::vector<double>{1})), "'shape': (), }");
  EXPECT_CONTAINS(header_of(make_array(NpyType::Int16, {5}, std::vector<int16_t>(5))), "'shape': (5,), }");
}

// ---------------------------------------------------------------------------------------------------------------
// Reading NumPy's files

TEST(Npy, ReadsHandBuiltGolden) {
  const NpyArray a = spml::io::parse_npy(numpy_arange6_f4_bytes(), "golden");
  EXPECT_EQ(a.type, NpyType::Float32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.numel(), 6);
  ASSERT_EQ(a.data.size(), 24u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(at<float>(a, i), static_cast<float>(i));
}

TEST(Npy, ReadsFloat32Fixture) {
  const NpyArray a = spml::io::read_npy(fixture("f4_2x3.npy"));
  EXPECT_EQ(a.type, NpyType::Float32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(at<float>(a, i), static_cast<float>(i));
}

TEST(Npy, ConvertsFortranOrder2D) {
  // Stored column-major: 0, 10, 1, 11, 2, 12. Element (i, j) = 10 i + j must come out row-major.
  const std::vector<uint8_t> raw = read_bytes(fixture("f8_fortran_2x3.npy"));
  double second_stored;
  std::memcpy(&second_stored, raw.data() + raw.size() - 48 + 8, 8);
  EXPECT_EQ(second_stored, 10.0);  // the file really is in Fortran order
  const NpyArray a = spml::io::read_npy(fixture("f8_fortran_2x3.npy"));
  EXPECT_EQ(a.type, NpyType::Float64);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  const std::vector<double> expected = {0, 1, 2, 10, 11, 12};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(at<double>(a, i), expected[i]) << i;
}

TEST(Npy, ConvertsFortranOrder3D) {
  const NpyArray a = spml::io::read_npy(fixture("i2_fortran_2x3x4.npy"));
  EXPECT_EQ(a.type, NpyType::Int16);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(at<int16_t>(a, (i * 3 + j) * 4 + k), 100 * i + 10 * j + k);
}

TEST(Npy, ConvertsHandBuiltFortranOrderWithUnicode) {
  // 2x2 '<U1' in Fortran order: stored a, c, b, d -> C order a, b, c, d (whole 4-byte elements move together).
  std::vector<uint8_t> data;
  for (char c : std::string("acbd")) data.insert(data.end(), {static_cast<uint8_t>(c), 0, 0, 0});
  const NpyArray a = spml::io::parse_npy(padded_npy("{'descr': '<U1', 'fortran_order': True, 'shape': (2, 2), }", data),
                                         "fortran-unicode");
  EXPECT_EQ(spml::io::npy_strings(a), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(Npy, SwapsBigEndianInt32) {
  const NpyArray a = spml::io::read_npy(fixture("i4_big_endian.npy"));
  EXPECT_EQ(a.type, NpyType::Int32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(at<int32_t>(a, 0), 1);
  EXPECT_EQ(at<int32_t>(a, 1), -2);
  EXPECT_EQ(at<int32_t>(a, 2), 70000);
  EXPECT_EQ(at<int32_t>(a, 3), 2147483647);
}

TEST(Npy, SwapsBigEndianFloat64AndUnicode) {
  const NpyArray f = spml::io::read_npy(fixture("f8_big_endian.npy"));
  EXPECT_EQ(at<double>(f, 0), 1.5);
  EXPECT_EQ(at<double>(f, 1), -0.25);
  const NpyArray u = spml::io::read_npy(fixture("unicode_big_endian.npy"));
  EXPECT_EQ(u.type, NpyType::Unicode);
  EXPECT_EQ(u.string_length, 2);
  EXPECT_EQ(spml::io::npy_strings(u), (std::vector<std::string>{"ab", "\xc3\xa9"}));
}

TEST(Npy, ReadsVersion2And3Headers) {
  const NpyArray v2 = spml::io::read_npy(fixture("v2_i8.npy"));
  EXPECT_EQ(read_bytes(fixture("v2_i8.npy"))[6], 2);
  EXPECT_EQ(v2.type, NpyType::Int64);
  EXPECT_EQ(v2.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(at<int64_t>(v2, 0), 1);
  EXPECT_EQ(at<int64_t>(v2, 3), -4);

  const NpyArray v3 = spml::io::read_npy(fixture("v3_u2.npy"));
  EXPECT_EQ(read_bytes(fixture("v3_u2.npy"))[6], 3);
  EXPECT_EQ(v3.type, NpyType::UInt16);
  EXPECT_EQ(v3.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(at<uint16_t>(v3, 0), 7);
  EXPECT_EQ(at<uint16_t>(v3, 1), 65535);
  EXPECT_EQ(at<uint16_t>(v3, 2), 0);
}

TEST(Npy, ReadsBoolUint8ScalarFloat16AndEmpty) {
  const NpyArray b = spml::io::read_npy(fixture("bool.npy"));
  EXPECT_EQ(b.type, NpyType::Bool);
  EXPECT_EQ(b.data, (std::vector<uint8_t>{1, 0, 1, 1, 0}));

  const NpyArray u = spml::io::read_npy(fixture("u1.npy"));
  EXPECT_EQ(u.type, NpyType::UInt8);
  EXPECT_EQ(u.data, (std::vector<uint8_t>{0, 1, 127, 128, 255}));

  const NpyArray s = spml::io::read_npy(fixture("i8_scalar.npy"));
  EXPECT_EQ(s.type, NpyType::Int64);
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(at<int64_t>(s, 0), -1234567890123);

  const NpyArray h = spml::io::read_npy(fixture("f2.npy"));
  EXPECT_EQ(h.type, NpyType::Float16);
  EXPECT_EQ(at<uint16_t>(h, 0), 0x3c00);  // 1.0
  EXPECT_EQ(at<uint16_t>(h, 1), 0xc000);  // -2.0
  EXPECT_EQ(at<uint16_t>(h, 2), 0x3800);  // 0.5

  const NpyArray e = spml::io::read_npy(fixture("f4_empty_0x3.npy"));
  EXPECT_EQ(e.shape, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.data.empty());
}

TEST(Npy, ReadsNonAsciiUnicodeFixture) {
  const NpyArray a = spml::io::read_npy(fixture("unicode.npy"));
  EXPECT_EQ(a.type, NpyType::Unicode);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.string_length, 4);
  EXPECT_EQ(a.item_size(), 16u);
  // "café", "日本", "", "a😀": 2-, 3- and 4-byte UTF-8; the emoji is one UTF-32 code unit.
  EXPECT_EQ(spml::io::npy_strings(a),
            (std::vector<std::string>{"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "", "a\xf0\x9f\x98\x80"}));
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

TEST(Npy, RejectsObjectArrays) {
  const std::string path = fixture("object.npy");
  const std::string msg = npy_error([&] { spml::io::read_npy(path); });
  EXPECT_CONTAINS(msg, path);
  EXPECT_CONTAINS(msg, "object arrays (dtype 'O') are not supported");
  EXPECT_CONTAINS(msg, "allow_pickle=False");
}

TEST_F(NpyFiles, TruncatedDataNamesPathAndByteCounts) {
  std::vector<uint8_t> bytes = numpy_arange6_f4_bytes();
  bytes.resize(bytes.size() - 10);  // 14 of the 24 data bytes remain
  const std::string p = path("truncated.npy");
  write_bytes(p, bytes);
  const std::string msg = npy_error([&] { spml::io::read_npy(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "truncated data");
  EXPECT_CONTAINS(msg, "expected 24 bytes");
  EXPECT_CONTAINS(msg, "has 14 bytes");
  EXPECT_CONTAINS(msg, "(2, 3)");
}

TEST_F(NpyFiles, TruncatedHeader) {
  const std::vector<uint8_t> full = numpy_arange6_f4_bytes();
  const std::string p = path("short_header.npy");
  write_bytes(p, std::vector<uint8_t>(full.begin(), full.begin() + 50));
  const std::string msg = npy_error([&] { spml::io::read_npy(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "truncated header");
  EXPECT_CONTAINS(msg, "118");
  EXPECT_CONTAINS(msg, "40");

  write_bytes(p, std::vector<uint8_t>(full.begin(), full.begin() + 9));  // length field cut
  EXPECT_CONTAINS(npy_error([&] { spml::io::read_npy(p); }), "truncated header");
}

TEST_F(NpyFiles, BadMagic) {
  const std::string p = path("not_npy.npy");
  write_bytes(p, {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0});
  std::string msg = npy_error([&] { spml::io::read_npy(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "bad magic");
  EXPECT_CONTAINS(msg, "PK\\x03\\x04");

  write_bytes(p, {});
  msg = npy_error([&] { spml::io::read_npy(p); });
  EXPECT_CONTAINS(msg, "bad magic");
  EXPECT_CONTAINS(msg, "too short");
}

TEST_F(NpyFiles, MissingFileNamesPath) {
  const std::string p = path("does_not_exist.npy");
  const std::string msg = npy_error([&] { spml::io::read_npy(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "cannot open");
  // A directory opens but cannot be read.
  EXPECT_CONTAINS(npy_error([&] { spml::io::read_npy(dir_.string()); }), dir_.string() + ": read failed");
}

TEST(Npy, UnknownDescrIsNamed) {
  for (const char* descr : {"<c8", "<f3", "|S5", "<M8[ns]", "<U", "f16"}) {
    const std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,), }";
    const std::string msg = npy_error([&] { spml::io::parse_npy(padded_npy(dict, std::vector<uint8_t>(8)), "x.npy"); });
    EXPECT_CONTAINS(msg, "x.npy: ");
    EXPECT_CONTAINS(msg, std::string("unsupported dtype descr '") + descr + "'");
  }
}

TEST(Npy, RejectsStructuredDtype) {
  const std::string msg = npy_error([&] {
    spml::io::parse_npy(padded_npy("{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }",
                                   std::vector<uint8_t>(16)),
                        "rec.npy");
  });
  EXPECT_CONTAINS(msg, "rec.npy");
  EXPECT_CONTAINS(msg, "structured dtypes");
}

TEST(Npy, RejectsBadShapes) {
  for (const char* shape : {"(2, -1)", "[2, 3]", "(3)", "('a',)", "(2.5,)", "None"}) {
    const std::string dict = std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }";
    const std::string msg = npy_error([&] { spml::io::parse_npy(padded_npy(dict, std::vector<uint8_t>(8)), "s.npy"); });
    EXPECT_CONTAINS(msg, "s.npy: ");
    if (std::string(shape) != "(2.5,)") {  // 2.5 is not even a literal this parser knows
      EXPECT_CONTAINS(msg, std::string("bad shape ") + shape);
    }
  }
}

TEST(Npy, RejectsMalformedHeaders) {
  const auto err = [](const std::string& dict) {
    return npy_error([&] { spml::io::parse_npy(padded_npy(dict, std::vector<uint8_t>(4)), "h.npy"); });
  };
  EXPECT_CONTAINS(err("{'descr': '<f4', 'shape': (1,)}"), "no 'fortran_order'");
  EXPECT_CONTAINS(err("{'fortran_order': False, 'shape': (1,)}"), "no 'descr'");
  EXPECT_CONTAINS(err("{'descr': '<f4', 'fortran_order': False}"), "no 'shape'");
  EXPECT_CONTAINS(err("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}"), "unexpected key 'extra'");
  EXPECT_CONTAINS(err("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"), "appears twice");
  EXPECT_CONTAINS(err("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}"), "'fortran_order' must be True or False");
  EXPECT_CONTAINS(err("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)"), "cannot parse .npy header");
  EXPECT_CONTAINS(err("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}"), "expected ',' or '}'");
  EXPECT_CONTAINS(err("['descr', '<f4']"), "not a dict");
  EXPECT_CONTAINS(err("{'descr': <f4, 'fortran_order': False, 'shape': (1,)}"), "cannot parse .npy header");
  // Recursion is bounded: a deeply nested header is an error, not a stack overflow.
  EXPECT_CONTAINS(err("{'descr': " + std::string(10000, '[') + "}"), "less deeply nested");
}

TEST(Npy, RejectsUnknownVersionAndTrailingBytes) {
  std::vector<uint8_t> bytes = numpy_arange6_f4_bytes();
  bytes[6] = 4;
  EXPECT_CONTAINS(npy_error([&] { spml::io::parse_npy(bytes, "v.npy"); }), "unsupported .npy format version 4.0");

  bytes = numpy_arange6_f4_bytes();
  bytes.push_back(0);
  const std::string msg = npy_error([&] { spml::io::parse_npy(bytes, "t.npy"); });
  EXPECT_CONTAINS(msg, "t.npy: 1 unexpected bytes after the data");
  EXPECT_CONTAINS(msg, "expected 24");
}

// ---------------------------------------------------------------------------------------------------------------
// Header parsing is robust to what other writers (old NumPy, Python 2, hand-written files) produce.

TEST(Npy, ParsesHeaderVariants) {
  const std::vector<uint8_t> data = to_bytes(std::vector<int32_t>{5, 6, 7});
  for (const char* dict : {
           "{'shape': (3,), 'fortran_order': False, 'descr': '<i4'}",          // other key order, no trailing comma
           "{ 'descr' : '<i4' ,'fortran_order':False,'shape':( 3 , ) , }",     // odd spacing
           "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (3,)}",  // double quotes
           "{'descr': '<i4', 'fortran_order': False, 'shape': (3L,), }",       // Python 2 long
           "{'descr': u'<i4', 'fortran_order': False, 'shape': (3,), }",       // Python 2 unicode literal
           "{'descr': '=i4', 'fortran_order': False, 'shape': (3,), }",        // native byte order
           "{'descr': 'i4', 'fortran_order': True, 'shape': (3,), }",          // no byte order; 1-D Fortran = C
       }) {
    SCOPED_TRACE(dict);
    const NpyArray a = spml::io::parse_npy(padded_npy(dict, data), "variant");
    EXPECT_EQ(a.type, NpyType::Int32);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.data, data);
  }
  // A header without 64-byte padding (old writers aligned to 16) and without the final newline still parses.
  const NpyArray a =
      spml::io::parse_npy(npy_bytes(1, "{'descr':'|?','fortran_order':False,'shape':(2,)}", {1, 0}), "raw");
  EXPECT_EQ(a.type, NpyType::Bool);
  EXPECT_EQ(a.data, (std::vector<uint8_t>{1, 0}));
  // Scalars: shape ().
  const NpyArray s = spml::io::parse_npy(padded_npy("{'descr': '>f8', 'fortran_order': False, 'shape': ()}",
                                                    {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}),
                                         "scalar");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_DOUBLE_EQ(at<double>(s, 0), 3.141592653589793);
  // Version 3.0 headers are UTF-8; non-ASCII appears only in structured field names, which are rejected clearly.
  EXPECT_CONTAINS(npy_error([] {
                    spml::io::parse_npy(
                        npy_bytes(3, "{'descr': [('caf\xc3\xa9', '<f4')], 'fortran_order': False, 'shape': (1,), }\n",
                                  {0, 0, 0, 0}),
                        "v3");
                  }),
                  "structured dtypes");
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

TEST_F(NpyFiles, RoundTripEveryType) {
  std::vector<NpyArray> arrays = {
      make_array(NpyType::Float16, {2}, std::vector<uint16_t>{0x3c00, 0xfbff}),
      make_array(NpyType::Float32, {2, 2}, std::vector<float>{1.5f, -0.0f, 3e38f, 1e-45f}),
      make_array(NpyType::Float64, {1, 3}, std::vector<double>{1e308, -2.5, 0.1}),
      make_array(NpyType::Int8, {3}, std::vector<int8_t>{-128, 0, 127}),
      make_array(NpyType::Int16, {3}, std::vector<int16_t>{-32768, 1, 32767}),
      make_array(NpyType::Int32, {2, 1, 2}, std::vector<int32_t>{INT32_MIN, -1, 0, INT32_MAX}),
      make_array(NpyType::Int64, {}, std::vector<int64_t>{INT64_MIN}),
      make_array(NpyType::UInt8, {0}, std::vector<uint8_t>{}),
      make_array(NpyType::UInt16, {2}, std::vector<uint16_t>{0, 65535}),
      make_array(NpyType::UInt32, {2}, std::vector<uint32_t>{0, 4294967295u}),
      make_array(NpyType::UInt64, {2}, std::vector<uint64_t>{0, UINT64_MAX}),
      make_array(NpyType::Bool, {2, 2}, std::vector<uint8_t>{1, 0, 0, 1}),
      spml::io::make_npy_strings({"x", "", "long string", "\xe2\x82\xac"}, {2, 2}),
  };
  for (const NpyArray& a : arrays) {
    SCOPED_TRACE(spml::io::npy_type_name(a.type));
    const std::string p = path(std::string(spml::io::npy_type_name(a.type)) + ".npy");
    spml::io::write_npy(p, a);
    for (const auto& entry : fs::directory_iterator(fs::path(p).parent_path()))  // no temporary file left behind
      EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
    const std::vector<uint8_t> on_disk = read_bytes(p);
    EXPECT_EQ(on_disk, spml::io::serialize_npy(a));
    EXPECT_EQ(on_disk[6], 1);
    const NpyArray b = spml::io::read_npy(p);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.string_length, a.string_length);
    EXPECT_EQ(b.data, a.data);
    const NpyArray c = spml::io::parse_npy(on_disk, "mem");
    EXPECT_EQ(c.data, a.data);
  }
}

TEST_F(NpyFiles, WriteReplacesExistingFileAndReportsBadDirectory) {
  const std::string p = path("a.npy");
  spml::io::write_npy(p, make_array(NpyType::Int32, {1}, std::vector<int32_t>{1}));
  spml::io::write_npy(p, make_array(NpyType::Int32, {2}, std::vector<int32_t>{2, 3}));
  const NpyArray a = spml::io::read_npy(p);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(at<int32_t>(a, 1), 3);
  for (const auto& entry : fs::directory_iterator(fs::path(p).parent_path()))  // no temporary file left behind
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();

  const std::string bad = path("no_such_dir/b.npy");
  const std::string msg = npy_error([&] { spml::io::write_npy(bad, a); });
  EXPECT_CONTAINS(msg, bad);
  EXPECT_CONTAINS(msg, "cannot create the temporary file");
}

TEST(Npy, SerializeRejectsInconsistentArrays) {
  NpyArray a = make_array(NpyType::Float32, {2, 3}, std::vector<float>(5));
  std::string msg = npy_error([&] { spml::io::serialize_npy(a); });
  EXPECT_CONTAINS(msg, "data has 20 bytes");
  EXPECT_CONTAINS(msg, "needs 24");
  a.shape = {-1};
  EXPECT_CONTAINS(npy_error([&] { spml::io::serialize_npy(a); }), "bad shape");
}

// ---------------------------------------------------------------------------------------------------------------
// Strings

TEST_F(NpyFiles, Utf8RoundTripNonAscii) {
  const std::vector<std::string> words = {"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac"};  // "café", "日本"
  const NpyArray a = spml::io::make_npy_strings(words, {2});
  EXPECT_EQ(a.type, NpyType::Unicode);
  EXPECT_EQ(a.string_length, 4);  // "café" is 4 code points (5 UTF-8 bytes)
  ASSERT_EQ(a.data.size(), 2u * 4u * 4u);
  const auto unit = [&](std::size_t i) {
    uint32_t v;
    std::memcpy(&v, a.data.data() + 4 * i, 4);
    return v;
  };
  EXPECT_EQ(unit(3), 0xe9u);    // é
  EXPECT_EQ(unit(4), 0x65e5u);  // 日
  EXPECT_EQ(unit(5), 0x672cu);  // 本
  EXPECT_EQ(unit(6), 0u);       // NUL padding
  EXPECT_EQ(unit(7), 0u);
  const std::vector<uint8_t> bytes = spml::io::serialize_npy(a);
  EXPECT_CONTAINS(std::string(bytes.begin(), bytes.begin() + 128), "'descr': '<U4'");

  const std::string p = path("words.npy");
  spml::io::write_npy(p, a);
  EXPECT_EQ(spml::io::npy_strings(spml::io::read_npy(p)), words);
}

TEST(Npy, StringWidthAndErrors) {
  EXPECT_EQ(spml::io::make_npy_strings({"", ""}, {2}).string_length, 1);             // NumPy never makes U0
  EXPECT_EQ(spml::io::make_npy_strings({"\xf0\x9f\x98\x80"}, {}).string_length, 1);  // one code point, 4 bytes
  EXPECT_EQ(spml::io::make_npy_strings({}, {0, 3}).numel(), 0);
  EXPECT_CONTAINS(npy_error([] { spml::io::make_npy_strings({"a", "b"}, {3}); }), "holds 3 elements but 2 strings");
  for (const char* bad : {"\xff", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"}) {
    const std::string msg = npy_error([&] { spml::io::make_npy_strings({"ok", bad}, {2}); });
    EXPECT_CONTAINS(msg, "string 1 is not valid UTF-8");
  }
  EXPECT_CONTAINS(npy_error([] { spml::io::npy_strings(make_array(NpyType::Int8, {1}, std::vector<int8_t>{0})); }),
                  "expected a unicode array, got int8");
  // A stored code unit that is not a Unicode scalar value (a surrogate) cannot become UTF-8.
  NpyArray s = spml::io::make_npy_strings({"a"}, {1});
  s.data = {0x00, 0xd8, 0x00, 0x00};
  EXPECT_CONTAINS(npy_error([&] { spml::io::npy_strings(s); }), "invalid code point");
}

TEST(Npy, SizesAndNames) {
  NpyArray a;
  a.type = NpyType::Float64;
  EXPECT_EQ(a.numel(), 1);  // shape () is a scalar
  EXPECT_EQ(a.item_size(), 8u);
  a.shape = {4, 0, 2};
  EXPECT_EQ(a.numel(), 0);
  a.type = NpyType::Unicode;
  a.string_length = 7;
  EXPECT_EQ(a.item_size(), 28u);
  EXPECT_STREQ(spml::io::npy_type_name(NpyType::Float16), "float16");
  EXPECT_STREQ(spml::io::npy_type_name(NpyType::UInt64), "uint64");
  EXPECT_STREQ(spml::io::npy_type_name(NpyType::Bool), "bool");
  EXPECT_STREQ(spml::io::npy_type_name(NpyType::Unicode), "unicode");
}

}  // namespace
