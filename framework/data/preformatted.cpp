// SPML splits, observed labels and the pre-formatted .npy layout (see preformatted.h).
#include "framework/data/preformatted.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/data/random_state.h"
#include "framework/io/file.h"
#include "framework/io/npy.h"
#include "framework/io/npy_tensor.h"
#include "kernels/common/error.h"

namespace spml::data {
namespace fs = std::filesystem;

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float half_to_float(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float value;
  if (exponent == 0)
    value = std::ldexp(float(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? NAN : INFINITY;
  else
    value = std::ldexp(float(mantissa + 1024), exponent - 25);
  return (h & 0x8000) ? -value : value;
}

// Element i of a numeric .npy array as double (every numeric NumPy dtype the reader knows).
double npy_value(const io::NpyArray& a, int64_t i) {
  const uint8_t* p = a.data.data() + std::size_t(i) * a.item_size();
  auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return double(v);
  };
  switch (a.type) {
    case io::NpyType::Float16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return half_to_float(h);
    }
    case io::NpyType::Float32:
      return get(float());
    case io::NpyType::Float64:
      return get(double());
    case io::NpyType::Int8:
      return get(int8_t());
    case io::NpyType::Int16:
      return get(int16_t());
    case io::NpyType::Int32:
      return get(int32_t());
    case io::NpyType::Int64:
      return get(int64_t());
    case io::NpyType::UInt8:
      return get(uint8_t());
    case io::NpyType::UInt16:
      return get(uint16_t());
    case io::NpyType::UInt32:
      return get(uint32_t());
    case io::NpyType::UInt64:
      return get(uint64_t());
    case io::NpyType::Bool:
      return get(uint8_t());
    case io::NpyType::Unicode:
      break;
  }
  SPML_FAIL("unsupported .npy element type ", io::npy_type_name(a.type));
}

// [N, C] label matrix of any numeric dtype -> float32 tensor; every value must be 0 or 1.
Tensor labels_from_npy(const io::NpyArray& a, const std::string& path) {
  SPML_CHECK(a.type != io::NpyType::Unicode, path, ": holds strings; expected a numeric [N, C] label matrix");
  SPML_CHECK(a.shape.size() == 2, path, ": expected a 2-D [N, C] label matrix, got shape ", shape_text(a.shape));
  const int64_t rows = a.shape[0], cols = a.shape[1];
  Tensor t = Tensor::empty({rows, cols}, DType::Float32);
  float* out = t.data<float>();
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double v = npy_value(a, i);
    SPML_CHECK(v == 0.0 || v == 1.0, path, ": value ", v, " at row ", i / cols, ", column ", i % cols,
               " (labels must be 0 or 1)");
    out[i] = float(v);
  }
  return t;
}

// Any-dtype CPU/CUDA [N, C] tensor -> float32 CPU tensor with values checked to be 0/1.
Tensor checked_labels(const Tensor& labels, const std::string& what) {
  SPML_CHECK(labels.defined(), what, ": labels tensor is undefined");
  SPML_CHECK(labels.dim() == 2, what, ": labels must be [N, C], got ", labels.description());
  Tensor t = labels.to(Device::cpu()).to(DType::Float32);
  if (t.data_ptr() == labels.data_ptr()) t = t.clone();  // never alias the caller's tensor
  const float* v = t.data<float>();
  const int64_t cols = t.shape()[1];
  for (int64_t i = 0; i < t.numel(); ++i)
    SPML_CHECK(v[i] == 0.0f || v[i] == 1.0f, what, ": value ", v[i], " at row ", i / cols, ", column ", i % cols,
               " (labels must be 0 or 1)");
  return t;
}

Tensor select_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  const int64_t cols = t.shape()[1];
  Tensor out = Tensor::empty({int64_t(rows.size()), cols}, DType::Float32);
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  for (std::size_t r = 0; r < rows.size(); ++r)
    std::memcpy(dst + int64_t(r) * cols, src + rows[r] * cols, std::size_t(cols) * sizeof(float));
  return out;
}

struct FormattedPart {
  std::vector<std::string> paths;
  Tensor labels, observed;
};

FormattedPart read_part(const fs::path& dir, const std::string& part) {
  const std::string images_path = (dir / ("formatted_" + part + "_images.npy")).string();
  const std::string labels_path = (dir / ("formatted_" + part + "_labels.npy")).string();
  const std::string obs_path = (dir / ("formatted_" + part + "_labels_obs.npy")).string();
  FormattedPart out;
  const io::NpyArray images = io::read_npy(images_path);
  SPML_CHECK(images.type == io::NpyType::Unicode && images.shape.size() == 1, images_path,
             ": expected a 1-D unicode array of image paths, got ", io::npy_type_name(images.type),
             shape_text(images.shape));
  out.paths = io::npy_strings(images);
  const io::NpyArray labels = io::read_npy(labels_path), observed = io::read_npy(obs_path);
  for (const auto* file : {&labels_path, &obs_path}) {
    const io::NpyArray& a = file == &labels_path ? labels : observed;
    SPML_CHECK(a.shape.size() == 2 && a.shape[0] == images.shape[0], *file, " has shape ", shape_text(a.shape), " but ",
               images_path, " has shape ", shape_text(images.shape), ": expected one label row per image, [",
               images.shape[0], ", C]");
  }
  SPML_CHECK(observed.shape == labels.shape, obs_path, " has shape ", shape_text(observed.shape), " but ", labels_path,
             " has shape ", shape_text(labels.shape));
  out.labels = labels_from_npy(labels, labels_path);
  out.observed = labels_from_npy(observed, obs_path);
  const int64_t cols = labels.shape[1];
  const float* o = out.observed.data<float>();
  for (int64_t r = 0; r < labels.shape[0]; ++r) {
    const int64_t positives = int64_t(std::count(o + r * cols, o + (r + 1) * cols, 1.0f));
    SPML_CHECK(positives <= 1, obs_path, ": row ", r, " has ", positives,
               " observed positives (single-positive labels allow at most one per row)");
  }
  return out;
}

MultiLabelSplit make_split(const FormattedPart& part, const std::vector<int64_t>& rows) {
  MultiLabelSplit s;
  s.source_rows = rows;
  s.image_paths.reserve(rows.size());
  for (int64_t r : rows) s.image_paths.push_back(part.paths[std::size_t(r)]);
  s.labels = select_rows(part.labels, rows);
  s.observed = select_rows(part.observed, rows);
  return s;
}

}  // namespace

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_train_val(int64_t n, uint64_t seed) {
  SPML_CHECK(n >= 0, "split_train_val: n = ", n, " is negative");
  const std::vector<int64_t> perm = RandomState(seed).permutation(n);
  // int(np.round(0.2 * n)): NumPy rounds half to even, as nearbyint does in the default rounding mode.
  const int64_t n_val = int64_t(std::nearbyint(0.2 * double(n)));
  std::vector<int64_t> train(perm.begin(), perm.begin() + (n - n_val)), val(perm.begin() + (n - n_val), perm.end());
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {train, val};
}

Tensor observe_single_positive(const Tensor& labels, uint64_t seed) {
  const Tensor y = checked_labels(labels, "observe_single_positive");
  const int64_t rows = y.shape()[0], cols = y.shape()[1];
  Tensor obs = Tensor::zeros({rows, cols}, DType::Float32);
  const float* v = y.data<float>();
  float* o = obs.data<float>();
  RandomState rng(seed);
  std::vector<int64_t> idx;
  for (int64_t r = 0; r < rows; ++r) {
    idx.clear();
    for (int64_t c = 0; c < cols; ++c)
      if (v[r * cols + c] == 1.0f) idx.push_back(c);
    rng.shuffle(idx);
    if (!idx.empty()) o[r * cols + idx[0]] = 1.0f;
    // The public code also shuffles the negatives (keeping none); its draws shift every later row.
    idx.clear();
    for (int64_t c = 0; c < cols; ++c)
      if (v[r * cols + c] != 1.0f) idx.push_back(c);
    rng.shuffle(idx);
  }
  return obs;
}

MultiLabelDataset load_preformatted(const std::string& dir, const std::string& image_root, const std::string& name) {
  const fs::path folder(dir);
  SPML_CHECK(fs::is_directory(folder), "load_preformatted: folder ", dir, " does not exist");
  const FormattedPart train = read_part(folder, "train"), test = read_part(folder, "val");
  const int64_t classes = train.labels.shape()[1];
  SPML_CHECK(test.labels.shape()[1] == classes, "load_preformatted: ", (folder / "formatted_train_labels.npy").string(),
             " has ", classes, " classes but ", (folder / "formatted_val_labels.npy").string(), " has ",
             test.labels.shape()[1]);

  MultiLabelDataset ds;
  ds.labels_columns = classes;
  ds.name = folder.filename().empty() ? folder.parent_path().filename().string() : folder.filename().string();
  ds.image_root = dir;
  const fs::path json_path = folder / "dataset.json";
  if (fs::exists(json_path)) {
    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(io::read_text_file(json_path.string()));
    } catch (const nlohmann::json::exception& e) {
      SPML_FAIL(json_path.string(), ": invalid JSON: ", e.what());
    }
    SPML_CHECK(meta.is_object(), json_path.string(), ": expected a JSON object");
    auto text = [&](const char* key) -> std::string {
      if (!meta.contains(key)) return "";
      SPML_CHECK(meta[key].is_string(), json_path.string(), ": \"", key, "\" must be a string");
      return meta[key].get<std::string>();
    };
    if (!text("name").empty()) ds.name = text("name");
    const std::string root = text("image_root");
    if (!root.empty()) ds.image_root = fs::path(root).is_absolute() ? root : (folder / root).string();
    if (meta.contains("class_names")) {
      const auto& names = meta["class_names"];
      SPML_CHECK(names.is_array() && int64_t(names.size()) == classes, json_path.string(),
                 ": \"class_names\" must be an array of ", classes, " strings (the label files have ", classes,
                 " columns)");
      for (const auto& n : names) {
        SPML_CHECK(n.is_string(), json_path.string(), ": \"class_names\" holds a non-string entry ", n.dump());
        ds.class_names.push_back(n.get<std::string>());
      }
    }
  }
  if (ds.class_names.empty())
    for (int64_t c = 0; c < classes; ++c) ds.class_names.push_back("class_" + std::to_string(c));
  if (!image_root.empty()) ds.image_root = image_root;
  if (!name.empty()) ds.name = name;

  const auto [train_rows, val_rows] = split_train_val(int64_t(train.paths.size()));
  ds.train = make_split(train, train_rows);
  ds.val = make_split(train, val_rows);
  std::vector<int64_t> all(test.paths.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
  ds.test = make_split(test, all);
  return ds;
}

void write_preformatted(const std::string& dir, const std::vector<std::string>& train_paths, const Tensor& train_labels,
                        const std::vector<std::string>& val_paths, const Tensor& val_labels,
                        const std::vector<std::string>& class_names, const std::string& name,
                        const std::string& image_root) {
  const Tensor train = checked_labels(train_labels, "write_preformatted: train labels");
  const Tensor val = checked_labels(val_labels, "write_preformatted: val labels");
  SPML_CHECK(train.shape()[0] == int64_t(train_paths.size()), "write_preformatted: ", train_paths.size(),
             " train image paths but train labels ", train.description());
  SPML_CHECK(val.shape()[0] == int64_t(val_paths.size()), "write_preformatted: ", val_paths.size(),
             " val image paths but val labels ", val.description());
  const int64_t classes = train.shape()[1];
  SPML_CHECK(val.shape()[1] == classes, "write_preformatted: train labels ", train.description(), " and val labels ",
             val.description(), " disagree in the number of classes");
  SPML_CHECK(class_names.empty() || int64_t(class_names.size()) == classes, "write_preformatted: ", class_names.size(),
             " class names for ", classes, " label columns");

  std::error_code ec;
  fs::create_directories(dir, ec);
  SPML_CHECK(!ec, "write_preformatted: cannot create folder ", dir, ": ", ec.message());
  const fs::path folder(dir);
  auto write_part = [&](const std::string& part, const std::vector<std::string>& paths, const Tensor& labels) {
    const std::string prefix = (folder / ("formatted_" + part + "_")).string();
    io::write_npy(prefix + "images.npy", io::make_npy_strings(paths, {int64_t(paths.size())}));
    io::write_npy_tensor(prefix + "labels.npy", labels);
    io::write_npy_tensor(prefix + "labels_obs.npy", observe_single_positive(labels));
  };
  write_part("train", train_paths, train);
  write_part("val", val_paths, val);

  nlohmann::json meta = {{"name", name}, {"image_root", image_root}};
  meta["class_names"] = nlohmann::json::array();
  for (int64_t c = 0; c < classes; ++c)
    meta["class_names"].push_back(class_names.empty() ? "class_" + std::to_string(c) : class_names[std::size_t(c)]);
  io::write_file_atomic((folder / "dataset.json").string(), meta.dump(2) + "\n");
}

bool preformatted_exists(const std::string& dir) {
  std::error_code ec;
  for (const char* part : {"train", "val"})
    for (const char* kind : {"images", "labels", "labels_obs"})
      if (!fs::is_regular_file(fs::path(dir) / (std::string("formatted_") + part + "_" + kind + ".npy"), ec))
        return false;
  return fs::is_regular_file(fs::path(dir) / "dataset.json", ec);
}

}  // namespace spml::data
