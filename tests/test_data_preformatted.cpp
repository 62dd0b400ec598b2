// Tests of NumPy's legacy RandomState (framework/data/random_state.h), the SPML split and observed labels, the
// pre-formatted layout (framework/data/preformatted.h) and the VOC/COCO/CUB builders
// (framework/data/builders/public_datasets.h). Expected values come from NumPy 1.24
// (scripts/make_random_state_golden.py), pasted here as constants.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "framework/data/builders/public_datasets.h"
#include "framework/data/preformatted.h"
#include "framework/data/random_state.h"
#include "framework/io/file.h"
#include "framework/io/npy.h"
#include "framework/io/npy_tensor.h"
#include "test_util.h"

namespace {

using spml::DType;
using spml::Tensor;
using spml::data::RandomState;
namespace fs = std::filesystem;
namespace io = spml::io;

std::vector<uint64_t> raw(RandomState& rs, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rs.next_uint32());
  return out;
}

// ------------------------------------------------------------------------------------------ RandomState
TEST(RandomState, RawOutputsMatchNumPy) {
  // RandomState(seed).randint(0, 2**32, dtype=np.uint64): one raw 32-bit output each.
  RandomState a(1200), b(0), c(4294967295ULL);
  EXPECT_EQ(raw(a, 8), (std::vector<uint64_t>{2413572691, 1534083769, 4133338855, 2016223744, 2893357746, 2952048149,
                                              3674583885, 2588550952}));
  EXPECT_EQ(raw(b, 4), (std::vector<uint64_t>{2357136044, 2546248239, 3071714933, 3626093760}));
  EXPECT_EQ(raw(c, 4), (std::vector<uint64_t>{419326371, 479346978, 3918654476, 2416749639}));
  // Past the first 624-word twist.
  RandomState d(1200);
  for (int i = 0; i < 700; ++i) d.next_uint32();
  RandomState e(1200);
  e.seed(1200);
  for (int i = 0; i < 700; ++i) e.next_uint32();
  EXPECT_EQ(d.next_uint32(), e.next_uint32());
  EXPECT_ERROR_CONTAINS(RandomState(4294967296ULL), "4294967296", "2**32 - 1");
}

TEST(RandomState, RandomSampleMatchesNumPy) {
  RandomState rs(1200);
  EXPECT_DOUBLE_EQ(rs.random_sample(), 0.561953681388361);
  EXPECT_DOUBLE_EQ(rs.random_sample(), 0.9623679479169747);
  EXPECT_DOUBLE_EQ(rs.random_sample(), 0.673662347252125);
}

TEST(RandomState, RandomIntervalMatchesNumPy) {
  // Legacy randint(0, max + 1, dtype=np.uint64) uses the same masked rejection sampling as random_interval.
  const std::vector<std::pair<uint64_t, std::vector<uint64_t>>> cases = {
      {1, {1, 1, 1, 0, 0, 1}},
      {2, {1, 0, 2, 1, 1, 0}},
      {5, {3, 1, 0, 2, 5, 5}},
      {255, {83, 185, 231, 0, 178, 21}},
      {256, {83, 185, 231, 0, 178, 21}},
      {1000, {595, 697, 743, 512, 690, 533}},
      {4294967295ULL, {2413572691, 1534083769, 4133338855, 2016223744, 2893357746, 2952048149}},
      {(1ULL << 40) + 12345, {358016369337, 994153669120, 767456226837, 268285666837, 633675038166, 131330018421}}};
  for (const auto& [max, expected] : cases) {
    RandomState rs(1200);
    std::vector<uint64_t> got;
    for (std::size_t i = 0; i < expected.size(); ++i) got.push_back(rs.random_interval(max));
    EXPECT_EQ(got, expected) << "max " << max;
  }
  RandomState rs(1200);
  EXPECT_EQ(rs.random_interval(0), 0u);  // draws nothing
  EXPECT_EQ(rs.next_uint32(), 2413572691u);
}

TEST(RandomState, ShuffleMatchesNumPy) {
  // x = arange(n) * 10 + 7; RandomState(1200).shuffle(x); then the next raw output.
  const std::vector<std::tuple<int, std::vector<int64_t>, uint32_t>> cases = {
      {0, {}, 2413572691u},
      {1, {7}, 2413572691u},
      {2, {7, 17}, 1534083769u},
      {3, {7, 27, 17}, 2016223744u},
      {20, {147, 177, 187, 97, 47, 117, 157, 167, 127, 27, 67, 37, 57, 107, 17, 87, 137, 7, 77, 197}, 3994754308u}};
  for (const auto& [n, expected, next] : cases) {
    std::vector<int64_t> x(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) x[std::size_t(i)] = int64_t(i) * 10 + 7;
    RandomState rs(1200);
    rs.shuffle(x);
    EXPECT_EQ(x, expected) << "n " << n;
    EXPECT_EQ(rs.next_uint32(), next) << "n " << n;
  }
}

TEST(RandomState, PermutationMatchesNumPy) {
  EXPECT_EQ(RandomState(1200).permutation(10), (std::vector<int64_t>{9, 4, 6, 1, 8, 5, 2, 0, 7, 3}));
  const std::vector<int64_t> p = RandomState(1200).permutation(5717);
  ASSERT_EQ(p.size(), 5717u);
  EXPECT_EQ(std::vector<int64_t>(p.begin(), p.begin() + 10),
            (std::vector<int64_t>{3317, 2296, 1061, 2861, 3019, 546, 4816, 3834, 502, 4399}));
  EXPECT_EQ(std::vector<int64_t>(p.end() - 10, p.end()),
            (std::vector<int64_t>{1557, 3646, 2266, 1832, 4941, 3605, 690, 512, 697, 4691}));
  int64_t checksum = 0;  // sum(i * p[i])
  for (std::size_t i = 0; i < p.size(); ++i) checksum += int64_t(i) * p[i];
  EXPECT_EQ(checksum, 46735678905);
  EXPECT_TRUE(RandomState(1200).permutation(0).empty());
}

// ------------------------------------------------------------------------------------------ split and observed
TEST(PreformattedSplit, MatchesNumPy) {
  auto [train10, val10] = spml::data::split_train_val(10);
  EXPECT_EQ(val10, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(train10, (std::vector<int64_t>{0, 1, 2, 4, 5, 6, 8, 9}));

  auto [train, val] = spml::data::split_train_val(5717);  // VOC 2012's official train rows
  ASSERT_EQ(train.size(), 4574u);
  ASSERT_EQ(val.size(), 1143u);
  EXPECT_EQ(std::vector<int64_t>(val.begin(), val.begin() + 10),
            (std::vector<int64_t>{5, 6, 11, 15, 22, 23, 29, 34, 53, 66}));
  EXPECT_EQ(std::accumulate(train.begin(), train.end(), int64_t(0)), 13097125);
  EXPECT_EQ(std::accumulate(val.begin(), val.end(), int64_t(0)), 3242061);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));

  // round(0.2 N): 0.2 * 7 = 1.4 -> 1, 0.2 * 8 = 1.6 -> 2; N = 2 -> 0 val rows.
  EXPECT_EQ(spml::data::split_train_val(7).second.size(), 1u);
  EXPECT_EQ(spml::data::split_train_val(8).second.size(), 2u);
  EXPECT_EQ(spml::data::split_train_val(2).second.size(), 0u);
  EXPECT_EQ(spml::data::split_train_val(0).first.size(), 0u);
}

TEST(PreformattedObserved, SmallMatrixMatchesNumPy) {
  const std::vector<float> labels = {1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                     0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1};
  const std::vector<float> expected = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                       1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  const Tensor obs = spml::data::observe_single_positive(Tensor::from_vector(labels, {12, 6}));
  EXPECT_EQ(obs.dtype(), DType::Float32);
  EXPECT_EQ(obs.to_vector<float>(), expected);
}

TEST(PreformattedObserved, LargerMatrixMatchesNumPy) {
  // labels = RandomState(11).random_sample((40, 20)) < 0.15, regenerated with our random_sample.
  RandomState rs(11);
  std::vector<float> labels(40 * 20);
  for (auto& v : labels) v = rs.random_sample() < 0.15 ? 1.0f : 0.0f;
  const std::vector<int> positives = {5, 3, 5, 2, 0, 2, 1, 4, 4, 2, 3, 2, 1, 2, 7, 5, 2, 3, 3, 3,
                                      2, 2, 4, 2, 4, 5, 2, 2, 1, 2, 2, 2, 4, 6, 4, 1, 2, 3, 3, 2};
  const std::vector<int> observed_column = {17, 5, 0,  17, -1, 7, 11, 8,  4, 18, 10, 9, 14, 9, 8, 12, 16, 16, 12, 9,
                                            11, 5, 11, 9,  18, 3, 2,  12, 7, 12, 8,  8, 4,  8, 5, 13, 3,  14, 14, 18};
  const std::vector<float> obs =
      spml::data::observe_single_positive(Tensor::from_vector(labels, {40, 20})).to_vector<float>();
  for (int r = 0; r < 40; ++r) {
    int count = 0, column = -1, total = 0;
    for (int c = 0; c < 20; ++c) {
      count += int(labels[std::size_t(r * 20 + c)]);
      if (obs[std::size_t(r * 20 + c)] == 1.0f) column = c, ++total;
    }
    EXPECT_EQ(count, positives[std::size_t(r)]) << "row " << r;
    EXPECT_EQ(column, observed_column[std::size_t(r)]) << "row " << r;
    EXPECT_LE(total, 1) << "row " << r;
  }
}

TEST(PreformattedObserved, RejectsNonBinaryLabels) {
  EXPECT_ERROR_CONTAINS(spml::data::observe_single_positive(Tensor::from_vector<float>({0, 1, 2, 0}, {2, 2})),
                        "observe_single_positive", "row 1", "column 0");
  EXPECT_ERROR_CONTAINS(spml::data::observe_single_positive(Tensor::zeros({4})), "[N, C]");
}

// ------------------------------------------------------------------------------------------ folder round trip
class PreformattedFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "spml_preformatted_" + std::to_string(::getpid()) + "_" + info->name();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // 10 train rows, 3 val rows, 4 classes; every row has a positive.
  void write_default() {
    std::vector<std::string> train_paths, val_paths;
    std::vector<float> train, val;
    for (int i = 0; i < 10; ++i) {
      train_paths.push_back("img/train_" + std::to_string(i) + ".jpg");
      for (int c = 0; c < 4; ++c) train.push_back((i + c) % 3 == 0 || c == i % 4 ? 1.0f : 0.0f);
    }
    for (int i = 0; i < 3; ++i) {
      val_paths.push_back("img/välid_" + std::to_string(i) + ".jpg");
      for (int c = 0; c < 4; ++c) val.push_back(c == i ? 1.0f : 0.0f);
    }
    train_labels_ = Tensor::from_vector(train, {10, 4});
    val_labels_ = Tensor::from_vector(val, {3, 4});
    train_paths_ = train_paths;
    val_paths_ = val_paths;
    spml::data::write_preformatted(dir_, train_paths, train_labels_, val_paths, val_labels_, {"a", "b", "c", "d"},
                                   "toy", "/data/toy");
  }

  void write_tensor(const std::string& name, const std::vector<float>& values, const spml::Shape& shape) {
    io::write_npy_tensor(path(name), Tensor::from_vector(values, shape));
  }

  std::string dir_;
  Tensor train_labels_, val_labels_;
  std::vector<std::string> train_paths_, val_paths_;
};

TEST_F(PreformattedFolder, RoundTrip) {
  write_default();
  for (const char* f :
       {"formatted_train_images.npy", "formatted_train_labels.npy", "formatted_train_labels_obs.npy",
        "formatted_val_images.npy", "formatted_val_labels.npy", "formatted_val_labels_obs.npy", "dataset.json"})
    EXPECT_TRUE(fs::exists(path(f))) << f;
  const auto ds = spml::data::load_preformatted(dir_);
  EXPECT_EQ(ds.name, "toy");
  EXPECT_EQ(ds.image_root, "/data/toy");
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(ds.num_classes(), 4);
  // split_train_val(10): val rows {3, 7}.
  EXPECT_EQ(ds.train.source_rows, (std::vector<int64_t>{0, 1, 2, 4, 5, 6, 8, 9}));
  EXPECT_EQ(ds.val.source_rows, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(ds.test.source_rows, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(ds.test.image_paths, val_paths_);
  EXPECT_EQ(ds.test.labels.to_vector<float>(), val_labels_.to_vector<float>());
  const Tensor train_obs = spml::data::observe_single_positive(train_labels_);
  const std::vector<float> all = train_labels_.to_vector<float>(), all_obs = train_obs.to_vector<float>();
  for (const auto* split : {&ds.train, &ds.val}) {
    ASSERT_EQ(split->size(), int64_t(split->source_rows.size()));
    const std::vector<float> labels = split->labels.to_vector<float>(), obs = split->observed.to_vector<float>();
    for (std::size_t i = 0; i < split->source_rows.size(); ++i) {
      const std::size_t row = std::size_t(split->source_rows[i]);
      EXPECT_EQ(split->image_paths[i], train_paths_[row]);
      for (std::size_t c = 0; c < 4; ++c) {
        EXPECT_EQ(labels[i * 4 + c], all[row * 4 + c]);
        EXPECT_EQ(obs[i * 4 + c], all_obs[row * 4 + c]);
      }
    }
  }
  // Overrides and the stored observed labels are the function's.
  const auto other = spml::data::load_preformatted(dir_, "/elsewhere", "renamed");
  EXPECT_EQ(other.image_root, "/elsewhere");
  EXPECT_EQ(other.name, "renamed");
  EXPECT_EQ(io::read_npy_tensor(path("formatted_val_labels_obs.npy")).to_vector<float>(),
            spml::data::observe_single_positive(val_labels_).to_vector<float>());
}

TEST_F(PreformattedFolder, WithoutDatasetJsonAndOtherDtypes) {
  fs::create_directories(dir_);
  io::write_npy(path("formatted_train_images.npy"), io::make_npy_strings({"a.jpg", "b.jpg"}, {2}));
  io::write_npy(path("formatted_val_images.npy"), io::make_npy_strings({"c.jpg"}, {1}));
  io::write_npy_tensor(path("formatted_train_labels.npy"), Tensor::from_vector<int64_t>({1, 0, 1, 1, 0, 1}, {2, 3}));
  io::NpyArray flags;  // bool observed labels
  flags.type = io::NpyType::Bool;
  flags.shape = {2, 3};
  flags.data = {1, 0, 0, 0, 0, 1};
  io::write_npy(path("formatted_train_labels_obs.npy"), flags);
  io::NpyArray u8;  // uint16 labels, widened by the loader
  u8.type = io::NpyType::UInt16;
  u8.shape = {1, 3};
  u8.data = {0, 0, 1, 0, 0, 0};
  io::write_npy(path("formatted_val_labels.npy"), u8);
  io::NpyArray f16;  // float16 observed labels: 1.0 = 0x3c00
  f16.type = io::NpyType::Float16;
  f16.shape = {1, 3};
  f16.data = {0, 0, 0x00, 0x3c, 0, 0};
  io::write_npy(path("formatted_val_labels_obs.npy"), f16);
  const auto ds = spml::data::load_preformatted(dir_);
  EXPECT_EQ(ds.name, fs::path(dir_).filename().string());
  EXPECT_EQ(ds.image_root, dir_);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"class_0", "class_1", "class_2"}));
  EXPECT_EQ(ds.train.labels.dtype(), DType::Float32);
  EXPECT_EQ(ds.train.size() + ds.val.size(), 2);  // round(0.4) = 0 val rows
  EXPECT_EQ(ds.train.labels.to_vector<float>(), (std::vector<float>{1, 0, 1, 1, 0, 1}));
  EXPECT_EQ(ds.train.observed.to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(ds.test.labels.to_vector<float>(), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(ds.test.observed.to_vector<float>(), (std::vector<float>{0, 1, 0}));
}

TEST_F(PreformattedFolder, RelativeImageRootInDatasetJson) {
  write_default();
  io::write_file_atomic(path("dataset.json"), std::string(R"({"name": "x", "image_root": "pics"})"));
  const auto ds = spml::data::load_preformatted(dir_);
  EXPECT_EQ(ds.image_root, (fs::path(dir_) / "pics").string());
  EXPECT_EQ(ds.class_names[0], "class_0");
}

TEST_F(PreformattedFolder, Errors) {
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), dir_.c_str(), "does not exist");
  write_default();
  const std::string images = path("formatted_train_images.npy"), labels = path("formatted_train_labels.npy"),
                    obs = path("formatted_train_labels_obs.npy"), val_labels = path("formatted_val_labels.npy"),
                    val_obs = path("formatted_val_labels_obs.npy"), json = path("dataset.json");

  // Rows disagree with the image list: both files and both shapes.
  write_tensor("formatted_train_labels.npy", std::vector<float>(9 * 4, 0.0f), {9, 4});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), labels.c_str(), images.c_str(), "[9, 4]", "[10]");
  write_default();
  write_tensor("formatted_train_labels_obs.npy", std::vector<float>(11 * 4, 0.0f), {11, 4});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), obs.c_str(), images.c_str(), "[11, 4]", "[10]");
  write_default();
  write_tensor("formatted_train_labels_obs.npy", std::vector<float>(10 * 3, 0.0f), {10, 3});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), obs.c_str(), labels.c_str(), "[10, 3]", "[10, 4]");
  // Values other than 0/1.
  write_default();
  std::vector<float> bad(10 * 4, 0.0f);
  bad[6 * 4 + 2] = -1.0f;
  write_tensor("formatted_train_labels.npy", bad, {10, 4});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), labels.c_str(), "row 6", "column 2", "0 or 1");
  // Two observed positives in a row.
  write_default();
  std::vector<float> two(10 * 4, 0.0f);
  two[4 * 4 + 0] = two[4 * 4 + 3] = 1.0f;
  write_tensor("formatted_train_labels_obs.npy", two, {10, 4});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), obs.c_str(), "row 4", "2 observed positives");
  // Images not strings; labels not 2-D.
  write_default();
  write_tensor("formatted_train_images.npy", std::vector<float>(10, 0.0f), {10});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), images.c_str(), "unicode");
  write_default();
  write_tensor("formatted_val_labels.npy", std::vector<float>(3, 0.0f), {3});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), val_labels.c_str(), "[3]");
  // Class counts of train and val differ.
  write_default();
  write_tensor("formatted_val_labels.npy", std::vector<float>(3 * 5, 0.0f), {3, 5});
  write_tensor("formatted_val_labels_obs.npy", std::vector<float>(3 * 5, 0.0f), {3, 5});
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), "4 classes", val_labels.c_str());
  // Missing file: named by path.
  write_default();
  fs::remove(path("formatted_val_labels_obs.npy"));
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), val_obs.c_str());
  // dataset.json: wrong class count, invalid JSON.
  write_default();
  io::write_file_atomic(path("dataset.json"), std::string(R"({"class_names": ["a", "b"]})"));
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), json.c_str(), "class_names", "4");
  io::write_file_atomic(path("dataset.json"), std::string("{nope"));
  EXPECT_ERROR_CONTAINS(spml::data::load_preformatted(dir_), json.c_str(), "invalid JSON");

  // write_preformatted's own checks.
  const Tensor l = Tensor::from_vector<float>({1, 0, 0, 1}, {2, 2});
  EXPECT_ERROR_CONTAINS(spml::data::write_preformatted(dir_, {"a"}, l, {"b", "c"}, l, {}, "n", "r"),
                        "1 train image paths");
  EXPECT_ERROR_CONTAINS(spml::data::write_preformatted(dir_, {"a", "b"}, l, {"b", "c"}, l, {"x"}, "n", "r"),
                        "1 class names", "2 label columns");
  EXPECT_ERROR_CONTAINS(
      spml::data::write_preformatted(dir_, {"a", "b"}, Tensor::from_vector<float>({1, 0, 3, 1}, {2, 2}), {"b", "c"}, l,
                                     {}, "n", "r"),
      "train labels", "row 1", "column 0");
}

// ------------------------------------------------------------------------------------------ builders
class Builders : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "spml_builders_" + std::to_string(::getpid()) + "_" + info->name();
    fs::remove_all(root_);
    src_ = root_ + "/src";
    out_ = root_ + "/out";
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& relative, const std::string& text) {
    const fs::path p = fs::path(src_) / relative;
    fs::create_directories(p.parent_path());
    std::ofstream f(p);
    f << text;
  }
  std::vector<std::string> strings(const std::string& name) const {
    return io::npy_strings(io::read_npy(out_ + "/" + name));
  }
  Tensor tensor(const std::string& name) const { return io::read_npy_tensor(out_ + "/" + name); }

  std::string root_, src_, out_;
};

const std::vector<std::string> kVoc = {
    "aeroplane",   "bicycle", "bird",  "boat",      "bottle", "bus",         "car",   "cat",  "chair", "cow",
    "diningtable", "dog",     "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

TEST_F(Builders, Voc2012) {
  // train: 2008_000003 (dog, person), 2008_000001 (cat; listed out of order), 2008_000002 (only 0 and -1: dropped)
  // val: 2009_000001 (tvmonitor), 2009_000002 (aeroplane, difficult bird = 0)
  for (std::size_t c = 0; c < kVoc.size(); ++c) {
    const std::string& k = kVoc[c];
    auto v = [](bool pos, bool difficult = false) { return pos ? " 1\n" : (difficult ? "  0\n" : " -1\n"); };
    write("ImageSets/Main/" + k + "_train.txt", std::string("2008_000003") + v(k == "dog" || k == "person") +
                                                    "2008_000001" + v(k == "cat") + "2008_000002" +
                                                    v(false, k == "cow"));
    write("ImageSets/Main/" + k + "_val.txt",
          std::string("2009_000001") + v(k == "tvmonitor") + "2009_000002" + v(k == "aeroplane", k == "bird"));
  }
  const auto summary = spml::data::build_voc2012(src_, out_);
  EXPECT_EQ(summary.num_classes, 20);
  EXPECT_EQ(summary.train_rows, 2);
  EXPECT_EQ(summary.val_rows, 2);
  EXPECT_EQ(strings("formatted_train_images.npy"),
            (std::vector<std::string>{"JPEGImages/2008_000001.jpg", "JPEGImages/2008_000003.jpg"}));
  EXPECT_EQ(strings("formatted_val_images.npy"),
            (std::vector<std::string>{"JPEGImages/2009_000001.jpg", "JPEGImages/2009_000002.jpg"}));
  std::vector<float> train(40, 0.0f), val(40, 0.0f);
  train[7] = train[20 + 11] = train[20 + 14] = 1.0f;
  val[19] = val[20 + 0] = 1.0f;
  EXPECT_EQ(tensor("formatted_train_labels.npy").to_vector<float>(), train);
  EXPECT_EQ(tensor("formatted_val_labels.npy").to_vector<float>(), val);
  EXPECT_EQ(tensor("formatted_train_labels_obs.npy").to_vector<float>(),
            spml::data::observe_single_positive(Tensor::from_vector(train, {2, 20})).to_vector<float>());
  const auto ds = spml::data::load_preformatted(out_);
  EXPECT_EQ(ds.name, "voc");
  EXPECT_EQ(ds.class_names, kVoc);
  EXPECT_EQ(ds.image_root, fs::absolute(src_).lexically_normal().string());

  write("ImageSets/Main/sofa_val.txt", "2009_000001 -1\n2009_000002 maybe\n");
  EXPECT_ERROR_CONTAINS(spml::data::build_voc2012(src_, out_), "sofa_val.txt:2", "2009_000002 maybe");
  fs::remove(fs::path(src_) / "ImageSets/Main/cow_val.txt");
  EXPECT_ERROR_CONTAINS(spml::data::build_voc2012(src_, out_), "missing file", "cow_val.txt");
}

TEST_F(Builders, Coco2014) {
  // Ids 9, 10, 100 sort as strings: "10" < "100" < "9". Image 55 has no annotation and is dropped; category order
  // is the json's (id 5 before id 2); a crowd annotation counts.
  write("annotations/instances_train2014.json", R"({
    "info": {"description": "x", "id": 3}, "licenses": [{"id": 1, "name": "lic"}],
    "images": [{"id": 9, "file_name": "COCO_train2014_000000000009.jpg", "height": 1},
               {"id": 100, "file_name": "COCO_train2014_000000000100.jpg"},
               {"id": 55, "file_name": "COCO_train2014_000000000055.jpg"},
               {"id": 10, "file_name": "COCO_train2014_000000000010.jpg"}],
    "annotations": [{"segmentation": [[1.0, 2.0, 3.5]], "area": 2.5, "iscrowd": 0, "image_id": 9, "bbox": [1, 2, 3, 4],
                     "category_id": 2, "id": 1},
                    {"segmentation": {"counts": [1, 2], "size": [3, 4]}, "iscrowd": 1, "image_id": 10,
                     "category_id": 5, "id": 2},
                    {"image_id": 100, "category_id": 7, "id": 3},
                    {"image_id": 100, "category_id": 2, "id": 4}],
    "categories": [{"supercategory": "s", "id": 5, "name": "person"}, {"id": 2, "name": "bicycle"},
                   {"id": 7, "name": "train"}]})");
  write("annotations/instances_val2014.json", R"({"images": [{"id": 42, "file_name": "COCO_val2014_000000000042.jpg"}],
    "annotations": [{"image_id": 42, "category_id": 7, "id": 9}],
    "categories": [{"id": 5, "name": "person"}, {"id": 2, "name": "bicycle"}, {"id": 7, "name": "train"}]})");
  const auto summary = spml::data::build_coco2014(src_, out_);
  EXPECT_EQ(summary.num_classes, 3);
  EXPECT_EQ(strings("formatted_train_images.npy"),
            (std::vector<std::string>{"train2014/COCO_train2014_000000000010.jpg",
                                      "train2014/COCO_train2014_000000000100.jpg",
                                      "train2014/COCO_train2014_000000000009.jpg"}));
  EXPECT_EQ(tensor("formatted_train_labels.npy").to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 1, 1, 0, 1, 0}));
  EXPECT_EQ(strings("formatted_val_images.npy"), (std::vector<std::string>{"val2014/COCO_val2014_000000000042.jpg"}));
  EXPECT_EQ(tensor("formatted_val_labels.npy").to_vector<float>(), (std::vector<float>{0, 0, 1}));
  const auto ds = spml::data::load_preformatted(out_);
  EXPECT_EQ(ds.name, "coco");
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"person", "bicycle", "train"}));

  write("annotations/instances_val2014.json", R"({"images": [{"id": 42, "file_name": "a.jpg"}],
    "annotations": [{"image_id": 43, "category_id": 7, "id": 9}], "categories": [{"id": 5, "name": "person"},
    {"id": 2, "name": "bicycle"}, {"id": 7, "name": "train"}]})");
  EXPECT_ERROR_CONTAINS(spml::data::build_coco2014(src_, out_), "instances_val2014.json", "annotations[0]",
                        "unknown image id 43");
  write("annotations/instances_val2014.json", "{\"images\": [\n{\"id\": 42,,}]}");
  EXPECT_ERROR_CONTAINS(spml::data::build_coco2014(src_, out_), "instances_val2014.json", "invalid JSON", "line 2");
  write("annotations/instances_val2014.json", R"({"images": [{"id": 42, "file_name": "a.jpg"}],
    "annotations": [], "categories": [{"id": 5, "name": "person"}]})");
  EXPECT_ERROR_CONTAINS(spml::data::build_coco2014(src_, out_), "categories differ");
  fs::remove(fs::path(src_) / "annotations/instances_train2014.json");
  EXPECT_ERROR_CONTAINS(spml::data::build_coco2014(src_, out_), "missing file", "instances_train2014.json");
}

TEST_F(Builders, Cub) {
  write("images.txt", "1 001.A/a_1.jpg\n2 001.A/a_2.jpg\n3 002.B/b_1.jpg\n4 002.B/b_2.jpg\n");
  write("train_test_split.txt", "1 1\n2 0\n3 1\n4 1\n");
  std::string names, attrs;
  for (int a = 1; a <= 312; ++a) names += std::to_string(a) + " has_attr::" + std::to_string(a) + "\n";
  write("attributes/attributes.txt", names);
  for (int img = 1; img <= 4; ++img)
    for (int a = 1; a <= 312; ++a) {
      const bool present = (a == img) || (a == 312 && img == 3);
      attrs += std::to_string(img) + " " + std::to_string(a) + " " + (present ? "1" : "0") + " 3 27.7080";
      attrs += (img == 2 && a == 5) ? " 0 1.5\n" : "\n";  // a line with extra fields, as in the release
    }
  write("attributes/image_attribute_labels.txt", attrs);
  const auto summary = spml::data::build_cub(src_, out_);
  EXPECT_EQ(summary.num_classes, 312);
  EXPECT_EQ(summary.train_rows, 3);
  EXPECT_EQ(summary.val_rows, 1);
  EXPECT_EQ(strings("formatted_train_images.npy"),
            (std::vector<std::string>{"images/001.A/a_1.jpg", "images/002.B/b_1.jpg", "images/002.B/b_2.jpg"}));
  EXPECT_EQ(strings("formatted_val_images.npy"), (std::vector<std::string>{"images/001.A/a_2.jpg"}));
  const std::vector<float> train = tensor("formatted_train_labels.npy").to_vector<float>();
  ASSERT_EQ(train.size(), 3u * 312u);
  EXPECT_EQ(std::accumulate(train.begin(), train.end(), 0.0f), 4.0f);
  EXPECT_EQ(train[0], 1.0f);
  EXPECT_EQ(train[312 + 2], 1.0f);
  EXPECT_EQ(train[312 + 311], 1.0f);
  EXPECT_EQ(train[2 * 312 + 3], 1.0f);
  const std::vector<float> val = tensor("formatted_val_labels.npy").to_vector<float>();
  EXPECT_EQ(val[1], 1.0f);
  EXPECT_EQ(std::accumulate(val.begin(), val.end(), 0.0f), 1.0f);
  const auto ds = spml::data::load_preformatted(out_);
  EXPECT_EQ(ds.name, "cub");
  EXPECT_EQ(ds.class_names[0], "has_attr::1");
  EXPECT_EQ(ds.class_names.size(), 312u);

  write("attributes/image_attribute_labels.txt", attrs + "4 313 1 3 1.0\n");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "image_attribute_labels.txt:1249", "4 313 1 3 1.0");
  write("attributes/image_attribute_labels.txt", attrs + "9 1 1 3 1.0\n");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "image_attribute_labels.txt:1249", "image id 9");
  write("attributes/image_attribute_labels.txt", attrs);
  write("train_test_split.txt", "1 1\n2 0\n3 1\n");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "train_test_split.txt", "no entry", "b_2.jpg");
  write("train_test_split.txt", "1 1\n2 0\n3 1\n4 yes\n");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "train_test_split.txt:4");
  fs::remove(fs::path(src_) / "attributes/attributes.txt");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "missing attributes.txt");
  fs::remove(fs::path(src_) / "images.txt");
  EXPECT_ERROR_CONTAINS(spml::data::build_cub(src_, out_), "missing file", "images.txt");
}

}  // namespace
