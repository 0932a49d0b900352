"""Sweeps: many runs, each read from the results store or trained, in single-threaded local processes or as Ray
tasks, with one progress bar. Nothing here changes a number: no fingerprint reaches this module."""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from . import distill as distillers, teacher as teachers
from .config import RunConfig, check_inputs, device_type
from .errors import DDLibError, check_choice
from .records import as_asked, cached_run, read_stored
from .runner import training_inputs


PR_SET_PDEATHSIG = 1   # <linux/prctl.h>


def default_workers(configs) -> int:
    """How many processes a sweep trains in: ``DDLIB_WORKERS`` if set; else one per CPU core (each single-threaded,
    measured 1.3x faster than one two-threaded process on a 2-core machine) when every run is on the CPU, and one
    for an accelerator."""
    if os.environ.get("DDLIB_WORKERS"):
        try:
            return max(1, int(os.environ["DDLIB_WORKERS"]))
        except ValueError:
            raise DDLibError(f"DDLIB_WORKERS must be an integer, got {os.environ['DDLIB_WORKERS']!r}") from None
    if any(device_type(c.device) != "cpu" for c in configs):
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _worker_start(parent: int):
    """A sweep worker: one thread (the workers share the cores; a run itself trains on ``store.INPUT_THREADS``
    in any process, ``runner.run``), and it dies with its parent: Linux's PR_SET_PDEATHSIG, so a killed sweep leaves
    no worker training on (elsewhere: best effort)."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is the parent's to act on: it stops the workers
    signal.signal(signal.SIGTERM, _stop)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:   # the parent died before the signal was armed
        os._exit(1)


class _Stopped(BaseException):
    """A worker told to stop (SIGTERM from its sweep's parent) in the middle of a run."""


_in_run = False   # is this worker inside a run (:func:`_stoppable`)


def _stop(signum, frame):
    """SIGTERM in a worker: unwind the run in progress, or, between runs, exit at once."""
    if not _in_run:
        os._exit(128 + signal.SIGTERM)
    raise _Stopped


def _stoppable(fn, *args):
    """``fn(*args)`` in a worker; told to stop, the worker unwinds the run (an atomic write removes its temp file, a
    cached folder stays without its meta.json, so it is remade) and exits, taking no further run [issue 37]. (A stop
    in the instant after the run returns leaves the worker to die with its parent, PR_SET_PDEATHSIG.)"""
    global _in_run
    _in_run = True
    try:
        return fn(*args)
    except _Stopped:
        os._exit(128 + signal.SIGTERM)
    finally:
        _in_run = False


def _prepare(cfg: RunConfig) -> None:
    """Make here, once, what several workers would otherwise make at the same time: the run's teacher, its
    selector's scoring run, and what its distiller shares across sets (e.g. MTT's experts)."""
    if cfg.distill:
        ctx, knobs = cfg.distill_context(), cfg.distill_knob_values()
        distillers.prepare(cfg.distill, ctx, knobs)
        if cfg.regime != "hl":
            teachers.get(cfg.teacher, cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    else:
        training_inputs(cfg)             # the teacher too, when the run reads one


def _make_synset(cfg: RunConfig) -> None:
    cfg.synset()


EXECUTORS = ("local", "ray")


def executor_kind() -> str:
    """Where a sweep's runs train: ``DDLIB_EXECUTOR`` = local (a process pool, the default) or ray (Ray tasks on
    the cluster at ``RAY_ADDRESS``, else a local Ray)."""
    kind = os.environ.get("DDLIB_EXECUTOR", "local")
    check_choice("DDLIB_EXECUTOR", kind, EXECUTORS)
    return kind


@contextmanager
def _pool(kind: str, n: int):
    """An executor whose ``submit(fn, *args)`` returns a concurrent Future: ``n`` single-threaded local processes
    that die with their parent and stop at once on Ctrl-C (:class:`LocalPool`), or Ray tasks (one CPU each,
    ``DDLIB_RAY_GPUS`` of a GPU each, e.g. 0.25 for four runs per GPU; a task whose worker dies is retried). Runs
    write into the same content-addressed cache either way, so a cluster needs ``DDLIB_CACHE`` on a shared path
    (passed to the tasks)."""
    if kind == "local":
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            yield LocalPool(pool)
        return
    try:
        import ray
    except ImportError:
        raise DDLibError("DDLIB_EXECUTOR=ray needs the ray package: pip install 'ddlib[ray]'") from None
    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k.startswith("DDLIB_") or k == "OMP_NUM_THREADS"}
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    try:
        gpus = float(os.environ.get("DDLIB_RAY_GPUS", "0"))
    except ValueError:
        raise DDLibError(f"DDLIB_RAY_GPUS must be a number, got {os.environ['DDLIB_RAY_GPUS']!r}") from None
    task = ray.remote(_on_one_thread).options(num_cpus=1, num_gpus=gpus, max_retries=3)
    refs = []

    class RayPool:
        @staticmethod
        def submit(fn, *args):
            refs.append(task.remote(fn, *args))
            return refs[-1].future()

        @staticmethod
        def shutdown(wait=True, cancel_futures=False):
            for r in refs:
                ray.cancel(r, force=True)

    yield RayPool()


class LocalPool:
    """A process pool whose workers stop when told (:func:`_stoppable`): a shutdown that does not wait (Ctrl-C, a
    failure in the sweep) stops them now, not after their current runs [issue 37: they trained on for 15 s]."""

    def __init__(self, pool: ProcessPoolExecutor):
        self.pool = pool

    def submit(self, fn, *args):
        return self.pool.submit(_stoppable, fn, *args)

    def shutdown(self, wait=True, cancel_futures=False):
        if not wait:
            for worker in list((self.pool._processes or {}).values()):
                worker.terminate()
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _on_one_thread(fn, *args):
    """A Ray task: ``fn(*args)`` on one thread, as a local worker runs it."""
    torch.set_num_threads(1)
    return fn(*args)


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (whose stderr is the notebook's, its ``sys.__stderr__`` the log)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell" and sys.__stderr__ is not None


class Progress:
    """One bar per sweep: runs done, read from the cache, failed, and an ETA (tqdm's). Under a Jupyter kernel
    (papermill, ``make book``) the bar goes to the notebook, and a plain line goes to the kernel's own stderr, which
    is the build's log, at most every ``every_s`` seconds and at the end."""

    def __init__(self, total: int, cached: int, desc: str, enabled: bool, every_s: float = 30.0):
        self.total, self.done, self.cached, self.failed, self.desc = total, cached, cached, 0, desc
        self.bar = tqdm(total=total, initial=cached, desc=desc, disable=not enabled)
        self.log = sys.__stderr__ if enabled and in_kernel() else None
        self.every_s, self.started, self.said = every_s, time.time(), 0.0
        self._show(force=True)

    def update(self, n: int = 1, failed: bool = False) -> None:
        self.done += n
        self.failed += n if failed else 0
        self.bar.update(n)
        self._show(force=self.done == self.total)

    def _show(self, force: bool = False) -> None:
        self.bar.set_postfix(cached=self.cached, failed=self.failed)
        now = time.time()
        if self.log is None or not (force or now - self.said >= self.every_s):
            return
        ran, left = self.done - self.cached, self.total - self.done
        eta = f", ETA {(now - self.started) / ran * left / 60:.1f} min" if ran and left else ""
        print(f"ddlib: {self.desc}: {self.done}/{self.total} done ({self.cached} cached, {self.failed} failed)"
              f"{eta}", file=self.log, flush=True)
        self.said = now

    def close(self) -> None:
        self.bar.close()


def sweep(configs, progress: bool = True, desc: str = "runs", workers: int | None = None,
          store: Path | None = None) -> pd.DataFrame:
    """Run (or read from the cache) every config; one row per config, in order. Validates all configs first.

    Runs not yet cached train in ``workers`` processes (default :func:`default_workers`), or as Ray tasks
    (:func:`executor_kind`). What they depend on is made first, once: teachers and scoring runs here, then the
    distilled sets in the workers, then the runs. A run that fails is counted and the others go on (so they are
    cached); the first failure is raised at the end. Records are read from and written to ``store`` (default
    :func:`run_store`; a profile's is ``Profile.store``)."""
    kind = executor_kind()
    configs = list(configs)
    for c in configs:
        check_inputs(c)
    rows, todo, failed = {}, {}, []
    for i, c in enumerate(configs):
        hit = read_stored(c, store)
        if hit is not None:
            rows[i] = hit
        else:
            todo.setdefault(c.key(), []).append(i)
    bar = Progress(len(configs), len(rows), desc, progress)

    def finished(idx, result=None, error=None):
        if error is not None:
            failed.append(error)
        else:
            rows.update({i: as_asked(result, configs[i]) for i in idx})
        bar.update(len(idx), failed=error is not None)

    n = min(workers or default_workers(configs), len(todo))
    if n <= 1 and kind == "local":
        for idx in todo.values():
            try:
                finished(idx, cached_run(configs[idx[0]], False, store))
            except Exception as e:       # counted; the other runs go on
                finished(idx, error=e)
    else:
        firsts = [configs[idx[0]] for idx in todo.values()]
        synsets = {}
        for c in firsts:
            _prepare(c)
            if c.distill:
                synsets.setdefault(c.key_fields()["synset"], c)
        with _pool(kind, n) as pool:
            try:
                for f in as_completed([pool.submit(_make_synset, c) for c in synsets.values()]):
                    f.result()
                futures = {pool.submit(cached_run, configs[idx[0]], False, store): idx for idx in todo.values()}
                for f in as_completed(futures):
                    try:
                        finished(futures[f], f.result())
                    except Exception as e:
                        finished(futures[f], error=e)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    if failed:
        if len(failed) > 1:
            print(f"ddlib: {len(failed)} of {len(todo)} runs failed; the first error follows", file=sys.stderr)
        raise failed[0]
    return pd.DataFrame([rows[i] for i in range(len(configs))])

