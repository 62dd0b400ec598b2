// spml_fuzz_make_corpus: writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) with the
// project's own writers (serialize_npy, write_safetensors, save_checkpoint, the run folder's writers,
// write_sample_schedule, encode_png / encode_jpeg), hand-made variants of them (big-endian, Fortran order, format
// version 2, gzip members) and copies of the small NumPy- and PIL-written fixtures under tests/data. Deterministic:
// running it again gives the same files.
//   spml_fuzz_make_corpus <repo root> <output folder>    (scripts/fuzz.sh --make-corpus passes tests/fuzz/corpus)
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "framework/data/sample_schedule.h"
#include "framework/image/image.h"
#include "framework/image/image_write.h"
#include "framework/io/checkpoint.h"
#include "framework/io/file.h"
#include "framework/io/npy.h"
#include "framework/io/safetensors.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "framework/optim/optimizer.h"
#include "training/run_folder.h"
#include "training/train_config.h"

namespace fs = std::filesystem;
using namespace spml;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path g_out;
std::size_t g_files = 0, g_bytes = 0;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  io::write_file_atomic((dir / name).string(), bytes.data(), bytes.size());
  ++g_files;
  g_bytes += bytes.size();
}
void put(const std::string& target, const std::string& name, const std::string& text) {
  put(target, name, Bytes(text.begin(), text.end()));
}
Bytes text_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}
Bytes join(const std::vector<Bytes>& parts, bool nul_separated) {
  Bytes out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0 && nul_separated) out.push_back(0);
    out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  return out;
}

// One gzip member of `data` (zlib's deflate with the gzip wrapper, like gzip -9).
Bytes gzip(const Bytes& data) {
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&s, uLong(data.size())) + 32);
  s.next_in = const_cast<Bytef*>(data.data());
  s.avail_in = uInt(data.size());
  s.next_out = out.data();
  s.avail_out = uInt(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

void put_u32(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(uint8_t(v >> shift));
}

Bytes file_bytes(const fs::path& p) {
  return io::read_file(p.string());
}

// Writes `tensors` with write_safetensors to a temporary file and returns its bytes.
Bytes safetensors_bytes(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& meta) {
  const fs::path tmp = fs::temp_directory_path() / "spml_fuzz_corpus.safetensors";
  io::write_safetensors(tmp.string(), tensors, meta);
  Bytes b = file_bytes(tmp);
  fs::remove(tmp);
  return b;
}

// ------------------------------------------------------------------------------------------------ npy
// Rewrites the dict literal of a version-1 file made by serialize_npy (same length, so the padding still fits).
Bytes npy_replace(Bytes b, const std::string& from, const std::string& to) {
  std::string s(b.begin(), b.end());
  const std::size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return Bytes(s.begin(), s.end());
}

// Version 2.0 (u32 header length) of a version-1 file.
Bytes npy_v2(const Bytes& v1) {
  const std::size_t len = std::size_t(v1[8]) | (std::size_t(v1[9]) << 8);
  Bytes out(v1.begin(), v1.begin() + 6);
  out.push_back(2);
  out.push_back(0);
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(len >> (8 * i)));
  out.insert(out.end(), v1.begin() + 10, v1.end());
  return out;
}

io::NpyArray npy_array(io::NpyType type, std::vector<int64_t> shape, std::size_t item) {
  io::NpyArray a;
  a.type = type;
  a.shape = std::move(shape);
  a.data.resize(std::size_t(a.numel()) * item);
  for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = uint8_t(i * 37 + 11);
  return a;
}

void npy_corpus(const fs::path& root) {
  const std::string t = "fuzz_npy";
  struct Case {
    const char* name;
    io::NpyType type;
    std::size_t item;
  };
  const Case cases[] = {
      {"f2", io::NpyType::Float16, 2}, {"f4", io::NpyType::Float32, 4},   {"f8", io::NpyType::Float64, 8},
      {"i1", io::NpyType::Int8, 1},    {"i2", io::NpyType::Int16, 2},     {"i4", io::NpyType::Int32, 4},
      {"i8", io::NpyType::Int64, 8},   {"u1", io::NpyType::UInt8, 1},     {"u2", io::NpyType::UInt16, 2},
      {"u4", io::NpyType::UInt32, 4},  {"u8", io::NpyType::UInt64, 1 * 8}};
  for (const Case& c : cases)
    put(t, std::string("writer_") + c.name + "_2x3.npy", io::serialize_npy(npy_array(c.type, {2, 3}, c.item)));
  io::NpyArray flags = npy_array(io::NpyType::Bool, {5}, 1);
  for (auto& v : flags.data) v &= 1;
  put(t, "writer_bool_5.npy", io::serialize_npy(flags));
  put(t, "writer_f4_scalar.npy", io::serialize_npy(npy_array(io::NpyType::Float32, {}, 4)));
  put(t, "writer_f4_0x3.npy", io::serialize_npy(npy_array(io::NpyType::Float32, {0, 3}, 4)));
  const Bytes f8 = io::serialize_npy(npy_array(io::NpyType::Float64, {2, 3, 2}, 8));
  put(t, "writer_f8_fortran_2x3x2.npy", npy_replace(f8, "'fortran_order': False", "'fortran_order': True "));
  put(t, "writer_f8_big_endian.npy", npy_replace(f8, "'<f8'", "'>f8'"));
  put(t, "writer_f8_v2.npy", npy_v2(f8));
  put(t, "writer_unicode_2x2.npy",
      io::serialize_npy(io::make_npy_strings({"cat", "", "tvmonitor", "\xc3\xa9t\xc3\xa9"}, {2, 2})));
  // The fixtures NumPy wrote (tests/data/npy, scripts/make_npy_fixtures.py).
  for (const auto& entry : fs::directory_iterator(root / "tests/data/npy"))
    if (entry.path().extension() == ".npy")
      put(t, "numpy_" + entry.path().filename().string(), file_bytes(entry.path()));
}

// ------------------------------------------------------------------------------------------------ safetensors
std::map<std::string, Tensor> sample_tensors() {
  std::map<std::string, Tensor> m;
  m["fc.weight"] = Tensor::ones({2, 3}, DType::Float32);
  m["fc.bias"] = Tensor::zeros({2}, DType::Float64);
  const uint16_t half[3] = {0x3c00, 0xc000, 0x7c00};           // 1, -2, inf
  const uint16_t bhalf[4] = {0x3f80, 0x4000, 0x0001, 0x7fc0};  // 1, 2, a subnormal, nan
  m["half"] = Tensor::from_host(half, {3}, DType::Float16);
  m["bhalf"] = Tensor::from_host(bhalf, {2, 2}, DType::BFloat16);
  m["steps"] = Tensor::ones({}, DType::Int64);
  m["ids"] = Tensor::ones({4}, DType::Int32);
  m["bytes"] = Tensor::ones({5}, DType::UInt8);
  m["mask"] = Tensor::ones({3}, DType::Bool);
  m["empty"] = Tensor::zeros({0, 4}, DType::Float32);
  return m;
}

void safetensors_corpus(const fs::path& root) {
  const std::string t = "fuzz_safetensors";
  put(t, "writer_all_dtypes.safetensors", safetensors_bytes(sample_tensors(), {{"format", "pt"}, {"classes", "a,b"}}));
  put(t, "writer_one.safetensors", safetensors_bytes({{"w", Tensor::ones({3, 1}, DType::Float32)}}, {}));
  put(t, "writer_nothing.safetensors", safetensors_bytes({}, {{"only", "metadata"}}));
  put(t, "torch_export.safetensors", file_bytes(root / "tests/data/safetensors/torch_export.safetensors"));
}

// ------------------------------------------------------------------------------------------------ checkpoints
void checkpoint_corpus() {
  const std::string t = "fuzz_checkpoint_meta";
  nn::Linear model(3, 2, /*bias=*/true, /*seed=*/1);
  optim::Adam adam({{model.parameters(), 1e-3, "all"}});
  Tensor x = Tensor::ones({4, 3});
  Tensor loss = mean(sigmoid(model(x)));
  loss.backward();
  adam.step();

  training::TrainConfig config = training::default_train_config("fashion-mosaic");
  config.data = "data/fashion-mosaic";
  config.out = "runs/fuzz";
  training::RunPosition position;
  position.next_epoch = 3;
  position.next_step = 5;
  position.loss_sum = 12.5;
  position.loss_images = 160;
  position.train_seconds = 4.25;
  for (int e = 1; e <= 2; ++e) {
    training::EpochRecord r;
    r.epoch = e;
    r.train_loss = 0.7 - 0.1 * e;
    r.val_map = 40 + 5 * e;
    r.seconds = 30.5;
    r.images_per_s = 80;
    r.phases.forward = 10;
    position.history.push_back(r);
  }
  position.best_val_map = 50;
  position.best_epoch = 2;
  const std::string meta = training::run_position_to_json(position, config);
  put(t, "meta_position.json", meta);
  training::RunPosition fresh;
  put(t, "meta_fresh.json", training::run_position_to_json(fresh, config));

  const fs::path tmp = fs::temp_directory_path() / "spml_fuzz_corpus.ckpt";
  io::save_checkpoint(tmp.string(), model, adam, meta);
  put(t, "checkpoint_linear_adam.ckpt", file_bytes(tmp));
  io::save_checkpoint(tmp.string(), model, adam, training::run_position_to_json(fresh, config));
  put(t, "checkpoint_fresh.ckpt", file_bytes(tmp));
  fs::remove(tmp);
}

// ------------------------------------------------------------------------------------------------ idx
void idx_corpus() {
  const std::string t = "fuzz_idx";
  Bytes images;
  put_u32(images, 2051);
  put_u32(images, 3);
  put_u32(images, 4);
  put_u32(images, 5);
  for (int i = 0; i < 3 * 4 * 5; ++i) images.push_back(uint8_t(i * 4));
  Bytes labels;
  put_u32(labels, 2049);
  put_u32(labels, 6);
  for (uint8_t v : {3, 1, 4, 1, 5, 9}) labels.push_back(v);
  put(t, "images_3x4x5.idx", images);
  put(t, "images_3x4x5.idx.gz", gzip(images));
  put(t, "labels_6.idx", labels);
  put(t, "labels_6.idx.gz", gzip(labels));
  // Two gzip members (gzip -c a b) and a member followed by bytes that are not one.
  const Bytes head(labels.begin(), labels.begin() + 10), tail(labels.begin() + 10, labels.end());
  put(t, "labels_two_members.idx.gz", join({gzip(head), gzip(tail)}, false));
  put(t, "labels_trailing.idx.gz", join({gzip(labels), text_bytes("trailing")}, false));
}

// ------------------------------------------------------------------------------------------------ coco / voc / cub
void coco_corpus() {
  using nlohmann::json;
  json images = json::array(), annotations = json::array(), categories = json::array();
  const char* names[] = {"person", "bicycle", "car", "motorcycle"};
  for (int c = 0; c < 4; ++c) categories.push_back({{"supercategory", "thing"}, {"id", 2 * c + 1}, {"name", names[c]}});
  for (int i = 0; i < 5; ++i)
    images.push_back({{"license", 1},
                      {"file_name", "COCO_train2014_00000000" + std::to_string(9 + 10 * i) + ".jpg"},
                      {"height", 480},
                      {"width", 640},
                      {"id", 9 + 10 * i}});
  for (int a = 0; a < 8; ++a)
    annotations.push_back({{"segmentation", json::array({json::array({1.5, 2.0, 30.25, 4.0, 12.0, 40.5})})},
                           {"area", 702.105},
                           {"iscrowd", a == 3 ? 1 : 0},
                           {"image_id", 9 + 10 * (a % 4)},
                           {"bbox", {1.5, 2.0, 28.75, 38.5}},
                           {"category_id", 2 * (a % 4) + 1},
                           {"id", 1000 + a}});
  const json doc = {{"info", {{"description", "fuzz seed"}, {"year", 2014}}},
                    {"licenses", json::array({{{"id", 1}, {"name", "cc"}}})},
                    {"images", images},
                    {"annotations", annotations},
                    {"categories", categories}};
  put("fuzz_coco_json", "instances_small.json", doc.dump());
  put("fuzz_coco_json", "instances_small_indented.json", doc.dump(1));
}

void voc_corpus() {
  std::string list, crlf;
  const char* ids[] = {"2008_000008", "2008_000015", "2008_000019", "2008_000023", "2008_000028", "2009_001234"};
  const char* values[] = {" 1", "-1", " 0", "-1", " 1", "-1"};
  for (int i = 0; i < 6; ++i) {
    list += std::string(ids[i]) + " " + values[i] + "\n";
    crlf += std::string(ids[i]) + "  " + values[i] + "\r\n";
  }
  put("fuzz_voc_list", "aeroplane_train.txt", list);
  put("fuzz_voc_list", "bicycle_val_crlf.txt", crlf + "\n");
}

void cub_corpus() {
  std::string images, split, labels;
  for (int i = 1; i <= 6; ++i) {
    images += std::to_string(i) + " 001.Black_footed_Albatross/Black_Footed_Albatross_000" + std::to_string(i) +
              "_796111.jpg\n";
    split += std::to_string(i) + " " + std::to_string(i % 2) + "\n";
    for (int a = 1; a <= 4; ++a)
      labels += std::to_string(i) + " " + std::to_string(a * 50) + " " + std::to_string((i + a) % 2) + " 3 27.08" +
                (a == 2 ? " 0 extra" : "") + "\n";
  }
  put("fuzz_cub_text", "images_split_labels.txt",
      join({text_bytes(images), text_bytes(split), text_bytes(labels)}, true));
  put("fuzz_cub_text", "images_only.txt", images);
  std::string attributes;
  for (int a = 1; a <= 312; ++a) attributes += std::to_string(a) + " has_part::shape_" + std::to_string(a) + "\n";
  put("fuzz_cub_text", "attributes.txt", attributes);
}

// ------------------------------------------------------------------------------------------------ images
image::Image pattern(int w, int h) {
  image::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(std::size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(std::size_t(y) * w + x) * 3];
      p[0] = uint8_t(x * 255 / std::max(w - 1, 1));
      p[1] = uint8_t(y * 255 / std::max(h - 1, 1));
      p[2] = uint8_t((x ^ y) * 16);
    }
  return img;
}

void image_corpus(const fs::path& root) {
  const std::string t = "fuzz_image";
  // Control byte: bit 0 picks stb_image for every format; the rest picks the resize target (fuzz_image.cpp).
  auto seed = [&](const std::string& name, const Bytes& file, uint8_t control) {
    Bytes b{control};
    b.insert(b.end(), file.begin(), file.end());
    put(t, name, b);
  };
  seed("writer_13x7.png", image::encode_png(pattern(13, 7)), 0x36);
  seed("writer_13x7_q80.jpg", image::encode_jpeg(pattern(13, 7), 80), 0x36);
  seed("writer_13x7_q80.stb.jpg", image::encode_jpeg(pattern(13, 7), 80), 0x37);
  seed("writer_40x24_q95.jpg", image::encode_jpeg(pattern(40, 24), 95), 0x74);
  // Small PIL-written files and hand-made oddities from tests/data/images (a few KB at most).
  for (const char* name :
       {"rgb_12x10.bmp", "grey16_15x9.png", "grey_19x13.png", "rgba_23x11.png", "grey_33x21.jpg", "odd_37x29_422.jpg",
        "odd_37x29_progressive.jpg", "cmyk_16x16.jpg", "cut_scan.jpg", "truncated.jpg", "extraneous_bytes.jpg",
        "exif_rot6_40x20.jpg", "odd_sampling_37x29.jpg", "not_an_image.png"}) {
    const fs::path p = root / "tests/data/images" / name;
    if (fs::exists(p)) seed(std::string("fixture_") + name, file_bytes(p), 0x22);
  }
  // Formats stb_image reads that nothing else here writes: binary PPM, uncompressed TGA and a GIF.
  std::string ppm = "P6\n4 3\n255\n";
  for (int i = 0; i < 4 * 3 * 3; ++i) ppm += char(i * 7);
  seed("hand_4x3.ppm", text_bytes(ppm), 0x11);
  Bytes tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2, 0, 24, 0};
  for (int i = 0; i < 3 * 2 * 3; ++i) tga.push_back(uint8_t(i * 13));
  seed("hand_3x2.tga", tga, 0x11);
  // GIF89a 2x2, 2-colour palette, LZW minimum code size 2 (the smallest valid GIF).
  const Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x80, 0, 0, 0,    0,    0, 255, 255,
                     255, ',', 0,   0,   0,   0,   2, 0, 2, 0, 0,    2, 2, 0x44, 0x01, 0, ';'};
  seed("hand_2x2.gif", gif, 0x13);
  // Real GIFs from Debian's documentation packages, when installed (cscope).
  for (const char* path : {"/usr/share/doc/cscope/contrib/webcscope/icons/bomb.gif",
                           "/usr/share/doc/cscope/contrib/webcscope/icons/folder.gif"})
    if (fs::exists(path)) seed(std::string("debian_") + fs::path(path).filename().string(), file_bytes(path), 0x45);
}

// ------------------------------------------------------------------------------------------------ run folder
void run_folder_corpus() {
  const fs::path dir = fs::temp_directory_path() / "spml_fuzz_corpus_run";
  fs::remove_all(dir);
  training::TrainConfig config = training::default_train_config("fashion-mosaic");
  config.data = "data/fashion-mosaic";
  config.out = dir.string();
  training::RunFolder folder(dir.string(), /*resume=*/false);
  training::RunPosition position;
  folder.write_start(config, {"cpu", "", "spml-train --out runs/fuzz"}, position);
  std::vector<training::EpochRecord> history;
  for (int e = 1; e <= 3; ++e) {
    training::EpochRecord r;
    r.epoch = e;
    r.train_loss = 0.9 / e;
    r.val_map = 50 + e;
    r.seconds = 20 + e;
    r.images_per_s = 100;
    r.phases.data = 1.5;
    history.push_back(r);
  }
  folder.write_epoch_files(history, "fuzz");
  const nlohmann::json test = {
      {"test_mAP", 61.25}, {"per_class_AP", {60.5, 62.0}}, {"best_epoch", 3},     {"best_val_mAP", 53.0},
      {"epochs_run", 3},   {"stopped_early", false},       {"seconds_total", 66}, {"implementation", "spml"}};
  const Bytes cfg = file_bytes(dir / "config.json"), metrics = file_bytes(dir / "metrics.jsonl");
  const Bytes run = file_bytes(dir / "run.json"), test_text = text_bytes(test.dump(2));
  const std::string t = "fuzz_run_folder";
  put(t, "finished_run.txt", join({cfg, metrics, test_text, run}, true));
  put(t, "running_run.txt", join({cfg, metrics}, true));
  put(t, "config_only.json", cfg);
  put(t, "metrics_with_null.txt",
      join({text_bytes(R"({"dataset":"voc","arch":"resnet50","loss":"gr","epochs":10,"seed":1})"),
            text_bytes("{\"epoch\":1,\"train_loss\":null,\"val_mAP\":1.5,\"seconds\":2,\"images_per_s\":3}\n\n")},
           true));
  fs::remove_all(dir);
}

// ------------------------------------------------------------------------------------------------ order files
void sample_schedule_corpus() {
  const fs::path tmp = fs::temp_directory_path() / "spml_fuzz_corpus_order.json";
  data::write_sample_schedule(tmp.string(), data::seeded_sample_schedule(6, 2, 3, 4, true, true));
  put("fuzz_sample_schedule", "seeded_6x2.json", file_bytes(tmp));
  data::write_sample_schedule(tmp.string(), data::seeded_sample_schedule(3, 1, 0, 0, false, false));
  put("fuzz_sample_schedule", "plain_3x1.json", file_bytes(tmp));
  fs::remove(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <repo root> <output folder>\n", argv[0]);
    return 2;
  }
  try {
    const fs::path root = argv[1];
    g_out = argv[2];
    npy_corpus(root);
    safetensors_corpus(root);
    checkpoint_corpus();
    idx_corpus();
    coco_corpus();
    voc_corpus();
    cub_corpus();
    image_corpus(root);
    run_folder_corpus();
    sample_schedule_corpus();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml_fuzz_make_corpus: error: %s\n", e.what());
    return 1;
  }
  std::printf("spml_fuzz_make_corpus: %zu files, %zu bytes under %s\n", g_files, g_bytes, g_out.string().c_str());
  return 0;
}
