#!/usr/bin/python3
# Prints the golden values of tests/test_optim.cpp: two steps of torch.optim.Adam/AdamW/SGD (float64) on a
# 3-element parameter with fixed gradients. Run with Debian's python3-torch: /usr/bin/python3 scripts/make_optim_golden.py
import torch

P0 = [0.5, -1.0, 2.0]
GRADS = [[0.1, -0.2, 0.3], [-0.4, 0.5, 0.05]]


def run(make):
    p = torch.tensor(P0, dtype=torch.float64, requires_grad=True)
    opt = make([p])
    out = []
    for g in GRADS:
        opt.zero_grad()
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().tolist())
    return out


CASES = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.1),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
}
print("torch", torch.__version__)
for name, make in CASES.items():
    steps = run(make)
    for i, values in enumerate(steps):
        print(f"{name} step {i + 1}: {{{', '.join(repr(v) for v in values)}}}")
