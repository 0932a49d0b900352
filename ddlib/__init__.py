"""ddlib: dataset-distillation evaluation under label regimes at a fixed compute budget.

The executable companion to Dey et al., *Rethinking Dataset Distillation: Hard Truths about Soft Labels*
(CVPR 2026). Data flows one way: data -> select -> train under a regime and budget -> results -> plots.
"""
import importlib

from . import kernels  # noqa: F401  (first: it pins the CPU kernels before torch computes anything)
from .errors import DDLibError
from .version import __version__

# The public names that need torch, imported on first use [issue 38]: so `python -m ddlib --help`, which imports
# this package first, builds its parser without torch. Each name -> the module that defines it.
_LAZY = {"Budget": "budget", "RunConfig": "config", "vary": "config", "cached_run": "records", "run": "runner",
         "sweep": "sweeps", "Profile": "profile", "TeacherConfig": "teacher"}

__all__ = ["Budget", "DDLibError", "Profile", "RunConfig", "TeacherConfig", "__version__", "cached_run", "run",
           "sweep", "vary"]


def __getattr__(name: str):
    """PEP 562: a name of :data:`_LAZY` from its module, kept here once read."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
