#!/usr/bin/python3
# Training-trajectory golden files for tests/test_trajectory.cpp: PyTorch runs the SPML protocol step for step on a
# tiny fixed data set, and the C++ test replays the same run through spml-train's code path (run_training with its
# TrainingStep, loader, schedule and Adam groups) and compares every step.
#
# What it fixes and stores under tests/data/trajectory/:
#   data/           a toy-shapes-style pre-formatted folder: 80 train rows (-> 64 train / 16 val by the project's
#                   80/20 split), 16 test rows, 4 classes, 32 px PNG canvases (lossless, so decoding is exact)
#   order.json      every epoch's sample order and flips (framework/data/sample_schedule.h's format)
#   init.safetensors  the initial weights of a width-8 torchvision ResNet-18 (its real blocks and BatchNorm)
#   <case>_<dtype>.safetensors  per case and dtype: step_loss [steps], val_map [epochs], best_epoch, test_map,
#                   the final state under the names last.ckpt gives it ("model.net.*" parameters and BN running
#                   statistics, "optim.<group>.<i>.exp_avg/exp_avg_sq"), each as "<name>:sample" (64 elements at an
#                   even stride) and "<name>:norm" (its L2 norm over all elements), "optim.<group>.<i>.step",
#                   final_probabilities [16, 4] (eval mode, the final weights) and best_probabilities [16, 4] (the
#                   best epoch's weights: what test.json scores)
# Cases: gr (6 epochs of 4 steps: GR's K and V change at every epoch boundary), an (3 epochs), gr_linear_init
# (3 epochs, the first with the backbone frozen: BN statistics still move, the backbone's Adam state starts at
# epoch 2). Each in float64 (the C++ run must match to ~1e-10) and float32 (rounding-level agreement).
#
# Run with Debian's interpreter: /usr/bin/python3 scripts/make_trajectory_golden.py [--out tests/data/trajectory]
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.models import resnet as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision_weights import write_safetensors  # noqa: E402
from make_golden import reduced_resnet  # noqa: E402
from torch_reference_train import (DATASETS, Normaliser, gr_schedule, mean_average_precision,  # noqa: E402
                                   spml_loss, split_train_val)

CLASSES, SIZE, WIDTH, BATCH = 4, 32, 8, 16
SAMPLE = 64
N_TRAIN_ROWS, N_TEST = 80, 16
LR, LR_MULT, MAX_EPOCHS = 3e-4, 10.0, 6
CASES = {"gr": dict(loss="gr", epochs=6, linear_init=0),
         "an": dict(loss="an", epochs=3, linear_init=0),
         "gr_linear_init": dict(loss="gr", epochs=3, linear_init=1)}


def make_images(rng, labels):
    """Class c paints a coloured square in quadrant c over noise, so the model has something to learn."""
    colours = [(230, 40, 40), (40, 200, 60), (50, 70, 230), (230, 210, 40)]
    images = []
    for row in labels:
        img = rng.randint(0, 90, size=(SIZE, SIZE, 3)).astype(np.uint8)
        for c in np.flatnonzero(row):
            y0, x0 = (c // 2) * 16 + rng.randint(0, 5), (c % 2) * 16 + rng.randint(0, 5)
            img[y0:y0 + 10, x0:x0 + 8] = colours[c]  # not square: flips change the input
        images.append(img)
    return images


def make_labels(rng, n):
    labels = np.zeros((n, CLASSES), dtype=np.float32)
    for i in range(n):
        labels[i, rng.choice(CLASSES, size=rng.randint(1, 3), replace=False)] = 1
    observed = np.zeros_like(labels)
    for i in range(n):
        observed[i, rng.choice(np.flatnonzero(labels[i]))] = 1
    return labels, observed


def write_data(out, rng):
    folder = os.path.join(out, "data")
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    parts = {}
    for part, n in (("train", N_TRAIN_ROWS), ("val", N_TEST)):
        labels, observed = make_labels(rng, n)
        paths = []
        for i, img in enumerate(make_images(rng, labels)):
            paths.append("%s_%02d.png" % (part, i))
            Image.fromarray(img).save(os.path.join(folder, "images", paths[-1]))
        np.save(os.path.join(folder, "formatted_%s_images.npy" % part), np.array(paths))
        np.save(os.path.join(folder, "formatted_%s_labels.npy" % part), labels)
        np.save(os.path.join(folder, "formatted_%s_labels_obs.npy" % part), observed)
        u8 = torch.from_numpy(np.stack(make_u8(folder, paths))).permute(0, 3, 1, 2).contiguous()
        parts[part] = (u8, labels, observed)
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump({"name": "trajectory", "class_names": ["red", "green", "blue", "yellow"], "image_root": "images"},
                  f, indent=2)
    return parts


def make_u8(folder, paths):
    return [np.asarray(Image.open(os.path.join(folder, "images", p)).convert("RGB")) for p in paths]


def make_model():
    torch.manual_seed(7)
    model = reduced_resnet(tv.BasicBlock, [2, 2, 2, 2], WIDTH, CLASSES)
    for m in model.modules():  # torchvision's own initialisation
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


def sample(t):
    """SAMPLE elements of the flattened tensor at a stride of max(1, n // SAMPLE) (all of a small one)."""
    flat = t.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // SAMPLE)][:SAMPLE].clone()


def evaluate(model, u8, labels, normalise, dtype):
    model.eval()
    with torch.no_grad():
        probs = torch.cat([torch.sigmoid(model(normalise(u8[lo:lo + BATCH]).to(dtype)))
                           for lo in range(0, len(u8), BATCH)]).to(torch.float32).numpy()
    return mean_average_precision(probs, labels)[0], probs


def run_case(case, dtype, init_model, train, val, test, schedule):
    """The protocol of training/trainer.cpp: per epoch freeze/unfreeze, train mode, GR's epoch settings; per step
    forward, mean loss, zero_grad, backward, Adam step; per epoch val mAP, best on strict improvement, early stop."""
    model = copy.deepcopy(init_model).to(dtype)
    head_ids = {id(p) for p in model.fc.parameters()}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    head = list(model.fc.parameters())
    adam = torch.optim.Adam([{"params": backbone, "lr": LR}, {"params": head, "lr": LR * LR_MULT}])
    beta, alpha, q2q3 = DATASETS["toy-shapes"]["gr"]
    normalise = Normaliser()
    (train_u8, _, train_obs), (val_u8, val_labels) = train, val
    losses, val_maps, best, best_epoch, best_state = [], [], None, 0, None
    for epoch in range(1, case["epochs"] + 1):
        for p in backbone:
            p.requires_grad_(epoch > case["linear_init"])
        model.train()
        params = gr_schedule(epoch, case["epochs"], case["linear_init"], beta, alpha, q2q3)
        order, flips = schedule[epoch - 1]["order"], schedule[epoch - 1]["flip"]
        for lo in range(0, len(order), BATCH):
            idx = torch.tensor(order[lo:lo + BATCH])
            mask = torch.tensor([bool(flips[i]) for i in order[lo:lo + BATCH]])
            x = normalise(train_u8[idx], mask).to(dtype)  # float32 normalisation, as the loader's, then cast
            loss = spml_loss(case["loss"], model(x), torch.from_numpy(train_obs)[idx].to(dtype), params)
            losses.append(float(loss))
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
        val_map, _ = evaluate(model, val_u8, val_labels, normalise, dtype)
        val_maps.append(val_map)
        if best_epoch == 0 or val_map > best:
            best, best_epoch, best_state = val_map, epoch, copy.deepcopy(model.state_dict())
        if best - val_map > 2.0:
            break
    out = {"step_loss": torch.tensor(losses, dtype=torch.float64),
           "val_map": torch.tensor(val_maps, dtype=torch.float64),
           "best_epoch": torch.tensor(best_epoch, dtype=torch.int64)}
    final = {"model.net." + n: t for n, t in model.state_dict().items()}
    for group, params in (("backbone", backbone), ("head", head)):
        for i, p in enumerate(params):
            state = adam.state.get(p, {})
            out["optim.%s.%d.step" % (group, i)] = torch.tensor(int(state["step"]) if state else 0)
            if state:
                final["optim.%s.%d.exp_avg" % (group, i)] = state["exp_avg"]
                final["optim.%s.%d.exp_avg_sq" % (group, i)] = state["exp_avg_sq"]
    for key, t in final.items():  # a strided sample of every tensor, and its norm over all elements (small files)
        out[key + ":sample"] = sample(t)
        out[key + ":norm"] = t.detach().double().norm()
    test_u8, test_labels = test
    _, out["final_probabilities"] = evaluate(model, test_u8, test_labels, normalise, dtype)
    model.load_state_dict(best_state)
    test_map, out["best_probabilities"] = evaluate(model, test_u8, test_labels, normalise, dtype)
    out["test_map"] = torch.tensor(test_map, dtype=torch.float64)
    out["final_probabilities"] = torch.from_numpy(out["final_probabilities"])
    out["best_probabilities"] = torch.from_numpy(out["best_probabilities"])
    return out, losses, val_maps, best_epoch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "trajectory"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.RandomState(2)
    parts = write_data(args.out, rng)
    train_rows, val_rows = split_train_val(N_TRAIN_ROWS)
    u8, labels, observed = parts["train"]
    train = (u8[torch.from_numpy(train_rows)], labels[train_rows], observed[train_rows])
    val = (u8[torch.from_numpy(val_rows)], labels[val_rows])
    test = (parts["val"][0], parts["val"][1])

    n = len(train_rows)
    schedule = [{"order": [int(i) for i in rng.permutation(n)], "flip": [int(b) for b in rng.randint(0, 2, n)]}
                for _ in range(MAX_EPOCHS)]
    with open(os.path.join(args.out, "order.json"), "w") as f:
        json.dump({"format": "spml-order-1", "size": n, "epochs": schedule}, f)

    init_model = make_model()
    init = {k: v.detach().clone() for k, v in init_model.state_dict().items()}
    write_safetensors(os.path.join(args.out, "init.safetensors"), init, {"source": "make_trajectory_golden.py"})
    for name, case in CASES.items():
        for dtype, tag in ((torch.float64, "float64"), (torch.float32, "float32")):
            out, losses, val_maps, best_epoch = run_case(case, dtype, init_model, train, val, test, schedule)
            write_safetensors(os.path.join(args.out, "%s_%s.safetensors" % (name, tag)), out,
                              {"case": name, "dtype": tag, "torch": torch.__version__})
            print("%s %s: %d steps, loss %.6f -> %.6f, val mAP %s, best epoch %d, test mAP %.2f"
                  % (name, tag, len(losses), losses[0], losses[-1], " ".join("%.2f" % v for v in val_maps),
                     best_epoch, float(out["test_map"])))


if __name__ == "__main__":
    main()
