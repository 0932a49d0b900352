"""ddlib: dataset-distillation evaluation under label regimes at a fixed compute budget.

The executable companion to Dey et al., *Rethinking Dataset Distillation: Hard Truths about Soft Labels*
(CVPR 2026). Data flows one way: data -> select -> train under a regime and budget -> results -> plots.
"""
from . import kernels  # noqa: F401  (first: it pins the CPU kernels before torch computes anything)
from .budget import Budget
from .errors import DDLibError
from .config import RunConfig, vary
from .records import cached_run
from .runner import run
from .sweeps import sweep
from .profile import Profile
from .teacher import TeacherConfig
from .version import __version__

__all__ = ["Budget", "DDLibError", "Profile", "RunConfig", "TeacherConfig", "__version__", "cached_run", "run",
           "sweep", "vary"]
