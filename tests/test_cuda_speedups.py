"""``benchmarks/cuda_speedups.py`` [issue 13] on CPU: every variant is measured from the same weights, and the
fp32 options agree with the plain step within float tolerance (bf16 only to its own precision); students stacked
into one step train as each would alone."""
from __future__ import annotations

import importlib.util
import subprocess

import torch

from conftest import PYTHON, REPO, subprocess_env
from ddlib import models


def speedups_module():
    spec = importlib.util.spec_from_file_location("cuda_speedups", REPO / "benchmarks" / "cuda_speedups.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_speedup_table_measures_each_variant_against_the_plain_step(tmp_path):
    out = tmp_path / "speedups.md"
    subprocess.run([PYTHON, str(REPO / "benchmarks" / "cuda_speedups.py"), "--device", "cpu", "--model",
                    "convnet3-w16-instancenorm", "--batch", "16", "--steps", "3", "--repeats", "1", "--students", "2",
                    "--out", str(out)],
                   cwd=REPO, env=subprocess_env(tmp_path / "cache", tmp_path / "results"), check=True,
                   capture_output=True, timeout=300)
    lines = [line for line in out.read_text().splitlines() if line.startswith(("| bare", "| ddlib", "| 2 students"))]
    rows = {cells[1].strip(): cells[2:] for cells in (line.split("|") for line in lines)}
    assert rows["bare step, fp32"][1].strip() == "1.00x" and float(rows["bare step, fp32"][2]) == 0.0
    assert float(rows["bare step, channels_last"][2]) < 1e-3
    assert float(rows["bare step, bf16 autocast"][2]) < 0.1
    assert {"ddlib fit, HL, DSA", "ddlib fit, SL+KD, DSA (teacher forward)"} <= set(rows)
    assert float(rows["2 students per step (torch.func.vmap)"][2]) < 1e-4


def test_stacked_students_each_train_as_they_would_alone():
    """Three students, each with its own weights and batches: one stacked step per step gives every student the
    weights its own plain steps give, within float tolerance."""
    mod = speedups_module()
    shape, classes, students = mod.CIFAR_SHAPE, 10, 3
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(students, 8, *shape, generator=g), torch.randint(classes, (students, 8), generator=g))
               for _ in range(2)]
    nets = []
    for k in range(students):
        torch.manual_seed(k)
        nets.append(models.build("convnet3-w16-instancenorm", shape, classes))
    alone = [{n: p.detach().clone() for n, p in net.named_parameters()} for net in nets]
    for k, weights in enumerate(alone):
        net = models.build("convnet3-w16-instancenorm", shape, classes)
        net.load_state_dict(weights)
        mod.bare_steps(net, [(x[k], y[k]) for x, y in batches], 3)
        alone[k] = dict(net.named_parameters())
    mod.stacked_steps(nets, batches, 3)
    for net, weights in zip(nets, alone):
        for n, p in net.named_parameters():
            assert torch.allclose(p, weights[n], atol=1e-5), n
    assert not torch.allclose(nets[0].state_dict()[n], nets[1].state_dict()[n])   # students stay apart
