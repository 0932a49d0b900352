"""Sweeps on Ray (``DDLIB_EXECUTOR=ray``, a local Ray here): the same numbers as the local process pool, and a
worker killed mid-sweep is retried, not lost."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import PYTHON, REPO, subprocess_env

pytest.importorskip("ray")

# A small saturation grid whose runs take seconds each: long enough to kill a worker while it trains.
GRID = ["sweep", "saturation", "--params", "tiny", "-p", "temperatures", "[4.0]",
        "-p", "arms", "[HL]", "-p", "ipcs", "[1]", "-p", "full_budgets", "[]", "-p", "budgets", "[30000]"]


def _sweep(root, executor, kill_one=False):
    env = subprocess_env(root / "cache", root / "results", DDLIB_WORKERS=2, DDLIB_EXECUTOR=executor)
    proc = subprocess.Popen([PYTHON, "-m", "ddlib", *GRID], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed = None
    if kill_one:
        deadline = time.time() + 180
        while killed is None and time.time() < deadline and proc.poll() is None:
            for pid in os.listdir("/proc"):
                try:
                    if pid.isdigit() and "ray::_on_one_thread" in open(f"/proc/{pid}/cmdline").read():
                        time.sleep(1.0)                  # it is training: kill it mid-run
                        os.kill(int(pid), signal.SIGKILL)
                        killed = int(pid)
                        break
                except OSError:
                    pass
            time.sleep(0.2)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    df = pd.read_csv(root / "results" / "tiny" / "02_saturation" / "results.csv")
    return df.set_index("key")["test_acc"].sort_index(), killed


def test_ray_gives_the_local_pools_numbers_even_when_a_worker_is_killed(tmp_path):
    local, _ = _sweep(tmp_path / "local", "local")
    on_ray, killed = _sweep(tmp_path / "ray", "ray", kill_one=True)
    assert killed is not None, "no Ray worker was seen training"
    assert len(local) == 4 and local.index.equals(on_ray.index)
    assert (local == on_ray).all()                      # the same runs, bit for bit: a killed task is rerun


def test_an_unknown_executor_is_one_line(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results", DDLIB_EXECUTOR="dask")
    r = subprocess.run([PYTHON, "-m", "ddlib", *GRID], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: unknown DDLIB_EXECUTOR 'dask'; valid: local, ray"]
