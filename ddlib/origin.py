"""Where a number came from: ddlib's version, the commit, library versions and the machine. Recorded with every run;
behind a door of every fingerprint (``fingerprint.ORIGIN``), since it says where a number was made, never what."""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache

import torch

from .kernels import cpu_kernels
from .paths import repo_root
from .version import __version__


@lru_cache(maxsize=1)
def provenance() -> dict:
    """Where numbers come from: library versions, commit, machine (a run adds its code fingerprint)."""
    root = repo_root()
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "ddlib"],
                               capture_output=True, timeout=10).returncode == 1
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return dict(ddlib_version=__version__, commit=commit + ("+dirty" if dirty else ""),
                torch=torch.__version__, python=platform.python_version(), cpu_threads=torch.get_num_threads(),
                machine=f"{platform.machine()}, {os.cpu_count()} cores", cpu=cpu_model(), cpu_kernels=cpu_kernels(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def cpu_model() -> str:
    """The processor's name (Linux: /proc/cpuinfo's model name; elsewhere what platform says)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()
