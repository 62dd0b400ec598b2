#!/usr/bin/env python3
"""Exports a PyTorch/torchvision state dict (.pth) to a safetensors file that spml loads (io::read_safetensors).

    /usr/bin/python3 scripts/export_torchvision_weights.py resnet50-0676ba61.pth resnet50.safetensors --arch resnet50

The input is a state dict, a full checkpoint holding one under 'state_dict' (or 'model'), or a pickled nn.Module.
Every tensor is written with its key unchanged and its dtype kept (num_batches_tracked stays I64; F16/BF16 stay
F16/BF16) unless --float-dtype casts the floating ones. Metadata: {"source": <input basename>, "arch": <arch>}.
Needs only torch (no safetensors package): the format is written by hand (8-byte little-endian header length, JSON
header padded with spaces to a multiple of 8, "__metadata__" first, keys sorted, data in key order) and read back
to verify.

--make-test-fixture DIR writes the small fixture of tests/test_safetensors.cpp: torch_export.safetensors (a tiny
random model "0" Linear(4,3), "1" BatchNorm1d(3), "fc" Linear(3,5), plus F16/BF16/F64/I32/U8/BOOL tensors) and
torch_export_expected.json (every value, floats as exact decimal, F16/BF16 widened to float32 exactly).
"""
import argparse
import collections
import json
import math
import os
import struct
import sys
import tempfile

import torch

DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def tensor_bytes(t):
    """Raw little-endian bytes of a tensor in C order."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    elif t.dtype == torch.bool:
        t = t.to(torch.uint8)
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path, tensors, metadata):
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    for key in sorted(tensors):
        t = tensors[key]
        if t.dtype not in DTYPES:
            raise SystemExit(f"{key}: dtype {t.dtype} has no safetensors name here ({', '.join(DTYPES.values())})")
        data = tensor_bytes(t)
        header[key] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def read_safetensors(path):
    """A minimal, checking reader: returns (tensors, metadata). A file that is not safetensors (short, a header
    length past the end, a header that is not a JSON object, an entry without dtype/shape/data_offsets, offsets
    that do not hold the shape, an unknown dtype) raises ValueError naming the tensor."""
    names = {v: k for k, v in DTYPES.items()}
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("not a safetensors file (%d bytes)" % len(blob))
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("header length %d exceeds the file's %d bytes" % (n, len(blob)))
    header = json.loads(blob[8:8 + n].decode("utf-8"))  # ValueError when not JSON
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    buf = blob[8 + n:]
    out = {}
    for key, info in header.items():
        ok = (isinstance(info, dict) and isinstance(info.get("shape"), list)
              and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                      for v in info["shape"] + info["data_offsets"]))
        if not ok:
            raise ValueError("tensor '%s': expected {dtype, shape, data_offsets}, got %s" % (key, json.dumps(info)))
        if info.get("dtype") not in names:
            raise ValueError("tensor '%s': unsupported dtype %s (%s)" % (key, info.get("dtype"), ", ".join(names)))
        dtype = names[info["dtype"]]
        b, e = info["data_offsets"]
        expected = math.prod(info["shape"]) * torch.empty(0, dtype=dtype).element_size()
        if not (b <= e <= len(buf)) or e - b != expected:
            raise ValueError("tensor '%s': data_offsets [%d, %d] do not hold %s %s in %d data bytes"
                             % (key, b, e, info["dtype"], info["shape"], len(buf)))
        raw = bytearray(buf[b:e])
        load = {torch.bfloat16: torch.int16, torch.bool: torch.uint8}.get(dtype, dtype)
        t = torch.frombuffer(raw, dtype=load) if raw else torch.empty(0, dtype=load)
        if load != dtype:
            t = t.view(dtype) if dtype == torch.bfloat16 else t.to(dtype)
        out[key] = t.reshape(info["shape"])
    return out, meta


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: expected a state dict, a checkpoint with 'state_dict', or a module; got {type(obj)}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise SystemExit(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:10]))}")
    return collections.OrderedDict(obj)


def export(src, dst, arch, float_dtype="keep", strip_prefix=""):
    state = load_state_dict(src)
    tensors = {}
    for key, t in state.items():
        if strip_prefix and key.startswith(strip_prefix):
            key = key[len(strip_prefix):]
        if float_dtype != "keep" and t.is_floating_point():
            t = t.to(FLOAT_DTYPES[float_dtype])
        if key in tensors:
            raise SystemExit(f"{src}: key {key} appears twice after stripping '{strip_prefix}'")
        tensors[key] = t
    write_safetensors(dst, tensors, {"source": os.path.basename(src), "arch": arch})
    back, meta = read_safetensors(dst)
    assert set(back) == set(tensors) and meta == {"source": os.path.basename(src), "arch": arch}
    for key, t in tensors.items():
        r = back[key]
        assert r.dtype == t.dtype and r.shape == t.shape, key
        assert tensor_bytes(r) == tensor_bytes(t), f"{key}: read-back differs"
    return tensors


def make_test_fixture(out_dir):
    torch.manual_seed(0)
    model = torch.nn.Sequential(collections.OrderedDict([
        ("0", torch.nn.Linear(4, 3)),
        ("1", torch.nn.BatchNorm1d(3)),
        ("fc", torch.nn.Linear(3, 5)),
    ]))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    model.train()
    with torch.no_grad():  # a few training-mode passes: non-trivial running stats, num_batches_tracked = 3
        for _ in range(3):
            model(torch.randn(8, 4))
    state = model.state_dict()
    special16 = [1.0, -2.5, 65504.0, 2.0 ** -24, -(2.0 ** -24), 2.0 ** -14, 0.0, -0.0, float("inf"), float("-inf")]
    state["extra.half"] = torch.tensor(special16 + [0.333251953125, 1000.5], dtype=torch.float16).reshape(3, 4)
    state["extra.bf16"] = torch.tensor([3.140625, -1.0, 1e30, 2.0 ** -130, float("inf"), 0.0, float("nan")],
                                      dtype=torch.bfloat16)
    state["extra.f64"] = torch.randn(2, 2, dtype=torch.float64)
    state["extra.i32"] = torch.tensor([[-7, 0, 2147483647]], dtype=torch.int32)
    state["extra.u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    state["extra.bool"] = torch.tensor([True, False, True])
    state["extra.empty"] = torch.zeros(0, 3)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "tiny_model.pth")
        torch.save({"state_dict": state, "epoch": 1}, pth)
        tensors = export(pth, os.path.join(out_dir, "torch_export.safetensors"), "tiny")
    expected = collections.OrderedDict()
    for key in sorted(tensors):
        t = tensors[key]
        wide = t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)  # exact widening
        values = wide.reshape(-1).tolist()
        if t.is_floating_point():  # JSON has no inf/nan: write them as strings
            values = [v if math.isfinite(v) else "nan" if math.isnan(v) else "inf" if v > 0 else "-inf" for v in values]
        expected[key] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "values": values}
    with open(os.path.join(out_dir, "torch_export_expected.json"), "w") as f:
        json.dump({"metadata": {"source": "tiny_model.pth", "arch": "tiny"}, "tensors": expected}, f, indent=None)
        f.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", nargs="?", help="a .pth state dict or checkpoint")
    p.add_argument("output", nargs="?", help="the .safetensors file to write")
    p.add_argument("--arch", default="resnet50", help="architecture name stored in the metadata (default resnet50)")
    p.add_argument("--float-dtype", default="keep", choices=["keep", "F32", "F16", "BF16", "F64"],
                   help="cast floating tensors (default: keep each tensor's dtype)")
    p.add_argument("--strip-prefix", default="", help="remove this key prefix, e.g. 'module.' (DataParallel)")
    p.add_argument("--make-test-fixture", metavar="DIR", help="write the test fixture of test_safetensors.cpp")
    args = p.parse_args()
    if args.make_test_fixture:
        make_test_fixture(args.make_test_fixture)
        return
    if not args.input or not args.output:
        p.error("input and output are required")
    tensors = export(args.input, args.output, args.arch, args.float_dtype, args.strip_prefix)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    print(f"{args.output}: {len(tensors)} tensors, {total} bytes of data", file=sys.stderr)


if __name__ == "__main__":
    main()
