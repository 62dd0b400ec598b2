#!/usr/bin/python3
# Golden values of the ranking metrics (docs/method.md section 9.1) for tests/test_metrics.cpp: a fixed 40 x 7 score
# matrix with tied scores, its clean labels (an all-zero row, an all-zero class) and single-positive observed labels,
# written as .npy into tests/data/golden/ranking_metrics_{scores,labels,observed}.npy. The metrics are computed
# literally with numpy (ranking = np.argsort(kind="stable")[::-1], so tied scores put the higher class index first)
# and mAP with scikit-learn's average_precision_score (a class without positives counts as AP 0); they are printed as
# C++ literals, pasted into tests/test_metrics.cpp. The tests need no Python.
# Run: /usr/bin/python3 scripts/make_ranking_metrics_golden.py
import os

import numpy as np
from sklearn.metrics import average_precision_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")
N, C, KS = 40, 7, (1, 3, 5)

rng = np.random.RandomState(2024)
scores = rng.rand(N, C)
scores[:20] = np.round(scores[:20], 1)  # coarse scores: ties inside rows and across rows
scores[20] = 0.5  # one row tied throughout: its ranking is 6, 5, ..., 0
scores[21, [1, 2, 4, 6]] = 0.999  # a tie of four at the top of an otherwise fine-grained row
labels = (rng.rand(N, C) < 0.35).astype(np.float64)
labels[5] = 0  # a row without positives
labels[:, 3] = 0  # a class without positives
labels[20, [0, 2, 6]] = 1
labels[21, [1, 4]] = 1
observed = np.zeros_like(labels)
for i in range(N):
    positives = np.flatnonzero(labels[i])
    if len(positives):
        observed[i, rng.choice(positives)] = 1


def ranking(y, s):
    out = {}
    for k in KS:
        prec, rec = [], []
        for i in range(N):
            rel = np.flatnonzero(y[i] == 1)
            if len(rel) == 0:
                prec.append(0.0)
                rec.append(0.0)
                continue
            top = np.argsort(s[i], kind="stable")[::-1][:k]
            hits = float(len(np.intersect1d(top, rel)))
            prec.append(hits / k)
            rec.append(hits / len(rel))
        prec, rec = np.array(prec), np.array(rec)
        out[f"recall_at_{k}"] = 100.0 * float(np.mean(rec))
        out[f"precision_at_{k}"] = 100.0 * float(np.mean(prec))
        out[f"top_{k}"] = 100.0 * float(np.mean(prec > 0))
    return out


def mean_ap(y, s):
    aps = [0.0 if not y[:, j].any() else average_precision_score(y[:, j], s[:, j]) for j in range(C)]
    return 100.0 * float(np.mean(aps))


os.makedirs(OUT, exist_ok=True)
np.save(os.path.join(OUT, "ranking_metrics_scores.npy"), scores)
np.save(os.path.join(OUT, "ranking_metrics_labels.npy"), labels.astype(np.float32))
np.save(os.path.join(OUT, "ranking_metrics_observed.npy"), observed.astype(np.float32))

values = ranking(labels, scores)
values["mAP"] = mean_ap(labels, scores)
values["mAP_observed"] = mean_ap(observed, scores)
print("// scripts/make_ranking_metrics_golden.py")
print("const std::map<std::string, double> want = {")
for name in sorted(values):
    print(f'    {{"{name}", {values[name]!r}}},')
print("};")
