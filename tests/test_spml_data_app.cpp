// spml-data end to end: build a small Fashion-Mosaic, inspect it, and the error paths of prepare.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spml {
namespace {
int run_data(const std::string& args, std::string* output) {
  const test::CommandResult r = test::run_command(std::string(SPML_BIN_DIR) + "/spml-data " + args);
  *output = r.out;
  return r.exit_code;
}

TEST(SpmlDataApp, FashionMosaicThenInspect) {
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0)
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
  const std::string dir = ::testing::TempDir() + "/spml_data_app_" + std::to_string(::getpid());
  std::string out;
  ASSERT_EQ(run_data("fashion-mosaic --out " + dir + " --train 50 --test 20 --seed 3", &out), 0) << out;
  ASSERT_EQ(run_data("inspect --data " + dir, &out), 0) << out;
  const nlohmann::json doc = nlohmann::json::parse(out);
  EXPECT_EQ(doc["name"], "fashion-mosaic");
  EXPECT_EQ(doc["classes"], 10);
  EXPECT_EQ(doc["train"]["images"], 40);  // 80/20 split of the 50 train canvases
  EXPECT_EQ(doc["val"]["images"], 10);
  EXPECT_EQ(doc["test"]["images"], 20);
  for (const char* split : {"train", "val", "test"}) {
    EXPECT_EQ(doc[split]["observed_not_in_labels"], 0) << split;
    EXPECT_EQ(doc[split]["rows_with_several_observed"], 0) << split;
    EXPECT_EQ(doc[split]["observed_positives"], doc[split]["images"]) << split;  // every canvas has an item
    EXPECT_GE(doc[split]["label_cardinality"].get<double>(), 1.0) << split;
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST(SpmlDataApp, PrepareNamesMissingFiles) {
  std::string out;
  EXPECT_EQ(run_data("prepare voc --src /nonexistent/VOC2012 --out /tmp/never", &out), 1);
  EXPECT_NE(out.find("/nonexistent/VOC2012/ImageSets/Main"), std::string::npos) << out;
  EXPECT_NE(run_data("prepare imagenet --src a --out b", &out), 0);  // CLI11 rejects the data set name
  EXPECT_NE(out.find("imagenet"), std::string::npos) << out;
  EXPECT_EQ(run_data("inspect --data /nonexistent/data", &out), 1);
  EXPECT_NE(out.find("/nonexistent/data"), std::string::npos) << out;
}

}  // namespace
}  // namespace spml
