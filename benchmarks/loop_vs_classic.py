"""How fast is ddlib's training loop? Two ratios measured in one run, on the same model, subset and budget:

* ours / classic: ddlib's on-device loop (subset as one tensor, batched seeded augmentation) against the classic
  DD evaluation loop (a torch DataLoader over the subset with per-sample augmentation in ``__getitem__``);
* ours / raw: against the bare forward + backward + step rate on pre-made batches (the ceiling: no indexing, no
  augmentation).

Each variant runs ``--repeats`` times, interleaved, and the median throughput (images per second) is compared.
Usage: ``python benchmarks/loop_vs_classic.py [--dataset fashion_mnist] [--ipc 50] [--budget 12800] [--device cpu]``
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from cuda_speedups import bare_steps  # this folder is on sys.path when run as a script
from ddlib import data, models
from ddlib.budget import Budget
from ddlib.select import select
from ddlib.train import TrainSpec, fit, make_optimizer


class PerSampleAugmented(Dataset):
    """The classic pattern: one image at a time, augmented in Python (random translate by 1/8 + flip)."""

    def __init__(self, x, y, seed):
        self.x, self.y = x, y
        self.g = torch.Generator().manual_seed(seed)
        self.pad = max(1, round(x.shape[-1] / 8))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        img = F.pad(self.x[i], (self.pad,) * 4)
        dy, dx = torch.randint(0, 2 * self.pad + 1, (2,), generator=self.g).tolist()
        h, w = self.x.shape[-2:]
        img = img[:, dy:dy + h, dx:dx + w]
        if torch.rand(1, generator=self.g).item() < 0.5:
            img = img.flip(-1)
        return img, self.y[i]


def run_ours(net, x, y, spec):
    fit(net, x, y, spec)


def run_classic(net, x, y, spec):
    opt, sched = make_optimizer(net, spec)
    loader = DataLoader(PerSampleAugmented(x.cpu(), y.cpu(), spec.seed), batch_size=spec.budget.batch,
                        shuffle=True, drop_last=False, generator=torch.Generator().manual_seed(spec.seed))
    step = 0
    while step < spec.budget.steps:
        for xb, yb in loader:
            xb, yb = xb.to(x.device), yb.to(x.device)
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == spec.budget.steps:
                break


def run_raw(net, x, y, spec):
    b = spec.budget.batch
    bare_steps(net, [(x[:b].repeat(-(-b // len(x)), 1, 1, 1)[:b], y[:b].repeat(-(-b // len(y)))[:b])],
               spec.budget.steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--model", default="convnet3-w16-instancenorm")
    ap.add_argument("--ipc", type=int, default=50)
    ap.add_argument("--budget", type=int, default=12_800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    splits = data.load(a.dataset)
    d = data.on_device(a.dataset, device=a.device)
    idx = select("random", splits, a.ipc, 0)["indices"].to(a.device)
    x, y = d["train"][0][idx], d["train"][1][idx]
    # The same augmentation family for both loops: translate + flip (ddlib's crop_flip).
    spec = TrainSpec("hl", Budget(a.budget, a.batch), aug="crop_flip", seed=0)
    variants = {"ours": run_ours, "classic": run_classic, "raw": run_raw}
    rates = {k: [] for k in variants}
    for _ in range(a.repeats):
        for name, fn in variants.items():
            torch.manual_seed(0)
            net = models.build(a.model, splits.shape, splits.num_classes).to(a.device)
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn(net, x, y, spec)
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()
            rates[name].append(spec.budget.samples_seen / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{a.dataset} {a.model} IPC {a.ipc}, budget {spec.budget.samples_seen:,} samples, batch {a.batch}, "
          f"{a.device}, {torch.get_num_threads()} threads, median of {a.repeats}")
    for k, v in med.items():
        print(f"  {k:8s} {v:8.0f} img/s")
    print(f"ours / classic = {med['ours'] / med['classic']:.2f}x")
    print(f"ours / raw     = {med['ours'] / med['raw']:.2f}x")


if __name__ == "__main__":
    main()
