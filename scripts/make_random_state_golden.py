#!/usr/bin/python3
"""Prints the NumPy (legacy RandomState, numpy 1.24) values that tests/test_data_preformatted.cpp embeds as
constants: raw MT19937 outputs, random_interval, shuffle, permutation, the SPML split and observed labels.
Run with Debian's /usr/bin/python3 (numpy 1.24)."""
import numpy as np


def c_list(values):
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def observe_single_positive(labels, seed=1200):
    # Cole et al.'s observe_uniform(num_pos=1, num_neg=0): shuffle positives keep 1, shuffle negatives keep 0.
    rng = np.random.RandomState(seed)
    obs = np.zeros_like(labels)
    for i in range(labels.shape[0]):
        idx = np.nonzero(labels[i, :] == 1)[0]
        rng.shuffle(idx)
        obs[i, idx[:1]] = 1
        idx = np.nonzero(labels[i, :] != 1)[0]
        rng.shuffle(idx)
    return obs


def split(n, seed=1200):
    perm = np.random.RandomState(seed).permutation(n)
    n_val = int(np.round(0.2 * n))
    return np.sort(perm[:n - n_val]), np.sort(perm[n - n_val:])


print("numpy", np.__version__)
rs = np.random.RandomState(1200)
print("raw32 seed 1200:", c_list(rs.randint(0, 2**32, size=8, dtype=np.uint64)))
rs = np.random.RandomState(0)
print("raw32 seed 0:", c_list(rs.randint(0, 2**32, size=4, dtype=np.uint64)))
rs = np.random.RandomState(4294967295)
print("raw32 seed 2^32-1:", c_list(rs.randint(0, 2**32, size=4, dtype=np.uint64)))
print("random_sample seed 1200:", repr(list(np.random.RandomState(1200).random_sample(3))))
print("permutation(10):", c_list(np.random.RandomState(1200).permutation(10)))
p = np.random.RandomState(1200).permutation(5717)
print("permutation(5717) first:", c_list(p[:10]), "last:", c_list(p[-10:]),
      "checksum sum(i*p[i]):", int(np.sum(np.arange(5717, dtype=np.int64) * p)))
for n in (1, 2, 3, 20):
    x = np.arange(n, dtype=np.int64) * 10 + 7
    rs = np.random.RandomState(1200)
    rs.shuffle(x)
    after = rs.randint(0, 2**32, dtype=np.uint64)
    print("shuffle", n, c_list(x), "next raw:", after)
# Legacy randint(0, max + 1, dtype=uint64) draws like random_interval(max): masked rejection of 32-bit outputs
# (64-bit outputs, hi << 32 | lo, when max > 2**32 - 1); shuffle itself is checked separately above.
for m in (1, 2, 5, 255, 256, 1000, 4294967295, 2**40 + 12345):
    rs = np.random.RandomState(1200)
    vals = [int(rs.randint(0, m + 1, dtype=np.uint64)) for _ in range(6)]
    print("randint(0, max+1) max", m, c_list(vals))
rs = np.random.RandomState(7)
labels = (rs.random_sample((12, 6)) < 0.35).astype(np.float32)
labels[3, :] = 0
labels[5, :] = 1
print("labels:", c_list(labels.ravel()))
print("observed:", c_list(observe_single_positive(labels).ravel()))
for n in (10, 5717):
    tr, va = split(n)
    print("split", n, len(tr), len(va), "val" if n == 10 else "val first 10", c_list(va[:10]),
          "train sum", int(tr.sum()), "val sum", int(va.sum()))
# A larger matrix the C++ test regenerates with its own random_sample: observed column per row (-1 = none).
rs = np.random.RandomState(11)
labels = (rs.random_sample((40, 20)) < 0.15).astype(np.float32)
obs = observe_single_positive(labels)
print("40x20 positives per row:", c_list(labels.sum(1)))
print("40x20 observed column:", c_list([int(np.argmax(r)) if r.any() else -1 for r in obs]))
