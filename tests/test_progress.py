"""A sweep's progress: one bar with runs done, cached and failed, an ETA, and under a kernel (papermill, make book)
plain lines in the build's log; a failed run does not stop the others."""
from __future__ import annotations

import io
import sys

import pytest

from ddlib import sweeps
from ddlib.config import RunConfig
from ddlib.sweeps import Progress, sweep

from conftest import DIGITS

CFGS = [RunConfig(**DIGITS, ipc=1, budget=32, seed=s) for s in range(3)]


def test_under_a_kernel_progress_lines_reach_the_build_log(capfd, monkeypatch):
    monkeypatch.setattr(sweeps, "in_kernel", lambda: True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())           # a kernel's stderr (the notebook's)
    p = Progress(total=4, cached=1, desc="demo runs", enabled=True, every_s=0.0)
    p.update(1)
    p.update(2, failed=True)
    p.close()
    log = capfd.readouterr().err.splitlines()                     # fd 2: papermill's terminal
    assert log[0] == "ddlib: demo runs: 1/4 done (1 cached, 0 failed)"
    assert log[1].startswith("ddlib: demo runs: 2/4 done (1 cached, 0 failed), ETA ")
    assert log[-1] == "ddlib: demo runs: 4/4 done (1 cached, 2 failed)"
    assert "demo runs" in sys.stderr.getvalue()                   # the bar itself, in the notebook


def test_outside_a_kernel_there_is_only_the_bar(capfd):
    p = Progress(total=2, cached=0, desc="demo", enabled=True, every_s=0.0)
    p.update(2)
    p.close()
    assert "ddlib: demo" not in capfd.readouterr().err


def test_a_failed_run_is_counted_and_the_others_are_cached(isolated, monkeypatch):
    real = sweeps.cached_run

    def flaky(cfg, progress=False, store=None):
        if cfg.seed == 1:
            raise RuntimeError("boom")
        return real(cfg, progress, store)

    monkeypatch.setattr(sweeps, "cached_run", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        sweep(CFGS, progress=False)
    monkeypatch.setattr(sweeps, "cached_run", real)
    df = sweep(CFGS, progress=False)
    assert df["cache_hit"].tolist() == [True, False, True]       # seeds 0 and 2 ran before seed 1 failed
