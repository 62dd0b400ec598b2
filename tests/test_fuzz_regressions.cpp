// Regression tests from fuzzing (tests/fuzz, docs/fuzzing.md): each input that crashed a fuzz target is committed
// under tests/data/fuzz_regressions/<target>/ and must now be rejected with a clear spml::Error naming the input;
// and the size caps the parsers gained (hostile headers that claim huge sizes) are checked with hand-made inputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "framework/data/builders/idx.h"
#include "framework/data/builders/public_parsers.h"
#include "framework/data/sample_schedule.h"
#include "framework/image/image.h"
#include "framework/io/checkpoint.h"
#include "framework/io/npy.h"
#include "framework/io/safetensors.h"
#include "kernels/common/error.h"
#include "test_util.h"
#include "training/run_folder.h"
#include "training/train_config.h"

namespace {

using namespace spml;
using Bytes = std::vector<uint8_t>;

// A version-1 .npy file with the given dict literal (padded like np.save) and data bytes.
Bytes npy_file(const std::string& dict, const Bytes& data = {}) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const std::string prefix =
      std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8);
  const std::string file = prefix + header + std::string(data.begin(), data.end());
  return Bytes(file.begin(), file.end());
}

// A safetensors file: the 8-byte length, the header text, the data.
Bytes safetensors_file(const std::string& header, const Bytes& data = {}) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(uint64_t(header.size()) >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// A committed crash input: tests/data/fuzz_regressions/<target>/<name>.
Bytes regression_input(const std::string& target, const std::string& name) {
  const std::string path = std::string(SPML_TEST_DATA_DIR) + "/fuzz_regressions/" + target + "/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
std::string regression_text(const std::string& target, const std::string& name) {
  const Bytes b = regression_input(target, name);
  return std::string(b.begin(), b.end());
}

// fuzz_image's input layout: a control byte (bit 0: stb_image for every format), then the file.
image::Image decode_like_fuzz_image(const Bytes& input, const std::string& name) {
  const Bytes file(input.begin() + 1, input.end());
  return image::decode_image_bytes_with(file, name, (input.at(0) & 1) != 0);
}

void put_u32_be(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(uint8_t(v >> shift));
}

// ------------------------------------------------------------------------------------------------ crashes found
// fuzz_image, first 60 s smoke: a JPEG forced through stb_image whose DHT segment declares more than 256 codes
// made stb_image's stbi__build_huffman write past stbi__huffman::size[257] (UBSan: index 257 out of bounds); the
// second smoke: a scan using a Huffman table that was never defined made stbi__jpeg_huff_decode read past
// maxcode[18]. stb_image's JPEG decoder now only sees files that libjpeg-turbo decodes cleanly.
// A third one (the fuzz target no longer sends JPEG data to stb_image after it): a Huffman symbol index past
// stbi__huffman::values[256] in stbi__jpeg_huff_decode, on a file that libjpeg-turbo decodes with warnings only.
// decode_image_bytes sends it to libjpeg-turbo, never to stb_image.
TEST(FuzzRegression, JpegLikeFilesGoToLibjpegTurboOnly) {
  const Bytes input = regression_input("fuzz_image", "stb_jpeg_huffman_symbol_out_of_range.bin");
  const Bytes file(input.begin() + 1, input.end());
  const std::string msg = spml::test::error_message([&] { image::decode_image_bytes(file, "sym.jpg"); });
  if (!msg.empty()) {
    EXPECT_NE(msg.find("sym.jpg"), std::string::npos) << msg;
  }
}

TEST(FuzzRegression, MalformedJpegNeverReachesStbImage) {
  for (const char* name : {"stb_jpeg_dht_over_256_codes.bin", "stb_jpeg_undefined_huffman_table.bin"}) {
    const Bytes input = regression_input("fuzz_image", name);
    EXPECT_ERROR_CONTAINS(decode_like_fuzz_image(input, "bad.jpg"), "bad.jpg", "JPEG");
    // The same bytes after a 0xFF fill byte: not JPEG magic for libjpeg-turbo's sniffing, but stb_image's JPEG
    // decoder takes them, so plain decode_image_bytes used to hand them to it. Now libjpeg-turbo refuses them.
    Bytes fill(input.begin() + 1, input.end());
    fill.insert(fill.begin(), 0xFF);
    EXPECT_ERROR_CONTAINS(image::decode_image_bytes(fill, "fill.jpg"), "fill.jpg", "JPEG");
  }
}

// fuzz_image, fourth 60 s smoke: a PNG whose first IDAT chunk is empty made stb_image memcpy 0 bytes to a null
// buffer (UBSan: null pointer passed as argument 1). Empty IDAT chunks are now dropped before stb_image sees them.
TEST(FuzzRegression, PngWithEmptyFirstIdatDecodesWithoutUndefinedBehaviour) {
  const Bytes input = regression_input("fuzz_image", "stb_png_empty_first_idat.bin");
  const std::string msg = spml::test::error_message([&] { decode_like_fuzz_image(input, "empty_idat.png"); });
  if (!msg.empty()) {
    EXPECT_NE(msg.find("empty_idat.png"), std::string::npos) << msg;
  }
}

// fuzz_image, first 600 s run (out of memory after 36 s): a 93-byte PNG whose second IDAT chunk claims 1919906518
// bytes made stb_image grow its data buffer to 2 GiB (malloc(2147483648)) before it found the bytes missing.
TEST(FuzzRegression, PngIdatLongerThanTheFileIsRefusedBeforeAllocating) {
  const Bytes input = regression_input("fuzz_image", "stb_png_idat_claims_2gb.bin");
  EXPECT_ERROR_CONTAINS(decode_like_fuzz_image(input, "idat.png"), "idat.png", "corrupt or truncated PNG",
                        "an IDAT chunk at byte 77 claims 1919906518 bytes");
}

// fuzz_image, second 600 s run (after 1 s): a PPM header whose height has 57 digits made stb_image's
// stbi__pnm_getinteger overflow an int (UBSan: signed integer overflow).
TEST(FuzzRegression, PnmHeaderWithHugeNumberIsRefused) {
  const Bytes input = regression_input("fuzz_image", "stb_pnm_width_int_overflow.bin");
  EXPECT_ERROR_CONTAINS(decode_like_fuzz_image(input, "wide.ppm"), "wide.ppm", "corrupt PNM header");
  const std::string comment = "P6\n# a comment\n4 3\n255\n" + std::string(36, '\x7f');
  const image::Image ok = image::decode_image_bytes(Bytes(comment.begin(), comment.end()), "ok.ppm");
  EXPECT_EQ(ok.width, 4);
  EXPECT_EQ(ok.height, 3);
}

// fuzz_image, second 60 s smoke: a 613-byte TGA header claiming 7203 x 5654 pixels took 12 s (ASan build): stb_image
// reads past the end of the file as zeros and decoded all 40 M pixels one by one. Now refused from the file size.
TEST(FuzzRegression, TinyFileClaimingManyPixelsIsRefusedBeforeDecoding) {
  const Bytes input = regression_input("fuzz_image", "slow_tga_claims_7203x5654.bin");
  EXPECT_ERROR_CONTAINS(decode_like_fuzz_image(input, "slow.tga"), "slow.tga", "corrupt or truncated TGA", "7203x5654",
                        "pixels per byte");
  // A BMP header claiming 4000 x 4000 in 58 bytes (stb_image reads no compressed BMP).
  Bytes bmp = {'B', 'M', 58,   0,    0, 0, 0, 0, 0,  0, 54, 0, 0, 0, 40, 0, 0, 0, 0xa0, 0x0f,
               0,   0,   0xa0, 0x0f, 0, 0, 1, 0, 24, 0, 0,  0, 0, 0, 4,  0, 0, 0, 0,    0,
               0,   0,   0,    0,    0, 0, 0, 0, 0,  0, 0,  0, 0, 0, 1,  2, 3, 4};
  EXPECT_ERROR_CONTAINS(image::decode_image_bytes(bmp, "bomb.bmp"), "bomb.bmp", "corrupt or truncated BMP",
                        "4000x4000");
}

// Found by fuzz_checkpoint_meta and fuzz_run_folder: JSON numbers out of the int range (1e300, 3e9 for an int field)
// reached nlohmann's get<int>() / T(double) in run_position_from_json and train_config_from_json, a float-cast overflow
// (undefined behaviour). They now go through training/json_numbers.h, a range-checked error naming the key.
TEST(FuzzRegression, PositionWithOutOfRangeNumberIsAClearError) {
  const std::string meta = regression_text("fuzz_checkpoint_meta", "known_next_epoch_1e300.json");
  EXPECT_ERROR_CONTAINS(training::run_position_from_json(meta, "last.ckpt"), "last.ckpt", "next_epoch");
}

TEST(FuzzRegression, ConfigWithOutOfRangeIntegerIsAClearError) {
  const training::TrainConfig base = training::default_train_config("fashion-mosaic");
  for (const char* name : {"known_config_epochs_3e9.json", "known_config_epochs_1e300.json"}) {
    const std::string text = regression_text("fuzz_run_folder", name);
    EXPECT_ERROR_CONTAINS(training::train_config_from_json(text, "config.json", base), "config.json", "epochs");
  }
}

// ------------------------------------------------------------------------------------------------ npy
TEST(FuzzCaps, NpyShapeWithZeroAndHugeDimensionsIsRefused) {
  // No data, but 2**40 * 2**40 elements in any other order of the factors: would overflow the tensor code.
  EXPECT_ERROR_CONTAINS(
      io::parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }"),
                    "zero.npy"),
      "zero.npy", "too many elements");
}

TEST(FuzzCaps, NpyZeroWidthStringsWithElementsAreRefused) {
  // '<U0' takes no bytes, so the file size bounds nothing: 2**62 elements in 64 bytes.
  EXPECT_ERROR_CONTAINS(
      io::parse_npy(npy_file("{'descr': '<U0', 'fortran_order': False, 'shape': (4611686018427387904,), }"), "u0.npy"),
      "u0.npy", "zero-width strings");
  // An empty '<U0' array is harmless and still reads.
  const io::NpyArray empty =
      io::parse_npy(npy_file("{'descr': '<U0', 'fortran_order': False, 'shape': (0,), }"), "u0_empty.npy");
  EXPECT_EQ(empty.numel(), 0);
}

TEST(FuzzCaps, NpyHeaderClaimingMoreDataThanTheFileIsRefused) {
  EXPECT_ERROR_CONTAINS(
      io::parse_npy(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", Bytes(16)),
                    "claims.npy"),
      "claims.npy", "truncated data", "80000000000 bytes");
}

// ------------------------------------------------------------------------------------------------ safetensors
TEST(FuzzCaps, SafetensorsHeaderLengthBeyondTheFileIsRefused) {
  Bytes b = safetensors_file("{}");
  b[5] = 1;  // header length 2^40 + 2
  EXPECT_ERROR_CONTAINS(io::parse_safetensors(b, "long.safetensors"), "long.safetensors", "header length",
                        "larger than the file");
}

TEST(FuzzCaps, SafetensorsDeeplyNestedHeaderIsRefused) {
  const std::string nested = std::string(200, '[') + std::string(200, ']');
  EXPECT_ERROR_CONTAINS(io::parse_safetensors(safetensors_file("{\"a\":" + nested + "}"), "deep.safetensors"),
                        "deep.safetensors", "nested deeper than 64");
}

TEST(FuzzCaps, SafetensorsShapeWithZeroAndHugeDimensionsIsRefused) {
  const std::string header = R"({"t":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})";
  EXPECT_ERROR_CONTAINS(io::parse_safetensors(safetensors_file(header), "zero.safetensors"), "zero.safetensors",
                        "too many elements");
}

TEST(FuzzCaps, SafetensorsFromBytesMatchesTheFileReader) {
  const std::string header = R"({"__metadata__":{"k":"v"},"t":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})";
  const io::SafetensorsFile file = io::parse_safetensors(safetensors_file(header, {7, 8, 9}), "ok.safetensors");
  ASSERT_EQ(file.tensors.count("t"), 1u);
  EXPECT_EQ(file.tensors.at("t").numel(), 3);
  EXPECT_EQ(static_cast<const uint8_t*>(file.tensors.at("t").data_ptr())[2], 9);
  EXPECT_EQ(file.metadata.at("k"), "v");
}

TEST(FuzzCaps, CheckpointWrapperErrorsNameTheInput) {
  const std::string no_format = R"({"__metadata__":{"meta":"{}"}})";
  EXPECT_ERROR_CONTAINS(io::checkpoint_contents(io::parse_safetensors(safetensors_file(no_format), "a.ckpt"), "a.ckpt"),
                        "a.ckpt", "not an spml checkpoint");
  const std::string stray = R"({"__metadata__":{"format":"spml-checkpoint-1","meta":"{}"},)"
                            R"("x.w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_ERROR_CONTAINS(
      io::checkpoint_contents(io::parse_safetensors(safetensors_file(stray, {1}), "b.ckpt"), "b.ckpt"), "b.ckpt",
      "'x.w' is neither under 'model.' nor under 'optim.'");
}

// ------------------------------------------------------------------------------------------------ idx
TEST(FuzzCaps, IdxImagesClaimingMoreThanTheCapAreRefused) {
  Bytes b;
  put_u32_be(b, 2051);
  put_u32_be(b, 0xffffffffu);  // 4 G images
  put_u32_be(b, 65536);
  put_u32_be(b, 65536);
  EXPECT_ERROR_CONTAINS(data::parse_idx_images(b.data(), b.size(), "huge-images.idx"), "huge-images.idx",
                        "more than the limit");
}

TEST(FuzzCaps, IdxLabelsClaimingMoreThanTheFileHoldsAreTruncatedNotAllocated) {
  Bytes b;
  put_u32_be(b, 2049);
  put_u32_be(b, 0xffffffffu);  // 4 GB of labels promised, 3 present
  b.insert(b.end(), {1, 2, 3});
  EXPECT_ERROR_CONTAINS(data::parse_idx_labels(b.data(), b.size(), "short-labels.idx"), "truncated", "short-labels.idx",
                        "4294967295 bytes", "only 3 present");
}

TEST(FuzzCaps, IdxFromBytesReadsPlainData) {
  Bytes b;
  put_u32_be(b, 2051);
  put_u32_be(b, 2);
  put_u32_be(b, 1);
  put_u32_be(b, 3);
  b.insert(b.end(), {1, 2, 3, 4, 5, 6});
  const data::IdxImages images = data::parse_idx_images(b.data(), b.size(), "plain.idx");
  EXPECT_EQ(images.count, 2);
  EXPECT_EQ(images.image(1)[2], 6);
  EXPECT_ERROR_CONTAINS(data::parse_idx_labels(b.data(), b.size(), "plain.idx"), "bad IDX magic", "plain.idx");
}

// ------------------------------------------------------------------------------------------------ images
TEST(FuzzCaps, ImageHeadersClaimingHugeSizesAreRefused) {
  // A PNG signature and an IHDR chunk claiming 9000 x 9000 (stb_image reads the size before any data).
  Bytes png = {0x89, 'P',  'N',  'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
               0,    0x23, 0x28, 0,   0,    0x23, 0x28, 8,    2, 0, 0, 0,  0,   0,   0,   0,   0};
  EXPECT_ERROR_CONTAINS(image::decode_image_bytes(png, "huge.png"), "huge.png", "too large");
  // A GIF whose logical screen is 65535 x 65535: stb_image would keep 9 bytes per pixel of it.
  const Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, ';'};
  EXPECT_ERROR_CONTAINS(image::decode_image_bytes(gif, "huge.gif"), "huge.gif", "too large");
}

// ------------------------------------------------------------------------------------------------ text formats
TEST(FuzzCaps, CocoCategoryCountIsCapped) {
  std::string json = R"({"categories":[)";
  for (int64_t c = 0; c <= data::kMaxCocoCategories; ++c)
    json += (c ? "," : "") + std::string(R"({"id":)") + std::to_string(c) + R"(,"name":"c"})";
  json += "]}";
  EXPECT_ERROR_CONTAINS(data::parse_coco_instances(json, "many.json"), "many.json", "categories, more than the limit");
}

TEST(FuzzCaps, ParsersFromTextNameTheirInput) {
  EXPECT_ERROR_CONTAINS(data::parse_voc_class_list("2008_000008 2\n", "cat_train.txt"), "cat_train.txt:1",
                        "expected \"<image id> <1|0|-1>\"");
  EXPECT_ERROR_CONTAINS(data::parse_cub_images("1 a.jpg\n1 b.jpg\n", "images.txt"), "images.txt:2", "appears twice");
  EXPECT_ERROR_CONTAINS(data::parse_coco_instances("{\"images\": [", "cut.json"), "cut.json", "invalid JSON");
}

TEST(FuzzCaps, OrderFileWithANonStringFormatIsAClearError) {
  // Used to escape as nlohmann's type_error from j.value("format", "").
  EXPECT_ERROR_CONTAINS(data::parse_sample_schedule(R"({"format": 3, "size": 0, "epochs": [{}]})", "order.json"),
                        "order file order.json", "expected a JSON object with \"format\"");
}

}  // namespace
