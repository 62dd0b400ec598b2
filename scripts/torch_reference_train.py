#!/usr/bin/python3
# Independent PyTorch reference trainer for the project's SPML protocol (docs/fidelity.md; behaviour
# mirrored from framework/data/preformatted.cpp, framework/data/loader.h, losses/, training/trainer.cpp and
# framework/metrics/average_precision.cpp). It reads a pre-formatted data folder (formatted_{train,val}_*.npy +
# dataset.json), trains torchvision's ResNet with the GR or AN loss on the single observed positives, selects the
# epoch by clean-label val mAP and scores the test split once; the run folder it writes (config.json, run.json,
# metrics.jsonl, metrics.csv, test.json, test_probabilities.npy) is what spml-report reads, so its row sits next
# to spml-train's runs in one table. Its test.json says "implementation": "pytorch-reference".
#
# Run with Debian's interpreter (python3-torch, python3-torchvision, numpy, PIL):
#   nice -n 15 /usr/bin/python3 scripts/torch_reference_train.py --data data/fashion-mosaic \
#       --out runs/torch-ref/fashion-mosaic-gr-s0 --loss gr --seed 0 --threads 2
#   build-cpu/bin/spml-report runs/torch-ref/*
# Defaults are spml-train's for --dataset (fashion-mosaic: resnet18 from random init, 64 px, batch 32, lr 3e-4,
# head x10, 6 epochs, GR beta [0,2,-2,-2], alpha [0.5,2,0.8,0.5], q2q3 [0.01,1]).
#
# Controlled comparison (both implementations from the identical initial weights, sample order and flips):
# --save-init writes the seeded initial state as safetensors (torchvision keys) and --save-order every epoch's
# order and per-row flips (framework/data/sample_schedule.h's "spml-order-1"), both before training, and this run
# uses exactly them; spml-train (or this script, via --init-weights/--order-file) then replays them:
#   /usr/bin/python3 scripts/torch_reference_train.py --data D --out R/torch --loss gr --seed 0 \
#       --save-init R/init.safetensors --save-order R/order.json
#   build-cpu/bin/spml-train --data D --out R/spml --loss gr --weights R/init.safetensors --order-file R/order.json
# (add the same --epochs/--batch-size/--max-train/--threads to both). The two still differ in their kernels'
# float32 rounding, so they agree closely but not bit for bit.
import argparse
import copy
import datetime
import hashlib
import io
import json
import os
import platform
import sys
import time

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision_weights import read_safetensors, write_safetensors  # noqa: E402

# spml-train's per-dataset table (training/train_config.cpp and losses/schedule.cpp): classes, arch, epochs,
# batch, lr, image size, GR (beta, alpha, q2q3). Only the keys that a GR or AN run uses.
_GR_DEFAULT = ([0.0, 2.0, -2.0, -2.0], [0.5, 2.0, 0.8, 0.5], [0.01, 1.0])
_GR_WIDE = ([0.0, 10.0, -2.0, -8.0], [0.5, 2.0, 0.8, 0.5], [0.01, 1.0])
DATASETS = {
    "voc": dict(classes=20, arch="resnet50", epochs=8, batch_size=8, lr=1e-5, image_size=448, gr=_GR_DEFAULT,
                expected_pos=1.5, em_alpha=0.2),
    "coco": dict(classes=80, arch="resnet50", epochs=8, batch_size=16, lr=1e-5, image_size=448, gr=_GR_WIDE,
                 expected_pos=2.9, em_alpha=0.1),
    "nuswide": dict(classes=81, arch="resnet50", epochs=10, batch_size=16, lr=1e-5, image_size=448, gr=_GR_WIDE,
                    expected_pos=1.9, em_alpha=0.1),
    "cub": dict(classes=312, arch="resnet50", epochs=10, batch_size=8, lr=1e-5, image_size=448,
                gr=([0.0, 10.0, -2.0, -8.0], [0.5, 2.0, 0.8, 0.5], [0.01, 1.5]), expected_pos=31.4, em_alpha=0.01),
    "fashion-mosaic": dict(classes=10, arch="resnet18", epochs=6, batch_size=32, lr=3e-4, image_size=64,
                           gr=_GR_DEFAULT, expected_pos=1.76, em_alpha=0.2),
    "toy-shapes": dict(classes=4, arch="resnet18", epochs=2, batch_size=16, lr=1e-3, image_size=32, gr=_GR_DEFAULT,
                       expected_pos=2.0, em_alpha=0.2),
}
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GR_LOG_EPS = 1e-7    # GR: log(x + 1e-7)
COLE_LOG_EPS = 1e-5  # AN (Cole et al.): log(x + 1e-5)
FLIP_SEED_OFFSET = 0x5F1195EED  # flips get their own stream, distinct from the shuffle's


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------- files
def write_atomic(path, data):
    """Writes bytes or text to path through a temporary file in the same folder and os.replace (no torn files)."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path, obj, indent=2):
    # allow_nan=False: JSON has no NaN; a non-finite value here is a bug (training stops on a non-finite loss).
    write_atomic(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def write_npy_atomic(path, array):
    buf = io.BytesIO()
    np.save(buf, array)
    write_atomic(path, buf.getvalue())


# ---------------------------------------------------------------------------------------------------------- order files
ORDER_FORMAT = "spml-order-1"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def read_order_file(path):
    """Reads and checks an order file as framework/data/sample_schedule.cpp does: the format tag, a non-negative
    size, a non-empty list of epochs, each with an "order" that is a permutation of [0, size) and a "flip" of size
    0/1 entries (by dataset row). Returns (size, [(order int64 array, flip bool array by row), ...])."""
    try:
        with open(path, "rb") as f:
            j = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise SystemExit("order file %s: cannot be read (%s)" % (path, e.strerror or e))
    except ValueError as e:
        raise SystemExit("order file %s: not valid JSON (%s)" % (path, e))
    if not isinstance(j, dict) or j.get("format") != ORDER_FORMAT:
        raise SystemExit('order file %s: expected a JSON object with "format": "%s"' % (path, ORDER_FORMAT))
    size = j.get("size")
    if not _is_int(size) or size < 0:
        raise SystemExit('order file %s: "size" must be a non-negative integer' % path)
    epochs = j.get("epochs")
    if not isinstance(epochs, list) or not epochs:
        raise SystemExit('order file %s: "epochs" must be a non-empty array' % path)
    schedule = []
    for epoch, e in enumerate(epochs, start=1):
        if not (isinstance(e, dict) and isinstance(e.get("order"), list) and isinstance(e.get("flip"), list)):
            raise SystemExit('order file %s: epoch %d must be an object with arrays "order" and "flip"' % (path, epoch))
        order, flip = e["order"], e["flip"]
        if len(order) != size or len(flip) != size:
            raise SystemExit("order file %s: epoch %d has %d order and %d flip entries, expected size %d"
                             % (path, epoch, len(order), len(flip), size))
        seen = np.zeros(size, dtype=bool)
        for v in order:
            if not _is_int(v):
                raise SystemExit("order file %s: epoch %d: order entry %s is not an integer"
                                 % (path, epoch, json.dumps(v)))
            if not (0 <= v < size) or seen[v]:
                raise SystemExit("order file %s: epoch %d: order is not a permutation of [0, %d) (entry %d out of "
                                 "range or repeated)" % (path, epoch, size, v))
            seen[v] = True
        for v in flip:
            if not (_is_int(v) and v in (0, 1)):
                raise SystemExit("order file %s: epoch %d: flip entry %s is not 0 or 1" % (path, epoch, json.dumps(v)))
        schedule.append((np.asarray(order, dtype=np.int64), np.asarray(flip, dtype=np.int64) == 1))
    return size, schedule


def check_order_file(path, size, schedule, n_train, epochs):
    """check_sample_schedule: the file fits the train split (after --max-train) and covers --epochs epochs."""
    if size != n_train:
        raise SystemExit("--order-file %s was made for %d training rows, but the train split has %d"
                         % (path, size, n_train))
    if len(schedule) < epochs:
        raise SystemExit("--order-file %s covers %d epochs, but %d are to be trained" % (path, len(schedule), epochs))


def seeded_schedule(n, epochs, seed):
    """The script's own streams, all epochs drawn up front (each generator is used only here, so this is the same
    sequence of draws as drawing epoch by epoch): per epoch a randperm of the shuffle generator, then n uniform
    draws of the flip generator, draw k deciding the image at position k. The flips are returned by row
    (flip[order[k]] = draw k), the order file's form, which mirrors exactly the same images."""
    shuffle_gen = torch.Generator().manual_seed(seed)
    flip_gen = torch.Generator().manual_seed(seed + FLIP_SEED_OFFSET)
    schedule = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=shuffle_gen).numpy().astype(np.int64)
        by_position = (torch.rand(n, generator=flip_gen) < 0.5).numpy()
        flip = np.zeros(n, dtype=bool)
        flip[order] = by_position
        schedule.append((order, flip))
    return schedule


def write_order_file(path, schedule):
    epochs = [{"order": [int(i) for i in order], "flip": [int(f) for f in flip]} for order, flip in schedule]
    write_atomic(path, json.dumps({"format": ORDER_FORMAT, "size": len(schedule[0][0]), "epochs": epochs},
                                  separators=(",", ":")) + "\n")


# ---------------------------------------------------------------------------------------------------------- weights
def load_init_weights(model, path):
    """Loads the parameters and BatchNorm buffers from path, strictly: every model key present (num_batches_tracked
    may be missing: the model's own 0 stays), no other key (a stray num_batches_tracked is ignored), the same
    shapes; floating tensors are cast to the model's dtype, integer ones must stay integer. Checks everything
    before changing the model."""
    try:
        tensors, _ = read_safetensors(path)
    except OSError as e:
        raise SystemExit("--init-weights %s: cannot be read (%s)" % (path, e.strerror or e))
    except ValueError as e:
        raise SystemExit("--init-weights %s: %s" % (path, e))
    own = model.state_dict()
    optional = lambda k: k.rsplit(".", 1)[-1] == "num_batches_tracked"  # noqa: E731
    missing = [k for k in own if k not in tensors and not optional(k)]
    extra = [k for k in tensors if k not in own and not optional(k)]
    if missing:
        raise SystemExit("--init-weights %s: %d model key(s) missing from the file: %s"
                         % (path, len(missing), ", ".join(missing)))
    if extra:
        raise SystemExit("--init-weights %s: %d key(s) the %s model does not have: %s"
                         % (path, len(extra), type(model).__name__, ", ".join(extra)))
    state = {}
    for key, target in own.items():
        if key not in tensors:
            state[key] = target.clone()
            continue
        src = tensors[key]
        if tuple(src.shape) != tuple(target.shape):
            raise SystemExit("--init-weights %s: key '%s' has shape %s in the file but the model expects %s"
                             % (path, key, list(src.shape), list(target.shape)))
        if src.is_floating_point() != target.is_floating_point():
            raise SystemExit("--init-weights %s: key '%s' has dtype %s in the file but the model expects %s"
                             % (path, key, src.dtype, target.dtype))
        state[key] = src.to(target.dtype)
    model.load_state_dict(state, strict=True)
    return sum(1 for k in own if k not in tensors)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------- data
def split_train_val(n, seed=1200):
    """preformatted.cpp's split: perm = RandomState(1200).permutation(n), n_val = round-half-even(0.2 n)."""
    perm = np.random.RandomState(seed).permutation(n)
    n_val = int(np.round(0.2 * n))  # np.round rounds half to even, like nearbyint in the C++
    return np.sort(perm[: n - n_val]), np.sort(perm[n - n_val:])


def read_labels(path, rows):
    a = np.load(path)
    if a.ndim != 2 or a.shape[0] != rows:
        raise SystemExit("%s: expected [%d, C] labels, got shape %s" % (path, rows, a.shape))
    a = a.astype(np.float32)
    if not np.isin(a, (0.0, 1.0)).all():
        raise SystemExit("%s: labels must be 0 or 1" % path)
    return a


def load_preformatted(folder):
    """The six .npy files and dataset.json, as framework/data/preformatted.cpp reads them."""
    meta = {}
    meta_path = os.path.join(folder, "dataset.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    root = meta.get("image_root") or folder
    if not os.path.isabs(root) and meta.get("image_root"):
        root = os.path.join(folder, root)  # a relative image_root is relative to the data folder
    parts = {}
    for part in ("train", "val"):
        paths = np.load(os.path.join(folder, "formatted_%s_images.npy" % part))
        if paths.ndim != 1:
            raise SystemExit("formatted_%s_images.npy: expected a 1-D array of paths" % part)
        labels = read_labels(os.path.join(folder, "formatted_%s_labels.npy" % part), len(paths))
        observed = read_labels(os.path.join(folder, "formatted_%s_labels_obs.npy" % part), len(paths))
        if observed.shape != labels.shape or (observed.sum(1) > 1).any():
            raise SystemExit("formatted_%s_labels_obs.npy: at most one observed positive per row, labels' shape" % part)
        parts[part] = ([str(p) for p in paths], labels, observed)
    classes = parts["train"][1].shape[1]
    if parts["val"][1].shape[1] != classes:
        raise SystemExit("train and val label files disagree in the number of classes")
    names = meta.get("class_names") or ["class_%d" % c for c in range(classes)]
    return parts, root, names, meta.get("name") or os.path.basename(os.path.normpath(folder))


def decode_images(root, paths, size):
    """Decodes every image once into uint8 [N, 3, S, S]: RGB, Pillow bilinear resize to S x S (aspect ignored)
    only when the size differs, as the project's loader does before its per-sample flip and normalisation."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, rel in enumerate(paths):
        with Image.open(os.path.join(root, rel)) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)  # Pillow's bilinear (antialiased when shrinking)
            out[i] = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


class Normaliser:
    """uint8 [B, 3, S, S] -> float32 (v / 255 - mean) / std in float32, the order of ToTensor + Normalize (and of
    the project's lookup table), optionally flipping the rows whose mask is set (horizontal: the width axis)."""

    def __init__(self):
        self.mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, images_u8, flip_mask=None):
        x = images_u8.to(torch.float32).div_(255.0).sub_(self.mean).div_(self.std)
        if flip_mask is not None and bool(flip_mask.any()):
            x[flip_mask] = torch.flip(x[flip_mask], dims=[3])
        return x


# ---------------------------------------------------------------------------------------------------------- losses
def gr_schedule(epoch, epochs, linear_init, beta, alpha, q2q3):
    """GR's (w, b, mu, sigma, q2, q3) of 1-based epoch e (losses/schedule.cpp): beta lags alpha by one epoch."""
    span = float(epochs - linear_init)
    f_beta = max(epoch - linear_init - 1, 0) / span
    f_alpha = max(epoch - linear_init, 0) / span
    return dict(w=beta[0] + (beta[1] - beta[0]) * f_beta, b=beta[2] + (beta[3] - beta[2]) * f_beta,
                mu=alpha[0] + (alpha[2] - alpha[0]) * f_alpha, sigma=alpha[1] + (alpha[3] - alpha[1]) * f_alpha,
                q2=q2q3[0], q3=q2q3[1])


def loss_and_dz(kind, logits, observed, params):
    """Per-entry loss and dl/dz (not yet / N) in the stable closed forms of kernels/common/spml_loss_math.h. K and V
    come from the same p and are constants (no gradient through them)."""
    p = torch.sigmoid(logits)
    pos = observed > 0.5
    one_minus_p = 1.0 - p
    if kind == "gr":
        eps = GR_LOG_EPS
        l_pos = -torch.log(p + eps)
        dz_pos = -one_minus_p * p / (p + eps)
        k = torch.sigmoid(params["w"] * p + params["b"])
        d = (p - params["mu"]) * (1.0 / params["sigma"])
        v = torch.exp(-0.5 * d * d)
        q2, q3 = params["q2"], params["q3"]
        p_q2 = p.pow(q2)
        omp_q3 = one_minus_p.pow(q3)
        l_unobs = v * (k * (1.0 - p_q2) * (1.0 / q2) + (1.0 - k) * (1.0 - omp_q3) * (1.0 / q3))
        dz_unobs = v * (-k * p_q2 * one_minus_p + (1.0 - k) * p * omp_q3)
    elif kind == "an":
        eps = COLE_LOG_EPS
        l_pos = -torch.log(p + eps)
        dz_pos = -one_minus_p * p / (p + eps)
        l_unobs = -torch.log(one_minus_p + eps)
        dz_unobs = p * one_minus_p / (one_minus_p + eps)
    else:
        raise ValueError("unknown loss %r" % kind)
    return torch.where(pos, l_pos, l_unobs), torch.where(pos, dz_pos, dz_unobs)


class SpmlLoss(torch.autograd.Function):
    """Mean over all B x C entries (a short last batch over its own B x C). The backward uses the closed-form
    gradient, finite even where p saturates (autograd through p^q2 gives inf * 0 there)."""

    @staticmethod
    def forward(ctx, logits, observed, kind, params):
        with torch.no_grad():
            loss, dz = loss_and_dz(kind, logits, observed, params)
            ctx.save_for_backward(dz / float(loss.numel()))
            return loss.mean()

    @staticmethod
    def backward(ctx, grad):
        (dz,) = ctx.saved_tensors
        return dz * grad, None, None, None


def spml_loss(kind, logits, observed, params):
    return SpmlLoss.apply(logits, observed, kind, params)


# ---------------------------------------------------------------------------------------------------------- metric
def average_precision(scores, labels):
    """scikit-learn's average_precision_score (framework/metrics/average_precision.cpp): rank by score
    descending, tied scores form one threshold, AP = sum (R_n - R_{n-1}) P_n; 0 for a class without positives."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    positives = labels.sum()
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    seen = np.arange(1, len(y) + 1, dtype=np.float64)
    ends = np.append(s[1:] != s[:-1], True)  # a threshold ends where the next score differs
    recall, precision = tp[ends] / positives, tp[ends] / seen[ends]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def mean_average_precision(scores, labels):
    """Returns (mAP in percent over ALL classes, per-class AP in [0, 1])."""
    per_class = [average_precision(scores[:, c], labels[:, c]) for c in range(labels.shape[1])]
    return 100.0 * float(np.mean(per_class)) if per_class else 0.0, per_class


# ---------------------------------------------------------------------------------------------------------- training
def evaluate(model, images_u8, labels, batch_size, normalise):
    """Eval mode, no flip, dataset order; sigmoid probabilities as float32 (what the project scores)."""
    start = time.perf_counter()
    model.eval()
    probs = np.empty(labels.shape, dtype=np.float32)
    with torch.no_grad():
        for lo in range(0, len(images_u8), batch_size):
            x = normalise(images_u8[lo: lo + batch_size])
            probs[lo: lo + len(x)] = torch.sigmoid(model(x)).numpy()
    m, per_class = mean_average_precision(probs, labels)
    return m, per_class, probs, time.perf_counter() - start


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="PyTorch reference SPML trainer (GR / AN) writing a spml-report run folder",
        allow_abbrev=False)  # an unknown (or abbreviated) flag is an error
    parser.add_argument("--data", required=True, help="pre-formatted data folder")
    parser.add_argument("--out", required=True, help="run folder RUNDIR (refused when it holds test.json)")
    parser.add_argument("--dataset", default="fashion-mosaic", choices=sorted(DATASETS),
                        help="picks spml-train's defaults (default fashion-mosaic)")
    parser.add_argument("--loss", default="gr", choices=("gr", "an"))
    parser.add_argument("--seed", type=int, default=0, help="model init, shuffling, flips")
    parser.add_argument("--epochs", type=int, default=None, help="default: the data set's (fashion-mosaic 6)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the data set's (fashion-mosaic 32)")
    parser.add_argument("--lr", type=float, default=None, help="backbone lr; default: the data set's (3e-4)")
    parser.add_argument("--lr-mult", type=float, default=10.0, help="the head's lr is lr x lr_mult")
    parser.add_argument("--image-size", type=int, default=None, help="default: the data set's (fashion-mosaic 64)")
    parser.add_argument("--arch", default=None, choices=ARCHS, help="default: the data set's (resnet18)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    parser.add_argument("--max-train", type=int, default=0, help="keep the first N train rows after the split")
    parser.add_argument("--linear-init", type=int, default=0, help="epochs with the backbone frozen")
    parser.add_argument("--order-file", default="", metavar="FILE",
                        help="every epoch's sample order and flips from this JSON order file (spml-train's "
                             "--order-file format) instead of the seeded generators")
    parser.add_argument("--save-order", default="", metavar="FILE",
                        help="write the order and flips the seeded generators give this run (all --epochs epochs) "
                             "as an order file before training")
    parser.add_argument("--init-weights", default="", metavar="FILE",
                        help="initial model state (parameters and BatchNorm buffers, torchvision keys) from this "
                             "safetensors file instead of the seeded random init (spml-train's --weights)")
    parser.add_argument("--save-init", default="", metavar="FILE",
                        help="write the seeded initial model state as safetensors before training "
                             "(for spml-train --weights)")
    args = parser.parse_args(argv)
    d = DATASETS[args.dataset]
    for key in ("epochs", "batch_size", "lr", "image_size", "arch"):
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    checks = [(args.epochs >= 1, "--epochs must be >= 1"),
              (0 <= args.linear_init < args.epochs, "--linear-init must be in [0, --epochs)"),
              (args.batch_size >= 1, "--batch-size must be >= 1"),
              (args.lr > 0 and np.isfinite(args.lr), "--lr must be positive"),
              (args.lr_mult > 0 and np.isfinite(args.lr_mult), "--lr-mult must be positive"),
              (16 <= args.image_size <= 4096, "--image-size must be in [16, 4096]"),
              (args.threads >= 0, "--threads must be >= 0"), (args.max_train >= 0, "--max-train must be >= 0"),
              (args.seed >= 0, "--seed must be >= 0"),
              (not (args.order_file and args.save_order),
               "--save-order writes the seeded order: it cannot be combined with --order-file"),
              (not (args.init_weights and args.save_init),
               "--save-init writes the seeded init: it cannot be combined with --init-weights")]
    for ok, message in checks:
        if not ok:
            parser.error(message)
    return args


def config_json(args):
    """config.json in spml-train's TrainConfig form (keys = its flag names with underscores), so spml-report reads
    it and `spml-train --config RUNDIR/config.json` would run the same settings in the project."""
    d = DATASETS[args.dataset]
    beta, alpha, q2q3 = d["gr"]
    return {"dataset": args.dataset, "data": args.data, "images": "", "arch": args.arch, "width": 64,
            "weights": args.init_weights, "loss": args.loss, "epochs": args.epochs, "batch_size": args.batch_size,
            "lr": args.lr, "lr_mult": args.lr_mult, "linear_init": args.linear_init, "beta": beta, "alpha": alpha,
            "q2q3": q2q3, "expected_pos": d["expected_pos"], "em_alpha": d["em_alpha"],
            "image_size": args.image_size, "device": "cpu", "seed": args.seed, "out": args.out,
            "deterministic": False, "threads": args.threads, "workers": 0, "max_train": args.max_train,
            "cpu_kernels": "", "order_file": args.order_file}


def write_epoch_files(out, history):
    lines = [json.dumps(r, allow_nan=False) for r in history]
    write_atomic(os.path.join(out, "metrics.jsonl"), "".join(line + "\n" for line in lines))
    csv = "epoch,train_loss,val_mAP,seconds,images_per_s\n" + "".join(
        "%d,%.10g,%.10g,%.10g,%.10g\n" % (r["epoch"], r["train_loss"], r["val_mAP"], r["seconds"], r["images_per_s"])
        for r in history)
    write_atomic(os.path.join(out, "metrics.csv"), csv)


def main(argv=None):
    wall_start = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.path.exists(os.path.join(args.out, "test.json")):
        raise SystemExit("--out %s already holds a finished run (test.json): choose another --out" % args.out)
    torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))

    # ---- data: the 80/20 split of formatted_train, test = formatted_val, --max-train after the split
    parts, image_root, class_names, data_name = load_preformatted(args.data)
    train_paths, train_labels, train_observed = parts["train"]
    test_paths, test_labels, _ = parts["val"]
    classes = train_labels.shape[1]
    if classes != DATASETS[args.dataset]["classes"]:
        raise SystemExit("--data %s holds %d classes but --dataset %s has %d"
                         % (args.data, classes, args.dataset, DATASETS[args.dataset]["classes"]))
    train_rows, val_rows = split_train_val(len(train_paths))
    if 0 < args.max_train < len(train_rows):
        train_rows = train_rows[: args.max_train]
    if len(train_rows) == 0 or len(val_rows) == 0 or len(test_paths) == 0:
        raise SystemExit("--data %s: the train, val and test splits must not be empty" % args.data)
    n_train = len(train_rows)

    # ---- every epoch's order and flips (by row): the order file's, or the seeded generators'. Read and checked
    # before anything is written into the run folder, so a bad order file leaves no half-made run.
    if args.order_file:
        size, schedule = read_order_file(args.order_file)
        check_order_file(args.order_file, size, schedule, n_train, args.epochs)
        schedule = schedule[: args.epochs]
    else:
        schedule = seeded_schedule(n_train, args.epochs, args.seed)

    # ---- model: torchvision ResNet from its seeded random init, or the state in --init-weights
    torch.manual_seed(args.seed)
    model = getattr(torchvision.models, args.arch)(num_classes=classes)
    weights_sha256 = ""
    if args.init_weights:
        kept = load_init_weights(model, args.init_weights)
        weights_sha256 = sha256_file(args.init_weights)
        log("weights: %s (sha256 %s)%s" % (args.init_weights, weights_sha256,
                                           ", %d num_batches_tracked absent (0 kept)" % kept if kept else ""))

    os.makedirs(args.out, exist_ok=True)
    if os.path.exists(os.path.join(args.out, "config.json")):
        log("note: %s holds an unfinished run: starting it again from scratch" % args.out)
    for stale in ("metrics.jsonl", "metrics.csv"):  # an unfinished earlier attempt's history is not this run's
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))
    config = config_json(args)
    write_json_atomic(os.path.join(args.out, "config.json"), config)
    record = {"implementation": "pytorch-reference", "config": config, "torch": torch.__version__,
              "torchvision": torchvision.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
              "python": platform.python_version(), "device": "cpu", "threads": torch.get_num_threads(),
              "random_init": not args.init_weights, "weights": args.init_weights, "weights_sha256": weights_sha256,
              "order_file": args.order_file, "save_order": args.save_order, "save_init": args.save_init,
              "command": [sys.executable] + sys.argv,
              "started": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_json_atomic(os.path.join(args.out, "run.json"), record)
    for path in (args.save_order, args.save_init):
        if path and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
    if args.save_order:  # exactly what this run then uses
        write_order_file(args.save_order, schedule)
        log("order: %d epochs of %d rows written to %s" % (len(schedule), n_train, args.save_order))
    if args.save_init:
        write_safetensors(args.save_init, {k: v.detach().clone() for k, v in model.state_dict().items()},
                          {"source": "torch_reference_train.py", "arch": args.arch, "seed": args.seed})
        log("init: the seeded initial state written to %s" % args.save_init)

    decode_start = time.perf_counter()
    needed = np.union1d(train_rows, val_rows)  # decode only what the run uses (--max-train cuts the train rows)
    decoded = decode_images(image_root, [train_paths[i] for i in needed], args.image_size)
    position = {int(r): i for i, r in enumerate(needed)}
    train_u8 = decoded[[position[int(r)] for r in train_rows]]
    val_u8 = decoded[[position[int(r)] for r in val_rows]]
    del decoded
    test_u8 = decode_images(image_root, test_paths, args.image_size)
    decode_seconds = time.perf_counter() - decode_start
    train_obs = torch.from_numpy(train_observed[train_rows])
    val_labels = train_labels[val_rows]
    log("data: %s (%s): %d train / %d val / %d test images, %d classes%s; decoded in %.1f s"
        % (args.data, data_name, n_train, len(val_rows), len(test_paths), classes,
           " (train cut to --max-train %d)" % args.max_train if args.max_train > 0 else "", decode_seconds))

    # ---- optimiser: Adam, backbone at lr, head fc at lr x lr_mult
    head = list(model.fc.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    adam = torch.optim.Adam([{"params": backbone, "lr": args.lr}, {"params": head, "lr": args.lr * args.lr_mult}],
                            betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    beta, alpha, q2q3 = DATASETS[args.dataset]["gr"]
    normalise = Normaliser()
    steps = (n_train + args.batch_size - 1) // args.batch_size  # drop_last False
    log("training %s (torchvision %s, torch %s, %d threads) with loss %s: %d epochs x %d steps of %d, lr %g "
        "(head x%g), linear_init %d, %s, %s"
        % (args.arch, torchvision.__version__, torch.__version__, torch.get_num_threads(), args.loss, args.epochs,
           steps, args.batch_size, args.lr, args.lr_mult, args.linear_init,
           "init from %s" % args.init_weights if args.init_weights else "random init seed %d" % args.seed,
           "order file %s" % args.order_file if args.order_file else "seeded order and flips (seed %d)" % args.seed))

    history, best_val, best_epoch, best_state, stopped_early = [], None, 0, None, False
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        frozen = epoch <= args.linear_init
        for p in backbone:  # a frozen backbone gets no grad, so Adam keeps no state for it until it unfreezes
            p.requires_grad_(not frozen)
        model.train()  # BatchNorm statistics update during linear_init too
        params = gr_schedule(epoch, args.epochs, args.linear_init, beta, alpha, q2q3)
        phases = dict(data=0.0, forward=0.0, loss=0.0, backward=0.0, optimizer=0.0, eval=0.0)
        order = torch.from_numpy(schedule[epoch - 1][0])
        flips = torch.from_numpy(schedule[epoch - 1][1])  # by dataset row, as in the order file
        loss_sum, train_start = 0.0, time.perf_counter()
        for step in range(steps):
            t0 = time.perf_counter()
            idx = order[step * args.batch_size: (step + 1) * args.batch_size]
            x = normalise(train_u8[idx], flips[idx])
            y = train_obs[idx]
            t1 = time.perf_counter()
            logits = model(x)
            t2 = time.perf_counter()
            loss = spml_loss(args.loss, logits, y, params)
            value = float(loss.detach())
            if not (np.isfinite(value) and np.isfinite(float(logits.detach().sum()))):
                raise SystemExit("training stopped: the %s loss is %s (logits finite: %s) at epoch %d, step %d of %d"
                                 % (args.loss, value, bool(torch.isfinite(logits).all()), epoch, step + 1, steps))
            t3 = time.perf_counter()
            adam.zero_grad(set_to_none=True)
            loss.backward()
            t4 = time.perf_counter()
            adam.step()
            t5 = time.perf_counter()
            for key, dt in zip(("data", "forward", "loss", "backward", "optimizer"),
                               (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                phases[key] += dt
            loss_sum += value * len(idx)  # the epoch's loss: mean over images of the batch means
        train_seconds = time.perf_counter() - train_start
        val_map, _, _, val_seconds = evaluate(model, val_u8, val_labels, args.batch_size, normalise)
        phases["eval"] = val_seconds
        improved = best_epoch == 0 or val_map > best_val  # strict improvement; the first epoch always sets it
        if improved:
            best_val, best_epoch = val_map, epoch
            best_state = copy.deepcopy(model.state_dict())  # weights + BatchNorm running statistics
        seconds = time.perf_counter() - epoch_start
        history.append({"epoch": epoch, "train_loss": loss_sum / n_train, "val_mAP": val_map, "seconds": seconds,
                        "images_per_s": n_train / train_seconds if train_seconds > 0 else 0.0,
                        "phase_seconds": phases})
        write_epoch_files(args.out, history)
        log("epoch %d/%d%s: train_loss %.4f, val_mAP %.2f %s, %.1f s, %.1f img/s"
            % (epoch, args.epochs, " (backbone frozen)" if frozen else "", history[-1]["train_loss"], val_map,
               "(best)" if improved else "(best %.2f @ %d)" % (best_val, best_epoch), seconds,
               history[-1]["images_per_s"]))
        if best_val - val_map > 2.0:  # early stop: more than 2 mAP points below the best
            stopped_early = True
            log("early stop: val mAP %.2f is more than 2 points below the best %.2f (epoch %d)"
                % (val_map, best_val, best_epoch))
            break

    # ---- test once with the best epoch's weights
    model.load_state_dict(best_state)
    test_map, per_class, test_probs, test_seconds = evaluate(model, test_u8, test_labels, args.batch_size, normalise)
    seconds_total = sum(r["seconds"] for r in history)
    write_npy_atomic(os.path.join(args.out, "test_probabilities.npy"), test_probs)
    test = {"test_mAP": test_map, "per_class_AP": per_class, "best_epoch": best_epoch, "best_val_mAP": best_val,
            "epochs_run": len(history), "stopped_early": stopped_early, "seconds_total": seconds_total,
            "test_seconds": test_seconds, "test_images": len(test_paths), "class_names": list(class_names),
            "dataset": args.dataset, "arch": args.arch, "loss": args.loss, "seed": args.seed,
            "implementation": "pytorch-reference", "torch_version": torch.__version__,
            "torchvision_version": torchvision.__version__, "decode_seconds": decode_seconds,
            "wall_seconds": time.perf_counter() - wall_start}
    write_json_atomic(os.path.join(args.out, "test.json"), test)
    log("test mAP %.2f (best epoch %d, val mAP %.2f); %s written"
        % (test_map, best_epoch, best_val, os.path.join(args.out, "test.json")))


if __name__ == "__main__":
    main()
