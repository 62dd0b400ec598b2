// ResNet blocks (basic and bottleneck), the network, and torchvision's initialisation.
#include "models/resnet.h"

#include "framework/autograd/autograd.h"
#include "framework/nn/init.h"
#include "framework/ops/ops.h"

namespace spml::models {
namespace {
struct ArchSpec {
  const char* name;
  bool bottleneck;
  int blocks[4];
};
constexpr ArchSpec kArchs[] = {{"resnet18", false, {2, 2, 2, 2}},
                               {"resnet34", false, {3, 4, 6, 3}},
                               {"resnet50", true, {3, 4, 6, 3}},
                               {"resnet101", true, {3, 4, 23, 3}}};

const ArchSpec& arch_spec(const std::string& name) {
  for (const auto& a : kArchs)
    if (name == a.name) return a;
  SPML_FAIL("unknown architecture '", name, "': expected resnet18, resnet34, resnet50 or resnet101");
}

// conv1x1 + BN on the shortcut when the shape changes: names "downsample.0", "downsample.1".
std::shared_ptr<nn::Sequential> downsample(int64_t in, int64_t out, int64_t stride, DType dtype) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in, out, 1, stride, 0, false, 0, dtype));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out, 0.1, 1e-5, dtype));
  return seq;
}

class BasicBlock : public nn::Layer {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, DType dtype) {
    conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(in, planes, 3, stride, 1, false, 0, dtype));
    bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes, 0.1, 1e-5, dtype));
    conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(planes, planes, 3, 1, 1, false, 0, dtype));
    bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes, 0.1, 1e-5, dtype));
    if (stride != 1 || in != planes) downsample_ = register_module("downsample", downsample(in, planes, stride, dtype));
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = bn1_->forward_relu(conv1_->forward(x));
    out = bn2_->forward(conv2_->forward(out));
    return relu_(add(out, downsample_ ? downsample_->forward(x) : x));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Sequential> downsample_;
};

class Bottleneck : public nn::Layer {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, DType dtype) {
    const int64_t out = planes * kExpansion;
    conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(in, planes, 1, 1, 0, false, 0, dtype));
    bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes, 0.1, 1e-5, dtype));
    conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(planes, planes, 3, stride, 1, false, 0, dtype));
    bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes, 0.1, 1e-5, dtype));
    conv3_ = register_module("conv3", std::make_shared<nn::Conv2d>(planes, out, 1, 1, 0, false, 0, dtype));
    bn3_ = register_module("bn3", std::make_shared<nn::BatchNorm2d>(out, 0.1, 1e-5, dtype));
    if (stride != 1 || in != out) downsample_ = register_module("downsample", downsample(in, out, stride, dtype));
  }
  Tensor forward(const Tensor& x) override {
    // In-place ReLUs: batch norm and add do not keep their outputs for backward, so the buffers can be reused.
    Tensor out = bn1_->forward_relu(conv1_->forward(x));
    out = bn2_->forward_relu(conv2_->forward(out));
    out = bn3_->forward(conv3_->forward(out));
    return relu_(add(out, downsample_ ? downsample_->forward(x) : x));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_, bn3_;
  std::shared_ptr<nn::Sequential> downsample_;
};
}  // namespace

std::vector<std::string> resnet_architectures() {
  std::vector<std::string> out;
  for (const auto& a : kArchs) out.push_back(a.name);
  return out;
}

ResNet::ResNet(const ResNetConfig& config) : config_(config) {
  const ArchSpec& spec = arch_spec(config.arch);
  SPML_CHECK(config.width >= 1 && config.num_classes >= 0, "ResNet: width must be >= 1 and num_classes >= 0, got ",
             config.width, " and ", config.num_classes);
  const DType dt = config.dtype;
  const int64_t w = config.width;
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(3, w, 7, 2, 3, false, 0, dt));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w, 0.1, 1e-5, dt));
  const int64_t expansion = spec.bottleneck ? Bottleneck::kExpansion : BasicBlock::kExpansion;
  int64_t in = w;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = w << stage;
    auto layer = std::make_shared<nn::Sequential>();
    for (int b = 0; b < spec.blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      if (spec.bottleneck) {
        layer->push_back(std::make_shared<Bottleneck>(in, planes, stride, dt));
      } else {
        layer->push_back(std::make_shared<BasicBlock>(in, planes, stride, dt));
      }
      in = planes * expansion;
    }
    layers_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
  }
  feature_dim_ = in;
  if (config.num_classes > 0)
    fc_ = register_module("fc", std::make_shared<nn::Linear>(in, config.num_classes, true, 0, dt));

  // torchvision's init: kaiming normal (fan_out, ReLU gain) for convolutions, BN weight 1 / bias 0 (the
  // BatchNorm2d defaults), Linear with PyTorch's default uniform. Each tensor draws from its own seed derived
  // from the run seed and its name.
  autograd::NoGradGuard no_grad;
  for (auto& [name, p] : named_parameters()) {
    const uint64_t seed = nn::init::derive_seed(config.seed, name);
    if (p.dim() == 4) {
      nn::init::kaiming_normal_(p, nn::init::fan_out(p), seed);
    } else if (name == "fc.weight") {
      Tensor bias = fc_->bias();
      nn::init::linear_default_(p, bias, seed);
    }
  }
}

Tensor ResNet::features(const Tensor& x) {
  SPML_CHECK(x.defined() && x.dim() == 4 && x.size(1) == 3, "ResNet: input must be [N, 3, H, W], got ",
             x.description());
  Tensor h = max_pool2d(bn1_->forward_relu(conv1_->forward(x)), 3, 2, 1);
  for (auto& layer : layers_) h = layer->forward(h);
  return global_avg_pool2d(h);
}

Tensor ResNet::classify(const Tensor& features) {
  SPML_CHECK(fc_, "ResNet::classify: the network has no head (num_classes 0)");
  SPML_CHECK(features.dim() == 2 && features.size(1) == feature_dim_, "ResNet::classify: features must be [N, ",
             feature_dim_, "], got ", features.description());
  return fc_->forward(features);
}

Tensor ResNet::forward(const Tensor& x) {
  const Tensor f = features(x);
  return fc_ ? fc_->forward(f) : f;
}

}  // namespace spml::models
