"""Where ddlib keeps data caches and results: resolved from the repository root, never the working directory
(papermill runs from --cwd, nbval from each notebook's folder). Environment variables override each place."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DDLibError

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout holding ddlib (the folder with pyproject.toml), else the working directory."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def cache_dir() -> Path:
    """Teachers, scoring runs and the per-run result cache (``DDLIB_CACHE`` overrides)."""
    return Path(os.environ.get("DDLIB_CACHE", repo_root() / ".ddlib-cache"))


def results_dir() -> Path:
    """Per-chapter result tables and summaries (``DDLIB_RESULTS`` overrides)."""
    return Path(os.environ.get("DDLIB_RESULTS", repo_root() / "results"))


def shared_dir() -> Path:
    """The read-only ``shared/`` folder beside the checkout (data for machines without internet)."""
    return Path(os.environ.get("DDLIB_SHARED", repo_root().parent / "shared"))


def check_roots() -> None:
    """The cache and results roots as folders this process can write into (or create): a one-line DDLibError
    naming the variable otherwise, before any compute [issue 37: a root that is a file or read-only failed only when
    the first record was written, after the compute]."""
    for var, root in (("DDLIB_CACHE", cache_dir()), ("DDLIB_RESULTS", results_dir())):
        root = root.absolute()
        there = next(p for p in (root, *root.parents) if p.exists())   # the root, or the folder it will be made in
        if not there.is_dir():
            raise DDLibError(f"{var}: {there} is a file, not a folder; point {var} at a folder")
        if not os.access(there, os.W_OK | os.X_OK):
            raise DDLibError(f"{var}: {there} is not writable; point {var} at a folder you can write to")
