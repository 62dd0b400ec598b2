#!/usr/bin/python3
# PyTorch baseline for spml-bench's ResNet timing: the same torchvision model, batch, image size and thread
# count; prints one JSON line {"forward_ms": median, "train_ms": median, "peak_rss_mib": ..., "torch": version}. Run with Debian's
# /usr/bin/python3 (python3-torch, python3-torchvision); spml-bench calls it itself.
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--arch", default="resnet50")
parser.add_argument("--batch", type=int, default=4)
parser.add_argument("--image-size", type=int, default=224)
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--classes", type=int, default=20)
args = parser.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


rss_before_model = rss_mib()
torch.manual_seed(0)
model = getattr(torchvision.models, args.arch)(num_classes=args.classes)
x = torch.randn(args.batch, 3, args.image_size, args.image_size)
opt = torch.optim.Adam(model.parameters(), lr=1e-5)


def timed(fn):
    fn()  # warm-up
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def forward():
    model.eval()
    with torch.no_grad():
        model(x)


def train_step():
    model.train()
    opt.zero_grad()
    model(x).sigmoid().mean().backward()
    opt.step()


forward_ms = timed(forward)
train_ms = timed(train_step)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"forward_ms": forward_ms, "train_ms": train_ms, "peak_rss_mib": peak,
                  "rss_before_model_mib": rss_before_model, "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
