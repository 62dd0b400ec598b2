// spml-predict end to end: weights written here, real image fixtures (JPEG and PNG), outputs compared with the
// library's forward pass on the same preprocessed images; error policies fail and skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "framework/autograd/autograd.h"
#include "framework/image/image.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "framework/io/safetensors.h"
#include "framework/ops/ops.h"
#include "models/resnet.h"
#include "models/weights.h"
#include "test_util.h"

namespace spml {
namespace {
int run(const std::string& args, std::string* output = nullptr) {
  const test::CommandResult r = test::run_command(std::string(SPML_BIN_DIR) + "/spml-predict " + args);
  if (output) *output = r.out;
  return r.exit_code;
}

class SpmlPredictApp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/spml_predict_" + std::to_string(::getpid());
    std::system(("mkdir -p " + dir_).c_str());
    net_ = std::make_unique<models::ResNet>(models::ResNetConfig{"resnet18", 3, 64, 9});
    io::write_safetensors(dir_ + "/w.safetensors", net_->state_dict());
    jpg_ = std::string(SPML_TEST_DATA_DIR) + "/images/photo_64x48_q90.jpg";
    png_ = std::string(SPML_TEST_DATA_DIR) + "/images/rgb_37x29.png";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string common() const {
    return "--arch resnet18 --num-classes 3 --image-size 40 --threads 2 --weights " + dir_ + "/w.safetensors";
  }
  std::string dir_, jpg_, png_;
  std::unique_ptr<models::ResNet> net_;
};

TEST_F(SpmlPredictApp, LogitsAndFeaturesMatchTheLibrary) {
  std::string log;
  ASSERT_EQ(run(common() + " --images " + jpg_ + " " + png_ + " --out " + dir_ + "/logits.npy", &log), 0) << log;
  const Tensor logits = io::read_npy_tensor(dir_ + "/logits.npy");
  ASSERT_EQ(logits.shape(), (Shape{2, 3}));
  std::vector<image::Image> images;
  for (const auto& p : {jpg_, png_}) images.push_back(image::resize_bilinear(image::decode_image(p), 40, 40));
  net_->eval();
  autograd::NoGradGuard no_grad;
  const Tensor x = image::images_to_tensor(images);
  EXPECT_LE(max_abs_diff(logits, net_->forward(x)), 1e-5);
  ASSERT_EQ(run(common() + " --features --images " + png_ + " --out " + dir_ + "/f.npy", &log), 0) << log;
  const Tensor f = io::read_npy_tensor(dir_ + "/f.npy");
  ASSERT_EQ(f.shape(), (Shape{1, 512}));
  EXPECT_LE(max_abs_diff(f, net_->features(x.slice(1, 2))), 1e-5);
}

TEST_F(SpmlPredictApp, ErrorPolicies) {
  const std::string missing = dir_ + "/missing.jpg", out = dir_ + "/out.npy";
  std::string log;
  EXPECT_EQ(run(common() + " --images " + jpg_ + " " + missing + " --out " + out, &log), 1);
  EXPECT_NE(log.find(missing), std::string::npos) << log;
  EXPECT_FALSE(std::ifstream(out).good()) << "nothing may be written when an image fails";
  ASSERT_EQ(run(common() + " --on-error skip --images " + missing + " " + png_ + " --out " + out, &log), 0) << log;
  EXPECT_EQ(io::read_npy_tensor(out).shape(), (Shape{1, 3}));
  EXPECT_EQ(io::read_text_file(out + ".paths.txt"), png_ + "\n");
  EXPECT_EQ(run("--arch resnet18 --num-classes 5 --image-size 40 --weights " + dir_ + "/w.safetensors --images " +
                    png_ + " --out " + out,
                &log),
            1);
  EXPECT_NE(log.find("key 'fc.bias' has shape [3]"), std::string::npos) << log;
  EXPECT_NE(run("--bogus-flag", &log), 0);
}

TEST_F(SpmlPredictApp, TrainedWeightsCarryArchAndClasses) {
  const std::string weights = dir_ + "/best.safetensors", out = dir_ + "/o.npy";
  models::save_resnet_weights(weights, *net_, {"cat", "dog", "bird"});
  const auto info = models::weights_info(io::read_safetensors(weights).metadata, weights);
  EXPECT_EQ(info.arch, "resnet18");
  EXPECT_EQ(info.num_classes, 3);
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"cat", "dog", "bird"}));
  std::string log;  // no --arch / --num-classes: both come from the metadata
  ASSERT_EQ(run("--image-size 40 --weights " + weights + " --images " + png_ + " --out " + out, &log), 0) << log;
  EXPECT_EQ(io::read_npy_tensor(out).shape(), (Shape{1, 3}));
  EXPECT_EQ(run("--arch resnet50 --image-size 40 --weights " + weights + " --images " + png_ + " --out " + out, &log),
            1);
  EXPECT_NE(log.find("holds resnet18"), std::string::npos) << log;
}

}  // namespace
}  // namespace spml
