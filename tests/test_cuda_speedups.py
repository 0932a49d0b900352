"""``benchmarks/cuda_speedups.py`` [issue 13] on CPU: every variant is measured from the same weights, and the
fp32 options agree with the plain step within float tolerance (bf16 only to its own precision)."""
from __future__ import annotations

import subprocess

from conftest import PYTHON, REPO, subprocess_env


def test_the_speedup_table_measures_each_variant_against_the_plain_step(tmp_path):
    out = tmp_path / "speedups.md"
    subprocess.run([PYTHON, str(REPO / "benchmarks" / "cuda_speedups.py"), "--device", "cpu", "--model",
                    "convnet3-w16-instancenorm", "--batch", "16", "--steps", "3", "--repeats", "1", "--out", str(out)],
                   cwd=REPO, env=subprocess_env(tmp_path / "cache", tmp_path / "results"), check=True,
                   capture_output=True, timeout=300)
    lines = [line for line in out.read_text().splitlines() if line.startswith(("| bare", "| ddlib"))]
    rows = {cells[1].strip(): cells[2:] for cells in (line.split("|") for line in lines)}
    assert rows["bare step, fp32"][1].strip() == "1.00x" and float(rows["bare step, fp32"][2]) == 0.0
    assert float(rows["bare step, channels_last"][2]) < 1e-3
    assert float(rows["bare step, bf16 autocast"][2]) < 0.1
    assert {"ddlib fit, HL, DSA", "ddlib fit, SL+KD, DSA (teacher forward)"} <= set(rows)
