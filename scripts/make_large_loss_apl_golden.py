#!/usr/bin/python3
# Golden values of tests/test_losses.cpp's LargeLoss* and EmApl* tests, from Debian's python3-torch in float64: the
# LL-R / LL-Ct / LL-Cp losses (BCE with logits, the large-loss entries picked with torch.topk and treated as
# docs/method.md section 5.2 says) and EM+APL's loss with its pseudo-labelled entries, each with dL/dz from autograd;
# EM+APL's after-epoch pass on a small probability matrix (numpy's stable argsort, two passes); and LL's k per epoch
# (the clean rate lowered by delta_rel once per epoch in float64). Run: /usr/bin/python3 scripts/make_large_loss_apl_golden.py
import math

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

Z = [[0.5, -1.0, 2.0, 0.3], [-0.3, 1.5, 0.0, -2.2], [1.1, -0.7, 0.9, 2.5]]
Y = [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def fmt(values):
    return ", ".join(repr(float(v)) for v in values)


def large_loss(scheme, k):
    z = torch.tensor(Z, requires_grad=True)
    y = torch.tensor(Y, dtype=torch.float64)
    an = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    toward_one = F.binary_cross_entropy_with_logits(z, torch.ones_like(y), reduction="none")
    unobserved = y == 0
    if k == 0:
        matrix = an
    else:
        unobserved_loss = torch.where(unobserved, an, torch.zeros_like(an)).detach()
        threshold = torch.topk(unobserved_loss.flatten(), k).values[-1]
        selected = unobserved & (unobserved_loss >= threshold)
        if scheme == "ll_r":
            matrix = torch.where(selected, torch.zeros_like(an), an)
        else:  # ll_ct, ll_cp: the selected entries train toward 1
            matrix = torch.where(selected, toward_one, an)
    loss = matrix.mean()
    loss.backward()
    return loss.item(), z.grad.flatten().tolist()


for scheme in ("ll_r", "ll_ct"):
    for k in (0, 3):
        value, grad = large_loss(scheme, k)
        print(f"{scheme} k={k}: loss {value!r}")
        print(f"  dz {{{fmt(grad)}}}")

# EM + APL: t = -1 where not pseudo-labelled, else the soft target s.
T = [[-1, 0.3, -1, -1], [-1, -1, -1, 0.05], [0.6, -1, -1, -1]]
ALPHA, BETA, EPS = 0.2, 0.5, 1e-5


def nlog(x):
    return -torch.log(x + EPS)


z = torch.tensor(Z, requires_grad=True)
p = torch.sigmoid(z)
y = torch.tensor(Y, dtype=torch.float64)
t = torch.tensor(T)
soft = (t >= 0) & (y == 0)
s = torch.where(soft, t, torch.zeros_like(t))
em_unobserved = -ALPHA * (p * nlog(p) + (1 - p) * nlog(1 - p))
pseudo = BETA * (s * nlog(p) + (1 - s) * nlog(1 - p))
matrix = torch.where(y == 1, nlog(p), torch.where(soft, pseudo, em_unobserved))
loss = matrix.mean()
loss.backward()
print(f"em_apl alpha={ALPHA} beta={BETA}: loss {loss.item()!r}")
print(f"  dz {{{fmt(z.grad.flatten().tolist())}}}")

# EM+APL's pass: 6 rows x 3 classes, T = 4 epochs, warm-up 2; two passes with different probabilities.
OBS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 0]])
P1 = np.array([[0.9, 0.25, 0.125], [0.5, 0.75, 0.0625], [0.0625, 0.25, 0.5],
               [0.125, 0.03125, 0.875], [0.8, 0.5, 0.25], [0.0625, 0.375, 0.3125]], dtype=np.float32)
P2 = np.array([[0.9, 0.125, 0.5], [0.0078125, 0.75, 0.25], [0.25, 0.0625, 0.015625],
               [0.5, 0.5, 0.875], [0.8, 0.0625, 0.125], [0.375, 0.25, 0.0625]], dtype=np.float32)
EPOCHS, WARMUP = 4, 2
targets = np.full(OBS.shape, -1.0, dtype=np.float32)
unobserved_at_start = (OBS == 0).sum(axis=0)
for probabilities in (P1, P2):
    for c in range(OBS.shape[1]):
        quota = int(0.9 * unobserved_at_start[c] / (EPOCHS - WARMUP))
        rows = np.flatnonzero((OBS[:, c] == 0) & (targets[:, c] < 0))
        order = np.argsort(probabilities[rows, c], kind="stable")[:quota]
        targets[rows[order], c] = probabilities[rows[order], c]
    print(f"apl targets {{{fmt(targets.flatten())}}}")


def k_of(scheme, epoch, delta_percent, entries):
    if epoch == 1:
        return 0
    delta = delta_percent / 100
    if scheme == "ll_cp":
        return math.ceil(entries * delta)
    clean_rate = 1.0
    for _ in range(epoch - 1):
        clean_rate -= delta
    return min(entries, math.ceil(entries * (1 - clean_rate)))


for scheme, delta, entries, epochs in (("ll_r", 1.0, 320, 6), ("ll_ct", 0.2, 1280, 10), ("ll_cp", 0.2, 1280, 3),
                                       ("ll_r", 0.3, 100, 10)):
    print(f"k {scheme} delta {delta} entries {entries}: {[k_of(scheme, e, delta, entries) for e in range(1, epochs + 1)]}")
