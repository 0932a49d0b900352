"""One module per finding: the sweep a chapter runs, its analysis and its computed verdict. Notebooks call these;
``python -m ddlib sweep NAME`` runs the same sweep without Jupyter (e.g. on a GPU machine)."""
from __future__ import annotations

import types

from ..errors import DDLibError

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def params_from_namespace(cls, namespace: dict):
    """Build ``cls`` (a chapter's Params) from a notebook's globals after its parameters cell, refusing any name
    that is not a parameter (a typo in ``papermill -p`` fails loudly instead of being ignored)."""
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON_NAMES and not isinstance(v, types.ModuleType) and not callable(v)}
    return cls.from_dict(given)


def check_params(cls, d: dict) -> dict:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(d) - names)
    if unknown:
        raise DDLibError(f"unknown parameter(s) {unknown}; valid: {sorted(names)}")
    return d


from . import saturation  # noqa: E402

FINDINGS = {"saturation": saturation}
