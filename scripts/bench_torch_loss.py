#!/usr/bin/python3
# PyTorch baseline for `spml-loss --bench`: the SPML losses from PyTorch's plain (unfused) ops, the same formulas
# as losses/composed_losses.cpp, timed forward + backward at the same batch, classes, threads and repeats (random
# logits N(0, 2^2), one positive per row), on the CPU or a CUDA device (--device cuda: the inputs live on the GPU
# and every timed run ends with torch.cuda.synchronize(), as spml-loss syncs its device). Prints one JSON line
# {"torch": version, "device": ..., "threads": n, "ms": {"gr": {"80": median, "312": median}, ...}}. spml-loss runs
# it with $SPML_TORCH_PYTHON (default Debian's /usr/bin/python3 with python3-torch).
# The loss functions are importable (scripts/bench_torch_resnet.py trains with gr()): hyper-parameters come in
# as an object with the fields w, b, mu, sigma, q2, q3, k, em_alpha (this script's parsed flags).
import argparse
import json
import statistics
import time

import torch

EPS = 1e-5  # log(x) means log(x + 1e-5) in the Cole et al. baselines
GR_EPS = 1e-7  # and log(x + 1e-7) in GR


def add_loss_flags(parser):
    """The loss hyper-parameters (spml-loss and spml-bench pass their resolved values)."""
    parser.add_argument("--w", type=float, default=0.0)
    parser.add_argument("--b", type=float, default=-2.0)
    parser.add_argument("--mu", type=float, default=0.5375)
    parser.add_argument("--sigma", type=float, default=1.8125)
    parser.add_argument("--q2", type=float, default=0.01)
    parser.add_argument("--q3", type=float, default=1.0)
    parser.add_argument("--k", type=float, default=1.5, help="EPR/ROLE expected positives")
    parser.add_argument("--em-alpha", type=float, default=0.2)


def neg_log(x, eps=EPS):
    return -torch.log(x + eps)


def by_label(y, observed, unobserved):
    return y * observed + (1 - y) * unobserved


def regulariser(x, classes, h):
    return (x.sum(1).mean() - h.k).pow(2) / (classes * classes)


# p = sigmoid(logits) [B, C], y the observed labels [B, C] in {0, 1}; each returns the scalar mean loss.
def gr(p, y, classes, h):
    p_const = p.detach()  # K and V carry no gradient
    k = torch.sigmoid(p_const * h.w + h.b)
    v = torch.exp(((p_const - h.mu) / h.sigma).pow(2) * -0.5)
    term_q2 = (1 - p.pow(h.q2)) / h.q2
    term_q3 = (1 - (1 - p).pow(h.q3)) / h.q3
    return by_label(y, neg_log(p, GR_EPS), v * (k * term_q2 + (1 - k) * term_q3)).mean()


def an(p, y, classes, h):
    return by_label(y, neg_log(p), neg_log(1 - p)).mean()


def an_ls(p, y, classes, h):
    nlp, nl1p = neg_log(p), neg_log(1 - p)
    return by_label(y, 0.9 * nlp + 0.1 * nl1p, 0.9 * nl1p + 0.1 * nlp).mean()


def wan(p, y, classes, h):
    return by_label(y, neg_log(p), neg_log(1 - p) / (classes - 1)).mean()


def epr(p, y, classes, h):
    return (y * neg_log(p)).mean() + regulariser(p, classes, h)


def em(p, y, classes, h):
    entropy = p * neg_log(p) + (1 - p) * neg_log(1 - p)
    return by_label(y, neg_log(p), -h.em_alpha * entropy).mean()


def role(p, q, y, classes, h):
    p_const, q_const = p.detach(), q.detach()  # sg()
    cross1 = q_const * neg_log(p) + (1 - q_const) * neg_log(1 - p)
    cross2 = p_const * neg_log(q) + (1 - p_const) * neg_log(1 - q)
    matrix = 0.5 * y * (neg_log(p) + neg_log(q)) + 0.5 * (cross1 + cross2)
    return matrix.mean() + 0.5 * (regulariser(p, classes, h) + regulariser(q, classes, h))


LOSSES = {"gr": gr, "an": an, "an_ls": an_ls, "wan": wan, "epr": epr, "em": em, "bce": an}


def device_sync(device):
    """Waits for the device's queued work, so a timed run counts it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, repeats, warmup, device):
    for _ in range(warmup):
        fn()
    device_sync(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        device_sync(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--losses", default="gr,an", help="comma-separated: gr an an_ls wan epr role em bce")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--classes", default="80,312", help="comma-separated class counts")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_loss_flags(parser)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_torch_loss.py: --device cuda but torch.cuda.is_available() is False")

    # Drawn on the CPU (the same numbers on every device), then moved.
    generator = torch.Generator().manual_seed(args.seed)
    results = {}
    for name in args.losses.split(","):
        if name != "role" and name not in LOSSES:
            raise SystemExit(f"bench_torch_loss.py: unknown loss '{name}'")
        results[name] = {}
        for classes in [int(c) for c in args.classes.split(",")]:
            z0 = (torch.randn(args.batch, classes, generator=generator) * 2).to(device)
            g0 = (torch.randn(args.batch, classes, generator=generator) * 2).to(device)
            y = torch.zeros(args.batch, classes)
            y[torch.arange(args.batch), torch.randint(classes, (args.batch,), generator=generator)] = 1
            y = y.to(device)

            def step():
                z = z0.detach().requires_grad_(True)
                if name == "role":
                    g = g0.detach().requires_grad_(True)
                    loss = role(torch.sigmoid(z), torch.sigmoid(g), y, classes, args)
                else:
                    loss = LOSSES[name](torch.sigmoid(z), y, classes, args)
                loss.backward()

            results[name][str(classes)] = median_ms(step, args.repeats, args.warmup, device)

    print(json.dumps({"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
                      "ms": results}))


if __name__ == "__main__":
    main()
