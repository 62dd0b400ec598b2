// NumPy .npy reader and writer: magic and version, a small parser for the Python dict literal of the header, dtype
// descriptors, byte swapping, Fortran -> C reordering, and UTF-8 <-> UTF-32 for 'U' arrays. See
// numpy/lib/format.py for the format; the writer reproduces np.save's bytes (including its header padding).
#include "framework/io/npy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#endif

#include "framework/io/file.h"
#include "kernels/common/error.h"

namespace spml::io {
namespace {

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kMagicLen = 6;
constexpr std::size_t kAlign = 64;                // np.save aligns the data so it can be memory-mapped
constexpr std::size_t kGrowthAxisMaxDigits = 21;  // np.save leaves room to grow the first dimension in place
constexpr int kMaxNesting = 32;                   // the header is untrusted input: bound the parser's recursion

bool host_is_little_endian() {
  const uint16_t probe = 1;
  uint8_t first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

// Python's repr of a shape tuple: (), (3,), (2, 3).
std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

// Printable form of a few raw bytes for "bad magic" messages.
std::string escape_bytes(const uint8_t* bytes, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    const uint8_t c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::size_t type_size(NpyType type) {
  switch (type) {
    case NpyType::Int8:
    case NpyType::UInt8:
    case NpyType::Bool:
      return 1;
    case NpyType::Float16:
    case NpyType::Int16:
    case NpyType::UInt16:
      return 2;
    case NpyType::Float32:
    case NpyType::Int32:
    case NpyType::UInt32:
    case NpyType::Unicode:  // per code unit; the element holds string_length of them
      return 4;
    case NpyType::Float64:
    case NpyType::Int64:
    case NpyType::UInt64:
      return 8;
  }
  SPML_FAIL("npy: unknown NpyType ", static_cast<int>(type));
}

// numel * item_size with overflow and sign checks; `what` prefixes the messages. The product of the non-zero
// dimensions must fit as well, so that a shape such as (0, 2**40, 2**40) (no data, but an element count that
// overflows int64 in any other order of the factors) never reaches the tensor code.
std::size_t checked_byte_count(const std::vector<int64_t>& shape, std::size_t item_size, const std::string& what) {
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    SPML_CHECK(d >= 0, what, ": bad shape ", shape_text(shape), ": dimensions must be non-negative");
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > limit / static_cast<uint64_t>(d))
      SPML_FAIL(what, ": bad shape ", shape_text(shape), ": too many elements");
    nonzero *= static_cast<uint64_t>(d);
  }
  if (item_size != 0 && nonzero > limit / item_size)
    SPML_FAIL(what, ": bad shape ", shape_text(shape), ": too many bytes");
  return empty ? 0 : static_cast<std::size_t>(nonzero * item_size);
}

// ---------------------------------------------------------------------------------------------------------------
// Header: a Python literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// NumPy reads it with ast.literal_eval; this parser accepts the same subset that can appear: strings, integers
// (with Python 2's 'L' suffix), True/False/None, tuples, lists and dicts, in any order and spacing.

struct PyValue {
  enum class Kind { Str, Int, Bool, None, Tuple, List, Dict } kind = Kind::None;
  std::string str;
  int64_t integer = 0;
  bool boolean = false;
  std::vector<PyValue> items;  // Tuple/List elements; Dict: key, value, key, value, ...
  std::string source;          // the literal's text, for error messages
};

class LiteralParser {
 public:
  LiteralParser(const std::string& text, const std::string& name) : text_(text), name_(name) {}

  PyValue parse_all() {
    PyValue v = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("end of header");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& expected) const {
    std::string shown = text_;
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.pop_back();
    if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
    SPML_FAIL(name_, ": cannot parse .npy header: expected ", expected, " at character ", pos_, " of \"", shown, "\"");
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool peek_is(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxNesting) fail("less deeply nested literals");
    skip_space();
    if (pos_ >= text_.size()) fail("a value");
    const std::size_t start = pos_;
    PyValue v;
    const char c = text_[pos_];
    if (c == '\'' || c == '"' ||
        ((c == 'u' || c == 'b') && pos_ + 1 < text_.size() && (text_[pos_ + 1] == '\'' || text_[pos_ + 1] == '"'))) {
      v = parse_string();
    } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
      v = parse_int();
    } else if (c == '(') {
      ++pos_;
      v = parse_sequence(')', PyValue::Kind::Tuple, depth);
      // A parenthesised single value without a comma is just that value, as in Python: (3) is 3, not a tuple.
    } else if (c == '[') {
      ++pos_;
      v = parse_sequence(']', PyValue::Kind::List, depth);
    } else if (c == '{') {
      ++pos_;
      v = parse_dict(depth);
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      std::size_t end = pos_;
      while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) ++end;
      const std::string word = text_.substr(pos_, end - pos_);
      if (word == "True" || word == "False") {
        v.kind = PyValue::Kind::Bool;
        v.boolean = word == "True";
      } else if (word == "None") {
        v.kind = PyValue::Kind::None;
      } else {
        fail("a literal (string, integer, True, False, None, tuple, list or dict), not '" + word + "'");
      }
      pos_ = end;
    } else {
      fail("a value");
    }
    v.source = text_.substr(start, pos_ - start);
    return v;
  }

  PyValue parse_string() {
    if (text_[pos_] == 'u' || text_[pos_] == 'b') ++pos_;  // Python 2 / bytes prefixes
    const char quote = text_[pos_++];
    PyValue v;
    v.kind = PyValue::Kind::Str;
    while (true) {
      if (pos_ >= text_.size()) fail(std::string("closing ") + quote);
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\\') {  // descr strings never need escapes; take the next character literally
        if (pos_ >= text_.size()) fail("an escaped character");
        c = text_[pos_++];
      }
      v.str += c;
    }
    return v;
  }

  PyValue parse_int() {
    PyValue v;
    v.kind = PyValue::Kind::Int;
    bool negative = false;
    if (text_[pos_] == '-' || text_[pos_] == '+') negative = text_[pos_++] == '-';
    skip_space();
    if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) fail("digits");
    uint64_t magnitude = 0;
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      magnitude = magnitude * 10 + static_cast<uint64_t>(text_[pos_++] - '0');
      if (magnitude > limit) fail("an integer that fits in 64 bits");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'L' || text_[pos_] == 'l')) ++pos_;  // Python 2 long: (3L, 4L)
    v.integer = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    return v;
  }

  PyValue parse_sequence(char close, PyValue::Kind kind, int depth) {
    PyValue v;
    v.kind = kind;
    bool saw_comma = false;
    while (!peek_is(close)) {
      v.items.push_back(parse_value(depth + 1));
      if (peek_is(',')) {
        ++pos_;
        saw_comma = true;
      } else if (!peek_is(close)) {
        fail(std::string("',' or '") + close + "'");
      }
    }
    ++pos_;
    if (kind == PyValue::Kind::Tuple && v.items.size() == 1 && !saw_comma) return v.items[0];
    return v;
  }

  PyValue parse_dict(int depth) {
    PyValue v;
    v.kind = PyValue::Kind::Dict;
    while (!peek_is('}')) {
      v.items.push_back(parse_value(depth + 1));
      if (!peek_is(':')) fail("':' after a dict key");
      ++pos_;
      v.items.push_back(parse_value(depth + 1));
      if (peek_is(',')) {
        ++pos_;
      } else if (!peek_is('}')) {
        fail("',' or '}'");
      }
    }
    ++pos_;
    return v;
  }

  const std::string& text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

struct DtypeInfo {
  NpyType type = NpyType::Float32;
  int64_t string_length = 0;
  bool big_endian = false;  // file data is big-endian: swap each code unit on read
};

DtypeInfo parse_descr(const std::string& descr, const std::string& name) {
  DtypeInfo info;
  std::string code = descr;
  char order = '=';
  if (!code.empty() && std::strchr("<>|=", code[0]) != nullptr) {
    order = code[0];
    code = code.substr(1);
  }
  // '|' (not applicable) and '=' (native) both mean the writer's host order; NumPy itself always writes '<' or '>'.
  info.big_endian = order == '>' || ((order == '=' || order == '|') && !host_is_little_endian());

  if (!code.empty() && code[0] == 'O') {
    SPML_FAIL(name, ": object arrays (dtype 'O') are not supported; save with allow_pickle=False and a fixed dtype");
  }
  static const struct {
    const char* code;
    NpyType type;
  } kFixed[] = {{"f2", NpyType::Float16}, {"f4", NpyType::Float32}, {"f8", NpyType::Float64}, {"i1", NpyType::Int8},
                {"i2", NpyType::Int16},   {"i4", NpyType::Int32},   {"i8", NpyType::Int64},   {"u1", NpyType::UInt8},
                {"u2", NpyType::UInt16},  {"u4", NpyType::UInt32},  {"u8", NpyType::UInt64},  {"b1", NpyType::Bool},
                {"?", NpyType::Bool}};
  for (const auto& entry : kFixed) {
    if (code == entry.code) {
      info.type = entry.type;
      return info;
    }
  }
  if (code.size() >= 2 && code[0] == 'U' &&
      std::all_of(code.begin() + 1, code.end(), [](char c) { return c >= '0' && c <= '9'; }) && code.size() <= 12) {
    info.type = NpyType::Unicode;
    info.string_length = std::stoll(code.substr(1));
    return info;
  }
  SPML_FAIL(name, ": unsupported dtype descr '", descr,
            "' (supported: f2 f4 f8, i1 i2 i4 i8, u1 u2 u4 u8, b1/?, U<n>, with byte order <, >, | or =)");
}

std::string descr_for(const NpyArray& array) {
  const std::size_t unit = type_size(array.type);
  std::string out = unit == 1 ? "|" : "<";
  switch (array.type) {
    case NpyType::Float16:
      return out + "f2";
    case NpyType::Float32:
      return out + "f4";
    case NpyType::Float64:
      return out + "f8";
    case NpyType::Int8:
      return out + "i1";
    case NpyType::Int16:
      return out + "i2";
    case NpyType::Int32:
      return out + "i4";
    case NpyType::Int64:
      return out + "i8";
    case NpyType::UInt8:
      return out + "u1";
    case NpyType::UInt16:
      return out + "u2";
    case NpyType::UInt32:
      return out + "u4";
    case NpyType::UInt64:
      return out + "u8";
    case NpyType::Bool:
      return out + "b1";
    case NpyType::Unicode:
      return out + "U" + std::to_string(array.string_length);
  }
  SPML_FAIL("npy: unknown NpyType ", static_cast<int>(array.type));
}

// What the header says, plus where the data starts.
struct Header {
  DtypeInfo dtype;
  std::vector<int64_t> shape;
  bool fortran_order = false;
  std::size_t data_offset = 0;
  std::size_t data_bytes = 0;
};

uint32_t read_le(const uint8_t* p, std::size_t n) {
  uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

Header parse_header(const uint8_t* bytes, std::size_t size, const std::string& name) {
  const std::size_t magic_seen = std::min(size, kMagicLen);
  if (size < kMagicLen || std::memcmp(bytes, kMagic, kMagicLen) != 0) {
    SPML_FAIL(name, ": not a NumPy .npy file: bad magic (expected \"\\x93NUMPY\", found \"",
              escape_bytes(bytes, magic_seen), "\"", size < kMagicLen ? ", file too short" : "", ")");
  }
  SPML_CHECK(size >= kMagicLen + 2, name, ": truncated header: ", size, " bytes, no format version after the magic");
  const int major = bytes[6], minor = bytes[7];
  SPML_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, name, ": unsupported .npy format version ", major,
             ".", minor, " (supported: 1.0, 2.0, 3.0)");
  // Version 1.0 stores the header length as u16; 2.0 and 3.0 as u32 (3.0 only changes the header text to UTF-8).
  const std::size_t len_field = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLen + 2 + len_field;
  SPML_CHECK(size >= prefix, name, ": truncated header: ", size, " bytes, need ", prefix,
             " for magic, version and header length");
  const std::size_t header_len = read_le(bytes + kMagicLen + 2, len_field);
  SPML_CHECK(size - prefix >= header_len, name, ": truncated header: the header length field says ", header_len,
             " bytes but only ", size - prefix, " follow");

  // The literal parser only looks at ASCII syntax, so latin-1 (v1/v2) and UTF-8 (v3) headers need no decoding.
  const std::string text(reinterpret_cast<const char*>(bytes + prefix), header_len);
  const PyValue dict = LiteralParser(text, name).parse_all();
  SPML_CHECK(dict.kind == PyValue::Kind::Dict, name, ": .npy header is not a dict: ", dict.source);

  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (std::size_t i = 0; i < dict.items.size(); i += 2) {
    const PyValue& key = dict.items[i];
    SPML_CHECK(key.kind == PyValue::Kind::Str, name, ": .npy header key ", key.source, " is not a string");
    const PyValue** slot = key.str == "descr"           ? &descr
                           : key.str == "fortran_order" ? &fortran
                           : key.str == "shape"         ? &shape
                                                        : nullptr;
    SPML_CHECK(slot != nullptr, name, ": unexpected key '", key.str,
               "' in .npy header (expected exactly 'descr', 'fortran_order', 'shape')");
    SPML_CHECK(*slot == nullptr, name, ": key '", key.str, "' appears twice in the .npy header");
    *slot = &dict.items[i + 1];
  }
  SPML_CHECK(descr != nullptr, name, ": .npy header has no 'descr'");
  SPML_CHECK(fortran != nullptr, name, ": .npy header has no 'fortran_order'");
  SPML_CHECK(shape != nullptr, name, ": .npy header has no 'shape'");

  Header h;
  SPML_CHECK(descr->kind != PyValue::Kind::List, name,
             ": structured dtypes (descr is a list of fields) are not supported; save each field as its own array");
  SPML_CHECK(descr->kind == PyValue::Kind::Str, name, ": 'descr' must be a dtype string such as '<f4', got ",
             descr->source);
  h.dtype = parse_descr(descr->str, name);

  SPML_CHECK(fortran->kind == PyValue::Kind::Bool, name, ": 'fortran_order' must be True or False, got ",
             fortran->source);
  h.fortran_order = fortran->boolean;

  bool shape_ok = shape->kind == PyValue::Kind::Tuple;
  for (const PyValue& d : shape->items) shape_ok = shape_ok && d.kind == PyValue::Kind::Int && d.integer >= 0;
  SPML_CHECK(shape_ok, name, ": bad shape ", shape->source,
             " in .npy header: expected a tuple of non-negative integers such as (2, 3), (3,) or ()");
  for (const PyValue& d : shape->items) h.shape.push_back(d.integer);

  const std::size_t item =
      type_size(h.dtype.type) * static_cast<std::size_t>(h.dtype.type == NpyType::Unicode ? h.dtype.string_length : 1);
  h.data_offset = prefix + header_len;
  h.data_bytes = checked_byte_count(h.shape, item, name);
  // Zero-width strings take no bytes, so the file size bounds nothing: a few bytes could claim 2**62 elements.
  // np.save never writes '<U0' for a non-empty array (NumPy widens it to '<U1').
  SPML_CHECK(item != 0 || checked_byte_count(h.shape, 1, name) == 0, name, ": dtype ", descr->str,
             " (zero-width strings) with a non-empty shape ", shape_text(h.shape), " is not supported");
  const std::size_t actual = size - h.data_offset;
  SPML_CHECK(actual >= h.data_bytes, name, ": truncated data: expected ", h.data_bytes, " bytes for shape ",
             shape_text(h.shape), " of ", descr->str, " but the file has ", actual, " bytes after the header");
  // np.save never writes anything after the data; extra bytes mean a damaged file or several arrays appended to one.
  SPML_CHECK(actual == h.data_bytes, name, ": ", actual - h.data_bytes, " unexpected bytes after the data (expected ",
             h.data_bytes, " bytes for shape ", shape_text(h.shape), " of ", descr->str, ", found ", actual, ")");
  return h;
}

// Turns the raw data of a parsed header into little-endian C order in place.
void normalize(NpyArray& array, const Header& h) {
  const std::size_t unit = type_size(array.type);
  if (h.dtype.big_endian && unit > 1) {
    for (std::size_t off = 0; off + unit <= array.data.size(); off += unit) {
      std::reverse(array.data.begin() + static_cast<std::ptrdiff_t>(off),
                   array.data.begin() + static_cast<std::ptrdiff_t>(off + unit));
    }
  }
  const std::size_t rank = array.shape.size();
  const int64_t n = array.numel();
  const std::size_t item = array.item_size();
  if (!h.fortran_order || rank < 2 || n < 2 || item == 0) return;
  // Walk the file's column-major order (first index fastest) and place each element at its row-major offset.
  std::vector<int64_t> c_stride(rank, 1);
  for (std::size_t k = rank - 1; k > 0; --k) c_stride[k - 1] = c_stride[k] * array.shape[k];
  std::vector<int64_t> index(rank, 0);
  std::vector<uint8_t> out(array.data.size());
  int64_t dst = 0;
  for (int64_t src = 0; src < n; ++src) {
    std::memcpy(out.data() + static_cast<std::size_t>(dst) * item,
                array.data.data() + static_cast<std::size_t>(src) * item, item);
    for (std::size_t k = 0; k < rank; ++k) {
      if (++index[k] < array.shape[k]) {
        dst += c_stride[k];
        break;
      }
      dst -= (array.shape[k] - 1) * c_stride[k];
      index[k] = 0;
    }
  }
  array.data = std::move(out);
}

NpyArray array_from_header(const Header& h) {
  NpyArray array;
  array.type = h.dtype.type;
  array.shape = h.shape;
  array.string_length = h.dtype.string_length;
  return array;
}

// The header np.save writes for this array: magic, version, length, dict literal, space padding, '\n'.
std::vector<uint8_t> header_bytes(const NpyArray& array) {
  SPML_CHECK(array.type != NpyType::Unicode || array.string_length >= 0, "serialize_npy: negative string_length ",
             array.string_length);
  const std::size_t expected = checked_byte_count(array.shape, array.item_size(), "serialize_npy");
  SPML_CHECK(array.data.size() == expected, "serialize_npy: data has ", array.data.size(), " bytes but shape ",
             shape_text(array.shape), " of ", npy_type_name(array.type), " needs ", expected);

  // Keys sorted and each followed by ", " exactly like NumPy's repr-based writer.
  std::string dict =
      "{'descr': '" + descr_for(array) + "', 'fortran_order': False, 'shape': " + shape_text(array.shape) + ", }";
  if (!array.shape.empty()) {
    const std::size_t digits = std::to_string(array.shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const std::size_t text_len = dict.size() + 1;  // + the final '\n'
  int major = 1;
  std::size_t prefix = kMagicLen + 2 + 2;
  std::size_t pad = kAlign - (prefix + text_len) % kAlign;  // NumPy pads by 64 when already aligned; so do we
  if (text_len + pad > 0xffff) {                            // does not fit the u16 length of version 1.0
    major = 2;
    prefix = kMagicLen + 2 + 4;
    pad = kAlign - (prefix + text_len) % kAlign;
  }
  const std::size_t header_len = text_len + pad;

  std::vector<uint8_t> out(kMagic, kMagic + kMagicLen);
  out.push_back(static_cast<uint8_t>(major));
  out.push_back(0);
  for (std::size_t i = 0; i < prefix - kMagicLen - 2; ++i) out.push_back(static_cast<uint8_t>(header_len >> (8 * i)));
  out.insert(out.end(), dict.begin(), dict.end());
  out.insert(out.end(), pad, ' ');
  out.push_back('\n');
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 <-> code points

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool valid_code_point(uint32_t cp) {
  return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

// Strict decoder: rejects overlong forms, surrogates, code points above U+10FFFF and cut-off sequences.
std::vector<uint32_t> decode_utf8(const std::string& s, std::size_t which) {
  std::vector<uint32_t> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    std::size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2, cp = b0 & 0x1f, min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3, cp = b0 & 0x0f, min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const uint8_t b = static_cast<uint8_t>(s[i + k]);
      ok = (b & 0xc0) == 0x80;
      cp = (cp << 6) | (b & 0x3f);
    }
    ok = ok && cp >= min && valid_code_point(cp);
    if (!ok) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", b0);
      SPML_FAIL("make_npy_strings: string ", which, " is not valid UTF-8 (bad sequence starting with byte ", byte,
                " at offset ", i, ")");
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::size_t NpyArray::item_size() const {
  const std::size_t unit = type_size(type);
  return type == NpyType::Unicode ? unit * static_cast<std::size_t>(std::max<int64_t>(string_length, 0)) : unit;
}

const char* npy_type_name(NpyType type) {
  switch (type) {
    case NpyType::Float16:
      return "float16";
    case NpyType::Float32:
      return "float32";
    case NpyType::Float64:
      return "float64";
    case NpyType::Int8:
      return "int8";
    case NpyType::Int16:
      return "int16";
    case NpyType::Int32:
      return "int32";
    case NpyType::Int64:
      return "int64";
    case NpyType::UInt8:
      return "uint8";
    case NpyType::UInt16:
      return "uint16";
    case NpyType::UInt32:
      return "uint32";
    case NpyType::UInt64:
      return "uint64";
    case NpyType::Bool:
      return "bool";
    case NpyType::Unicode:
      return "unicode";
  }
  return "unknown";
}

NpyArray parse_npy(const std::vector<uint8_t>& bytes, const std::string& name_for_errors) {
  const Header h = parse_header(bytes.data(), bytes.size(), name_for_errors);
  NpyArray array = array_from_header(h);
  const auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(h.data_offset);
  array.data.assign(begin, begin + static_cast<std::ptrdiff_t>(h.data_bytes));
  normalize(array, h);
  return array;
}

NpyArray read_npy(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  SPML_CHECK(f != nullptr, path, ": cannot open for reading: ", std::strerror(errno));
  // Read until EOF rather than trusting a size up front: directories and pipes report no usable size.
  std::error_code ec;
  const auto expected_size = std::filesystem::file_size(path, ec);  // + 1 below so EOF is seen without regrowing
  std::vector<uint8_t> bytes(ec ? std::size_t{1} << 20 : static_cast<std::size_t>(expected_size) + 1);
  std::size_t used = 0;
  while (true) {
    if (used == bytes.size()) bytes.resize(2 * bytes.size());
    const std::size_t got = std::fread(bytes.data() + used, 1, bytes.size() - used, f);
    if (got == 0) break;
    used += got;
  }
  bytes.resize(used);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  SPML_CHECK(!failed, path, ": read failed: ", std::strerror(err));

  const Header h = parse_header(bytes.data(), bytes.size(), path);
  NpyArray array = array_from_header(h);
  // Reuse the file buffer for the data instead of copying it: label and feature files can be large.
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(h.data_offset));
  array.data = std::move(bytes);
  normalize(array, h);
  return array;
}

std::vector<uint8_t> serialize_npy(const NpyArray& array) {
  std::vector<uint8_t> out = header_bytes(array);
  out.insert(out.end(), array.data.begin(), array.data.end());
  return out;
}

void write_npy(const std::string& path, const NpyArray& array) {
  const std::vector<uint8_t> bytes = serialize_npy(array);  // validates before anything touches the disk
  write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<std::string> npy_strings(const NpyArray& array) {
  SPML_CHECK(array.type == NpyType::Unicode, "npy_strings: expected a unicode array, got ", npy_type_name(array.type));
  const std::size_t width = static_cast<std::size_t>(std::max<int64_t>(array.string_length, 0));
  const std::size_t n = static_cast<std::size_t>(array.numel());
  SPML_CHECK(array.data.size() == n * width * 4, "npy_strings: data has ", array.data.size(), " bytes but shape ",
             shape_text(array.shape), " of U", width, " needs ", n * width * 4);
  std::vector<std::string> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const uint8_t* element = array.data.data() + i * width * 4;
    std::size_t len = width;
    while (len > 0 && read_le(element + (len - 1) * 4, 4) == 0) --len;  // NumPy pads with NULs
    for (std::size_t k = 0; k < len; ++k) {
      const uint32_t cp = read_le(element + k * 4, 4);
      SPML_CHECK(valid_code_point(cp), "npy_strings: element ", i, " holds invalid code point ", cp);
      append_utf8(out[i], cp);
    }
  }
  return out;
}

NpyArray make_npy_strings(const std::vector<std::string>& utf8, const std::vector<int64_t>& shape) {
  checked_byte_count(shape, 1, "make_npy_strings");
  NpyArray array;
  array.type = NpyType::Unicode;
  array.shape = shape;
  SPML_CHECK(static_cast<std::size_t>(array.numel()) == utf8.size(), "make_npy_strings: shape ", shape_text(shape),
             " holds ", array.numel(), " elements but ", utf8.size(), " strings were given");
  std::vector<std::vector<uint32_t>> decoded;
  decoded.reserve(utf8.size());
  std::size_t width = 1;  // np.array(['']) is '<U1', never '<U0'
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    decoded.push_back(decode_utf8(utf8[i], i));
    width = std::max(width, decoded.back().size());
  }
  array.string_length = static_cast<int64_t>(width);
  array.data.assign(utf8.size() * width * 4, 0);
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    for (std::size_t k = 0; k < decoded[i].size(); ++k) {
      uint8_t* unit = array.data.data() + (i * width + k) * 4;
      for (int b = 0; b < 4; ++b) unit[b] = static_cast<uint8_t>(decoded[i][k] >> (8 * b));
    }
  }
  return array;
}

}  // namespace spml::io
