#!/usr/bin/python3
# PyTorch baseline for `spml-loss --bench`: the SPML losses from PyTorch's plain (unfused) ops, the same formulas
# as losses/composed_losses.cpp, timed forward + backward at the same batch, classes, threads and repeats (random
# logits N(0, 2^2), one positive per row). Prints one JSON line {"torch": version, "threads": n, "ms": {"gr":
# {"80": median, "312": median}, ...}}. Run with Debian's /usr/bin/python3 (python3-torch); spml-loss calls it.
import argparse
import json
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--losses", default="gr,an", help="comma-separated: gr an an_ls wan epr role em bce")
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--classes", default="80,312", help="comma-separated class counts")
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--repeats", type=int, default=50)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
# The loss hyper-parameters (spml-loss passes its resolved values).
parser.add_argument("--w", type=float, default=0.0)
parser.add_argument("--b", type=float, default=-2.0)
parser.add_argument("--mu", type=float, default=0.5375)
parser.add_argument("--sigma", type=float, default=1.8125)
parser.add_argument("--q2", type=float, default=0.01)
parser.add_argument("--q3", type=float, default=1.0)
parser.add_argument("--k", type=float, default=1.5, help="EPR/ROLE expected positives")
parser.add_argument("--em-alpha", type=float, default=0.2)
args = parser.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)

EPS = 1e-5  # log(x) means log(x + 1e-5) in the Cole et al. baselines
GR_EPS = 1e-7  # and log(x + 1e-7) in GR


def neg_log(x, eps=EPS):
    return -torch.log(x + eps)


def by_label(y, observed, unobserved):
    return y * observed + (1 - y) * unobserved


def regulariser(x, classes):
    return (x.sum(1).mean() - args.k).pow(2) / (classes * classes)


def gr(p, y, classes):
    p_const = p.detach()  # K and V carry no gradient
    k = torch.sigmoid(p_const * args.w + args.b)
    v = torch.exp(((p_const - args.mu) / args.sigma).pow(2) * -0.5)
    term_q2 = (1 - p.pow(args.q2)) / args.q2
    term_q3 = (1 - (1 - p).pow(args.q3)) / args.q3
    return by_label(y, neg_log(p, GR_EPS), v * (k * term_q2 + (1 - k) * term_q3)).mean()


def an(p, y, classes):
    return by_label(y, neg_log(p), neg_log(1 - p)).mean()


def an_ls(p, y, classes):
    nlp, nl1p = neg_log(p), neg_log(1 - p)
    return by_label(y, 0.9 * nlp + 0.1 * nl1p, 0.9 * nl1p + 0.1 * nlp).mean()


def wan(p, y, classes):
    return by_label(y, neg_log(p), neg_log(1 - p) / (classes - 1)).mean()


def epr(p, y, classes):
    return (y * neg_log(p)).mean() + regulariser(p, classes)


def em(p, y, classes):
    entropy = p * neg_log(p) + (1 - p) * neg_log(1 - p)
    return by_label(y, neg_log(p), -args.em_alpha * entropy).mean()


def role(p, q, y, classes):
    p_const, q_const = p.detach(), q.detach()  # sg()
    cross1 = q_const * neg_log(p) + (1 - q_const) * neg_log(1 - p)
    cross2 = p_const * neg_log(q) + (1 - p_const) * neg_log(1 - q)
    matrix = 0.5 * y * (neg_log(p) + neg_log(q)) + 0.5 * (cross1 + cross2)
    return matrix.mean() + 0.5 * (regulariser(p, classes) + regulariser(q, classes))


LOSSES = {"gr": gr, "an": an, "an_ls": an_ls, "wan": wan, "epr": epr, "em": em, "bce": an}


def median_ms(fn):
    for _ in range(args.warmup):
        fn()
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


generator = torch.Generator().manual_seed(args.seed)
results = {}
for name in args.losses.split(","):
    if name != "role" and name not in LOSSES:
        raise SystemExit(f"bench_torch_loss.py: unknown loss '{name}'")
    results[name] = {}
    for classes in [int(c) for c in args.classes.split(",")]:
        z0 = torch.randn(args.batch, classes, generator=generator) * 2
        g0 = torch.randn(args.batch, classes, generator=generator) * 2
        y = torch.zeros(args.batch, classes)
        y[torch.arange(args.batch), torch.randint(classes, (args.batch,), generator=generator)] = 1

        def step():
            z = z0.detach().requires_grad_(True)
            if name == "role":
                g = g0.detach().requires_grad_(True)
                loss = role(torch.sigmoid(z), torch.sigmoid(g), y, classes)
            else:
                loss = LOSSES[name](torch.sigmoid(z), y, classes)
            loss.backward()

        results[name][str(classes)] = median_ms(step)

print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": results}))
