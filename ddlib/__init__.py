"""ddlib: dataset-distillation evaluation under label regimes at a fixed compute budget.

The executable companion to Dey et al., *Rethinking Dataset Distillation: Hard Truths about Soft Labels*
(CVPR 2026). Data flows one way: data -> select -> train under a regime and budget -> results -> plots.
"""
__version__ = "0.1.1"

from .budget import Budget  # noqa: E402
from .errors import DDLibError  # noqa: E402
from .experiment import RunConfig, cached_run, run, sweep, vary  # noqa: E402
from .teacher import TeacherConfig  # noqa: E402

__all__ = ["Budget", "DDLibError", "RunConfig", "TeacherConfig", "cached_run", "run", "sweep", "vary"]
