"""Shared test set-up: every test writes its caches and results under one session temp folder, never the repo's.

Threads: ``torch.set_num_threads(1)`` (and ``OMP_NUM_THREADS=1`` for the subprocesses the tests start: the CLI, the
papermill kernel, nbval). On a 2-core machine that is busy with another job, two intra-op threads spin-wait on each
other: a 20-step digits run took 7.8 s with 2 threads and 0.11 s with 1. ``DDLIB_TEST_THREADS`` overrides.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
THREADS = int(os.environ.get("DDLIB_TEST_THREADS", "1"))

# Tiny, fast settings shared by the suite (scikit-learn digits: 1,097 training images after 20 per class for
# validation, 8x8 grey).
DIGITS = dict(dataset="digits", val_per_class=20, model="convnet3-w16-instancenorm", batch=32)
TINY_TEACHER = dict(model="convnet3-w16-instancenorm", epochs=5, floor=0.0)

os.environ["OMP_NUM_THREADS"] = str(THREADS)   # inherited by every subprocess (CLI, kernels)
os.environ["DDLIB_WORKERS"] = "1"              # sweeps train in-process; test_runs checks the worker pool
torch.set_num_threads(THREADS)


from ddlib import data as _data, origin as _origin, teacher as _teacher  # noqa: E402

# The lru-cached functions themselves, taken before any test can monkeypatch them away.
_LRU_CACHED = (_teacher._get, _data.load, _data.load_raw, _data.on_device, _origin.provenance)


def clear_ddlib_caches():
    """Forget ddlib's in-process caches (loaded data, loaded teachers): needed whenever a test changes where
    data or caches live."""
    for f in _LRU_CACHED:
        f.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def ddlib_session_dirs(tmp_path_factory):
    """DDLIB_CACHE and DDLIB_RESULTS point at a session temp folder for the whole run."""
    root = tmp_path_factory.mktemp("ddlib-session")
    dirs = {"cache": root / "cache", "results": root / "results"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDLIB_CACHE", str(dirs["cache"]))
        mp.setenv("DDLIB_RESULTS", str(dirs["results"]))
        mp.setenv("OMP_NUM_THREADS", str(THREADS))
        torch.set_num_threads(THREADS)
        clear_ddlib_caches()
        yield dirs
    clear_ddlib_caches()


@pytest.fixture
def fresh_caches():
    """Clear ddlib's lru caches before and after the test (use with tests that change DDLIB_* variables)."""
    clear_ddlib_caches()
    yield
    clear_ddlib_caches()


@pytest.fixture
def isolated(tmp_path, monkeypatch, fresh_caches):
    """A private DDLIB_CACHE / DDLIB_RESULTS for one test, with ddlib's in-process caches cleared around it."""
    cache, results = tmp_path / "cache", tmp_path / "results"
    monkeypatch.setenv("DDLIB_CACHE", str(cache))
    monkeypatch.setenv("DDLIB_RESULTS", str(results))
    return {"cache": cache, "results": results, "tmp": tmp_path}


@pytest.fixture
def experts_trained(monkeypatch):
    """The indices of the MTT experts trained during the test (a list the test may clear): a cache hit trains
    none. MTT and DATM share them."""
    from ddlib.distill import mtt
    trained, real_train = [], mtt._train_expert

    def counting(c, k, e):
        trained.append(e)
        return real_train(c, k, e)
    monkeypatch.setattr(mtt, "_train_expert", counting)
    return trained


def subprocess_env(cache, results, **extra) -> dict:
    """The environment for a ddlib subprocess: this one's, with its own cache/results and one thread."""
    env = dict(os.environ, DDLIB_CACHE=str(cache), DDLIB_RESULTS=str(results), OMP_NUM_THREADS=str(THREADS),
               PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env
