#!/usr/bin/python3
# PyTorch baseline for spml-bench's ResNet timings: the same torchvision model, batch, image size, threads and
# device, eager mode, float32. Two steps:
#   --step simple (spml-bench --resnet): forward (eval, no grad) and a training step (sigmoid().mean() backward,
#     one Adam group);
#   --step spml (spml-bench --spml-step / --gpu-suite): the SPML training step of training/train_step.cpp: forward,
#     the GR loss (bench_torch_loss.gr, plain ops) on one observed positive per row, the loss and the logits' sum
#     copied to the host once (the trainer's finiteness check, its one sync per step), zero_grad, backward, Adam
#     over two groups (backbone at --lr, head "fc" at --lr x --lr-mult).
# On CUDA every timed run ends with torch.cuda.synchronize(); cudnn.benchmark stays at its default False (cuDNN's
# heuristics pick the algorithms, as in spml) and TF32 is off for convolutions and matmuls (spml's float32 never
# uses TF32; PyTorch's default would allow it in cuDNN). Peak memory: the process's peak resident set, and on CUDA
# torch.cuda.max_memory_allocated / max_memory_reserved since the stats were reset before the model was built.
# Prints one JSON line, e.g. {"forward_ms": ..., "train_ms": ...} or {"step_ms": ...}, plus "peak_rss_mib",
# "rss_before_model_mib", "peak_device_allocated_mib" and "peak_device_reserved_mib" (CUDA), "torch", "device",
# "threads", "cudnn_benchmark", "tf32". spml-bench runs it with $SPML_TORCH_PYTHON (default Debian's
# /usr/bin/python3 with python3-torch and python3-torchvision).
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision

import bench_torch_loss  # the GR loss in plain ops, shared with spml-loss's baseline (the same folder)

parser = argparse.ArgumentParser()
parser.add_argument("--arch", default="resnet50")
parser.add_argument("--batch", type=int, default=4)
parser.add_argument("--image-size", type=int, default=224)
parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
parser.add_argument("--step", choices=["simple", "spml"], default="simple")
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--classes", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--lr", type=float, default=1e-5, help="Adam's learning rate (--step spml: the backbone's)")
parser.add_argument("--lr-mult", type=float, default=10.0, help="--step spml: the head's lr is lr x lr-mult")
bench_torch_loss.add_loss_flags(parser)  # GR's hyper-parameters at the timed epoch
args = parser.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
device = torch.device(args.device)
on_cuda = device.type == "cuda"
if on_cuda and not torch.cuda.is_available():
    raise SystemExit("bench_torch_resnet.py: --device cuda but torch.cuda.is_available() is False")
# Strict float32 like spml (the old flags: the newer fp32_precision API is not in every supported torch).
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


rss_before_model = rss_mib()
if on_cuda:
    torch.cuda.reset_peak_memory_stats(device)
torch.manual_seed(args.seed)
model = getattr(torchvision.models, args.arch)(num_classes=args.classes).to(device)
x = torch.randn(args.batch, 3, args.image_size, args.image_size).to(device)


def timed(fn):
    for _ in range(args.warmup):
        fn()
    bench_torch_loss.device_sync(device)
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        bench_torch_loss.device_sync(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


result = {}
if args.step == "simple":
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def train_step():
        model.train()
        opt.zero_grad()
        model(x).sigmoid().mean().backward()
        opt.step()

    result["forward_ms"] = timed(forward)
    result["train_ms"] = timed(train_step)
else:
    head = [p for name, p in model.named_parameters() if name.startswith("fc.")]
    backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
    opt = torch.optim.Adam([{"params": backbone, "lr": args.lr}, {"params": head, "lr": args.lr * args.lr_mult}])
    # One observed positive per row at a seeded random class.
    generator = torch.Generator().manual_seed(args.seed)
    observed = torch.zeros(args.batch, args.classes)
    observed[torch.arange(args.batch), torch.randint(args.classes, (args.batch,), generator=generator)] = 1
    observed = observed.to(device)

    def spml_step():
        model.train()
        logits = model(x)
        loss = bench_torch_loss.gr(torch.sigmoid(logits), observed, args.classes, args)
        loss_and_logit_sum = torch.stack([loss.detach(), logits.detach().sum()]).cpu()
        if not torch.isfinite(loss_and_logit_sum).all():
            raise SystemExit(f"bench_torch_resnet.py: non-finite loss or logits: {loss_and_logit_sum.tolist()}")
        opt.zero_grad()
        loss.backward()
        opt.step()

    model.train()
    result["step_ms"] = timed(spml_step)

result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result["rss_before_model_mib"] = rss_before_model
if on_cuda:
    result["peak_device_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["peak_device_reserved_mib"] = torch.cuda.max_memory_reserved(device) / 2**20
    result["device_name"] = torch.cuda.get_device_name(device)
result.update({"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
               "cudnn_benchmark": torch.backends.cudnn.benchmark,
               "tf32": torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32})
print(json.dumps(result))
