#!/usr/bin/python3
# Golden files of the CNN ops and of two reduced ResNets, computed with Debian's python3-torch and
# python3-torchvision (float64, fixed seeds) and written as safetensors into tests/data/golden/. The C++ tests
# compare against them without Python. Run: /usr/bin/python3 scripts/make_golden.py
import os
import sys

import torch
import torch.nn.functional as F
from torchvision.models import resnet as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision_weights import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")
torch.set_default_dtype(torch.float64)


def leaf(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape) * (hi - lo) + lo).requires_grad_(True)


def cnn_ops():
    torch.manual_seed(1)
    out = {}
    # conv2d, stride 2, padding 1, odd sizes, with bias
    x, w, b = leaf(2, 3, 7, 6), leaf(4, 3, 3, 3), leaf(4)
    y = F.conv2d(x, w, b, stride=2, padding=1)
    r = torch.rand_like(y) - 0.5
    y.backward(r)
    out.update({"conv.x": x, "conv.w": w, "conv.b": b, "conv.y": y, "conv.r": r, "conv.gx": x.grad,
                "conv.gw": w.grad, "conv.gb": b.grad})
    # batch norm in training mode (running statistics move) and in eval mode
    x, g, b = leaf(3, 4, 5, 3, lo=-2, hi=3), leaf(4, lo=0.5, hi=1.5), leaf(4)
    rm, rv = torch.rand(4), torch.rand(4) + 0.5
    out.update({"bn.x": x, "bn.gamma": g, "bn.beta": b, "bn.running_mean": rm.clone(), "bn.running_var": rv.clone()})
    y = F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=1e-5)
    r = torch.rand_like(y) - 0.5
    y.backward(r)
    out.update({"bn.y": y, "bn.r": r, "bn.gx": x.grad.clone(), "bn.ggamma": g.grad.clone(), "bn.gbeta": b.grad.clone(),
                "bn.running_mean_after": rm, "bn.running_var_after": rv})
    x.grad = None
    y = F.batch_norm(x, rm, rv, g, b, training=False, eps=1e-5)
    y.backward(r)
    out.update({"bn_eval.y": y, "bn_eval.gx": x.grad})
    # max pool 3/2/1 (ResNet's stem) and adaptive average pooling to 3 x 2
    x = leaf(2, 3, 9, 7)
    y = F.max_pool2d(x, 3, 2, 1)
    r = torch.rand_like(y) - 0.5
    y.backward(r)
    out.update({"maxpool.x": x, "maxpool.y": y, "maxpool.r": r, "maxpool.gx": x.grad})
    x = leaf(2, 3, 9, 7)
    y = F.adaptive_avg_pool2d(x, (3, 2))
    r = torch.rand_like(y) - 0.5
    y.backward(r)
    out.update({"avgpool.x": x, "avgpool.y": y, "avgpool.r": r, "avgpool.gx": x.grad})
    return {k: v.detach() for k, v in out.items()}


def reduced_resnet(block, layers, width, classes):
    """torchvision's own ResNet class and blocks, with the stem width reduced from 64 to `width`."""
    m = tv.ResNet.__new__(tv.ResNet)
    torch.nn.Module.__init__(m)
    m._norm_layer, m.dilation, m.groups, m.base_width, m.inplanes = torch.nn.BatchNorm2d, 1, 1, 64, width
    m.conv1 = torch.nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1, m.relu = torch.nn.BatchNorm2d(width), torch.nn.ReLU(inplace=True)
    m.maxpool = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    m.layer1 = m._make_layer(block, width, layers[0])
    m.layer2 = m._make_layer(block, width * 2, layers[1], stride=2)
    m.layer3 = m._make_layer(block, width * 4, layers[2], stride=2)
    m.layer4 = m._make_layer(block, width * 8, layers[3], stride=2)
    m.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
    m.fc = torch.nn.Linear(width * 8 * block.expansion, classes)
    return m


def resnet_case(block, layers, width, seed):
    torch.manual_seed(seed)
    model = reduced_resnet(block, layers, width, 5)
    with torch.no_grad():  # random BN affine values (not 1 and 0), so their gradients are exercised
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    out = {f"param.{k}": v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 32, 32)
    model.train()
    logits = model(x)
    r = torch.rand_like(logits) - 0.5
    (logits * r).sum().backward()
    out.update({"input": x, "r": r, "logits": logits.detach()})
    out.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    out.update({f"after.{k}": v for k, v in model.state_dict().items() if "running" in k})
    return {k: v.detach() for k, v in out.items()}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__, "script": "scripts/make_golden.py"}
    write_safetensors(os.path.join(OUT, "cnn_ops.safetensors"), cnn_ops(), meta)
    write_safetensors(os.path.join(OUT, "resnet18_w2.safetensors"), resnet_case(tv.BasicBlock, [2, 2, 2, 2], 2, 2),
                      meta)
    write_safetensors(os.path.join(OUT, "resnet50_w2.safetensors"), resnet_case(tv.Bottleneck, [3, 4, 6, 3], 2, 3),
                      meta)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")
