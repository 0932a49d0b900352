"""The CPU kernels every run computes with, pinned, so that a number does not depend on which x86 CPU made it.

[ours, measured 2026-12-07] torch picks its CPU kernels by the processor's instruction set: ATen's vectorised
kernels (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``) and MKL's matrix products
(``MKL_CBWR``). The same quick-profile run (random IPC 10, HL) reached validation 80.64% with AVX2 kernels, 80.52%
with ATen's default ones and 80.72% with oneDNN's SSE4.1 ones; the store made on an earlier machine had 80.08%, and
a teacher re-made here ranked images differently enough to move a k-center run by 1.6 points. So ddlib pins all
three to AVX2, which every x86-64 CPU of the last decade has, before torch computes anything (a value already in
the environment is kept), and :func:`cpu_kernels` names what is in force: it is part of every key (``store.digest``),
so a number made with other kernels is never read as this one.
"""
import os

PINS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
for _name, _value in PINS.items():
    os.environ.setdefault(_name, _value)


def cpu_kernels() -> str:
    """The CPU kernels in force in this process: ATen's capability as torch reports it, oneDNN's and MKL's
    settings (``native``: the CPU's own best, not pinned)."""
    import torch
    return (f"aten={torch.backends.cpu.get_cpu_capability()},onednn={os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')},"
            f"mkl={os.environ.get('MKL_CBWR', 'native')}")
