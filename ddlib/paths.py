"""Where ddlib keeps data caches and results: resolved from the repository root, never the working directory
(papermill runs from --cwd, nbval from each notebook's folder). Environment variables override each place."""
from __future__ import annotations

import os
from pathlib import Path

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
