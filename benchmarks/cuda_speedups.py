"""What dominates a training step on the device, and which CUDA options would pay [issue 13]. Ratios measured in
one run, against the plain fp32 step on the same model, batch and starting weights:

* the bare step (forward + backward + SGD step on pre-made batches) in fp32, with channels_last, with bf16
  autocast, with both, and (CUDA only) under ``torch.compile`` (its warm-up reported apart);
* several students in one step (:func:`stacked_steps`: their weights stacked, one ``torch.func.vmap``'d forward and
  backward), as the seeds of a cell could train together, against as many plain steps;
* ddlib's ``fit`` under HL with DSA (adds index draws and augmentation) and under SL+KD (adds the teacher's forward);
* the plain step on this machine's CPU (the GPU-to-CPU ratio), when the device is CUDA.

Each bare-step variant trains from the same weights on the same batches; the table gives the largest difference of
its logits on a probe batch from the fp32 step's (for stacked students, the first student's, which starts from the
fp32 step's weights), so that an option is only kept where it is both faster and agrees within float tolerance.
The images are random tensors of the dataset's shape: a step's cost does not depend on its pixels. Usage:
``python benchmarks/cuda_speedups.py [--device cuda] [--out FILE.md]``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from ddlib import models
from ddlib.budget import Budget
from ddlib.train import TrainSpec, fit, make_optimizer

PAPER_MODEL = "convnet3-w128-instancenorm"   # ddlib/profiles/paper.yaml: the student
PAPER_TEACHER = "convnet3-w128-batchnorm"    # ddlib/profiles/paper.yaml: the teacher
CIFAR_SHAPE = (3, 32, 32)


def _sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _net(name: str, device: str, classes: int, channels_last: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    net = models.build(name, CIFAR_SHAPE, classes).to(device)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def bare_steps(net, batches, steps: int, bf16: bool = False):
    """``steps`` steps of the HL recipe's optimiser over the pre-made ``batches`` (cycled): no indexing, no
    augmentation, no schedule; optionally under bf16 autocast. Also ``loop_vs_classic.py``'s ceiling."""
    opt, _ = make_optimizer(net, TrainSpec("hl", Budget(steps * len(batches[0][1]), len(batches[0][1]))))
    device = batches[0][0].device.type
    cast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    for s in range(steps):
        xb, yb = batches[s % len(batches)]
        with cast:
            loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


class _Stacked:
    """The stacked weights of several students, as ``make_optimizer`` reads a model (its ``parameters()``)."""

    def __init__(self, params: dict):
        self.params = params

    def parameters(self):
        return iter(self.params.values())


def stacked_steps(nets, batches, steps: int):
    """``steps`` steps of the HL recipe's optimiser for all ``nets`` at once: weights stacked along a new first
    axis, each student's loss and gradient on its own batch in one ``vmap``'d call, one optimiser over the stacked
    tensors (SGD acts elementwise, so each student's update is the one its own optimiser would make). ``batches``
    are (x, y) pairs with a leading student axis (cycled). Students without running statistics (InstanceNorm, as
    ddlib's ConvNets): a buffer update does not map. Trains the nets in place, as :func:`bare_steps` does."""
    params, buffers = stack_module_state(nets)
    shape = copy.deepcopy(nets[0]).to("meta")

    def loss(p, b, x, y):
        return F.cross_entropy(functional_call(shape, (p, b), (x,)), y)

    per_student_grad = vmap(grad(loss))
    batch = batches[0][1].shape[1]
    opt, _ = make_optimizer(_Stacked(params), TrainSpec("hl", Budget(steps * batch, batch)))
    for s in range(steps):
        xb, yb = batches[s % len(batches)]
        grads = per_student_grad(params, buffers, xb, yb)
        for k, p in params.items():
            p.grad = grads[k]
        opt.step()
    with torch.no_grad():
        for i, net in enumerate(nets):
            for k, p in net.named_parameters():
                p.copy_(params[k][i])


def timed(fn, device: str) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def _data(batch: int, classes: int, device: str):
    """Four (x, y) training batches (on the CPU) and a probe batch (on ``device``), the same for every variant."""
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(batch, *CIFAR_SHAPE, generator=g), torch.randint(classes, (batch,), generator=g))
               for _ in range(4)]
    return batches, torch.randn(batch, *CIFAR_SHAPE, generator=g).to(device)


def measure_bare(name, device, classes, batch, steps, repeats, channels_last=False, bf16=False, compile_=False):
    """Median images per second of the bare step, the compile warm-up (s), and the probe logits after training."""
    batches, probe = _data(batch, classes, device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    batches = [(x.to(device).contiguous(memory_format=fmt), y.to(device)) for x, y in batches]
    net = _net(name, device, classes, channels_last)
    step_net = torch.compile(net) if compile_ else net
    warmup = timed(lambda: bare_steps(step_net, batches, 2, bf16), device)   # first calls: cuDNN, compile
    rates = [steps * batch / timed(lambda: bare_steps(step_net, batches, steps, bf16), device)
             for _ in range(repeats)]
    net.eval()
    with torch.no_grad():
        logits = net(probe.contiguous(memory_format=fmt)).float()
    return statistics.median(rates), warmup, logits


def measure_stacked(name, device, classes, batch, steps, repeats, students):
    """Median images per second of ``students`` students in one :func:`stacked_steps` step (the first from the fp32
    step's weights, the others from seeds 1, 2, ...; each on the fp32 step's batches, called as
    :func:`measure_bare` calls the plain step), and the first student's probe logits after training."""
    batches, probe = _data(batch, classes, device)
    batches = [(x.to(device).expand(students, *x.shape).contiguous(), y.to(device).expand(students, -1).contiguous())
               for x, y in batches]
    nets = [_net(name, device, classes, seed=k) for k in range(students)]
    timed(lambda: stacked_steps(nets, batches, 2), device)   # first calls: cuDNN
    rates = [students * steps * batch / timed(lambda: stacked_steps(nets, batches, steps), device)
             for _ in range(repeats)]
    nets[0].eval()
    with torch.no_grad():
        logits = nets[0](probe).float()
    return statistics.median(rates), logits


def measure_fit(name, device, classes, batch, steps, repeats, regime):
    """Median images per second of ddlib's ``fit`` (DSA) under ``regime`` on a subset of 10 batches."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10 * batch, *CIFAR_SHAPE, generator=g).to(device)
    y = torch.randint(classes, (10 * batch,), generator=g).to(device)
    teacher = _net(PAPER_TEACHER, device, classes) if regime == "slkd" else None
    spec = TrainSpec(regime, Budget(steps * batch, batch), aug="dsa", seed=0)
    fit(_net(name, device, classes), x, y, TrainSpec(regime, Budget(2 * batch, batch), aug="dsa"), teacher=teacher)
    return statistics.median(steps * batch / timed(lambda: fit(_net(name, device, classes), x, y, spec,
                                                                teacher=teacher), device)
                             for _ in range(repeats))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=PAPER_MODEL)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256, help="ddlib/profiles/paper.yaml: batch 256")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cpu-steps", type=int, default=5, help="steps of the CPU comparison (CUDA runs only)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--students", type=int, nargs="*", default=[5],
                    help="students per stacked step (ddlib/profiles/paper.yaml: 5 seeds per cell)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None, metavar="FILE.md", help="also write the table here")
    a = ap.parse_args()
    cuda = a.device.startswith("cuda")
    args = (a.model, a.device, a.classes, a.batch, a.steps, a.repeats)
    variants = {"fp32": {}, "channels_last": dict(channels_last=True), "bf16 autocast": dict(bf16=True),
                "bf16 autocast + channels_last": dict(bf16=True, channels_last=True)}
    if cuda:
        variants["torch.compile"] = dict(compile_=True)
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    header = [f"{a.model}, batch {a.batch}, {a.steps} steps, median of {a.repeats}, on {name} "
              f"(torch {torch.__version__}; `python benchmarks/cuda_speedups.py {' '.join(sys.argv[1:])}`).", "",
              "| variant | images/s | ratio to the fp32 bare step | max abs. logit difference | warm-up (s) |",
              "| --- | --- | --- | --- | --- |"]
    rows, plain = [], None

    def add(label, rate, diff, warm):
        """One row, and the table so far written out at once: a call stopped at its time limit keeps its rows."""
        rows.append(f"| {label} | {rate:,.0f} | {rate / plain[0]:.2f}x | {diff} | {warm} |")
        print(rows[-1], flush=True)
        if a.out:
            with open(a.out, "w") as f:
                f.write("\n".join(header + rows) + "\n")

    print("\n".join(header), flush=True)
    for label, kw in variants.items():
        rate, warmup, logits = measure_bare(*args, **kw)
        plain = plain or (rate, logits)
        add(f"bare step, {label}", rate, f"{(logits - plain[1]).abs().max().item():.2e}", f"{warmup:.1f}")
    for k in a.students:
        label = f"{k} student{'s' if k > 1 else ''} per step (torch.func.vmap)"
        try:        # a device whose kernels do not map loses this row, not the table
            rate, logits = measure_stacked(*args, k)
            add(label, rate, f"{(logits - plain[1]).abs().max().item():.2e}", "-")
        except (RuntimeError, NotImplementedError) as e:
            add(f"{label}: failed, {type(e).__name__}", float("nan"), "-", "-")
    for regime, label in (("hl", "ddlib fit, HL, DSA"), ("slkd", "ddlib fit, SL+KD, DSA (teacher forward)")):
        add(label, measure_fit(*args, regime), "-", "-")
    if cuda and a.cpu_steps:
        cpu_rate, _, _ = measure_bare(a.model, "cpu", a.classes, a.batch, a.cpu_steps, 1)
        add(f"bare step, fp32, CPU ({torch.get_num_threads()} threads)", cpu_rate, "-", "-")


if __name__ == "__main__":
    main()
