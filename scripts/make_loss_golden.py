#!/usr/bin/python3
# Prints the hand-computed SPML loss values of tests/test_losses.cpp for a fixed 2 x 3 batch, applying docs/method.md's
# formulas literally in plain Python floats (no framework): mean over B*C, log(x + eps) with eps = 1e-5 for the
# Cole et al. baselines and 1e-7 for GR; GR at epoch 1 of the defaults (T = 8, n = 0); k = 1.5; EM alpha = 0.2.
import math

Z = [[0.5, -1.0, 2.0], [-0.3, 1.5, 0.0]]
Y = [[1, 0, 0], [0, 0, 1]]
G = [[1.0, -0.5, 0.2], [0.3, -1.2, 0.8]]
K_POS, EM_ALPHA = 1.5, 0.2
W, B, MU, SIGMA, Q2, Q3 = 0.0, -2.0, 0.5375, 1.8125, 0.01, 1.0
E = 1e-5


def sig(x):
    return 1 / (1 + math.exp(-x))


def nlog(x, eps=E):
    return -math.log(x + eps)


P = [[sig(z) for z in row] for row in Z]
Q = [[sig(g) for g in row] for row in G]
ROWS, COLS = 2, 3
N = ROWS * COLS


def mean_loss(f):
    return sum(f(P[b][c], Y[b][c], b, c) for b in range(ROWS) for c in range(COLS)) / N


def reg(X):
    return (sum(sum(row) for row in X) / ROWS - K_POS) ** 2 / COLS**2


def gr(p, y, b, c):
    if y:
        return nlog(p, 1e-7)
    k = sig(W * p + B)
    v = math.exp(-0.5 * ((p - MU) / SIGMA) ** 2)
    return v * (k * (1 - p**Q2) / Q2 + (1 - k) * (1 - (1 - p) ** Q3) / Q3)


def entropy(p):
    return -p * math.log(p + E) - (1 - p) * math.log(1 - p + E)


def role(p, y, b, c):
    q = Q[b][c]
    value = 0.5 * (q * nlog(p) + (1 - q) * nlog(1 - p) + p * nlog(q) + (1 - p) * nlog(1 - q))
    if y:
        value += 0.5 * (nlog(p) + nlog(q))
    return value


values = {
    "gr": mean_loss(gr),
    "an": mean_loss(lambda p, y, b, c: nlog(p) if y else nlog(1 - p)),
    "an_ls": mean_loss(lambda p, y, b, c: 0.9 * nlog(p) + 0.1 * nlog(1 - p) if y else 0.9 * nlog(1 - p) + 0.1 * nlog(p)),
    "wan": mean_loss(lambda p, y, b, c: nlog(p) if y else nlog(1 - p) / (COLS - 1)),
    "epr": mean_loss(lambda p, y, b, c: nlog(p) if y else 0.0) + reg(P),
    "em": mean_loss(lambda p, y, b, c: nlog(p) if y else -EM_ALPHA * entropy(p)),
    "role": mean_loss(role) + 0.5 * (reg(P) + reg(Q)),
}
for name, value in values.items():
    print(f"{name}: {value!r}")
