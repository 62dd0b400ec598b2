#!/usr/bin/env python3
"""PIL + NumPy baseline for the loader benchmark (apps/support/loader_bench.cpp): for each file of --list,
Image.open(p).convert('RGB'), resize((S, S), BILINEAR), horizontal flip with p = 0.5, ToTensor + Normalize with
the ImageNet mean/std as float32 CHW; one process. Prints `images_per_second X` (median of --passes after one
warm-up pass). Exit code 3 when PIL or NumPy is missing."""
import argparse
import random
import sys
import time

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # the C++ side reports this plainly
    print(f"missing module: {e}")
    sys.exit(3)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def load(path, size, flip):
    with Image.open(path) as im:
        img = im.convert("RGB").resize((size, size), Image.BILINEAR)
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    # ToTensor + Normalize in float32, in place on a contiguous CHW array (the same values as
    # (x / 255 - mean) / std on a transposed view, about 10x faster than that in NumPy).
    x = np.empty((3, size, size), dtype=np.float32)
    np.copyto(x, np.asarray(img).transpose(2, 0, 1))
    x /= np.float32(255.0)
    x -= MEAN
    x /= STD
    return x


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", required=True, help="text file, one image path per line")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(args.list) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    if not paths:
        print("empty image list")
        return 1
    rng = random.Random(args.seed)
    rates = []
    for p in range(args.passes + 1):  # pass 0 warms the file cache
        start = time.perf_counter()
        for path in paths:
            load(path, args.size, rng.random() < 0.5)
        seconds = time.perf_counter() - start
        if p > 0:
            rates.append(len(paths) / seconds)
    rates.sort()
    print(f"images_per_second {rates[len(rates) // 2]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
