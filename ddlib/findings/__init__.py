"""One module per finding: the sweep a chapter runs, its analysis and its computed verdict. Notebooks call these;
``python -m ddlib sweep NAME`` runs the same sweep without Jupyter (e.g. on a GPU machine).

A profile is one parameter file for every chapter (``params/<profile>.yaml``): a name means the same thing in every
chapter that has it, so chapters that share values share runs through the result cache."""
from __future__ import annotations

import types

from ..errors import DDLibError

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def chapter_params(cls, given: dict):
    """Build ``cls`` (a chapter's Params) from a profile's values: names that belong to other chapters are left
    out; a name that belongs to no chapter is refused (a typo fails loudly instead of being ignored)."""
    mine = set(cls.__dataclass_fields__)
    unknown = sorted(set(given) - ALL_PARAMS - mine)
    if unknown:
        raise DDLibError(f"unknown parameter(s) {unknown}; valid here: {sorted(mine)}")
    return cls.from_dict({k: v for k, v in given.items() if k in mine})


def params_from_namespace(cls, namespace: dict):
    """``chapter_params`` from a notebook's globals after its parameters cell (and papermill's injected cell)."""
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON_NAMES
             and not isinstance(v, types.ModuleType) and not callable(v)}
    return chapter_params(cls, given)


from . import audit_sets, cad_prune, difficulty, hard_labels, label_regimes, saturation  # noqa: E402

FINDINGS = {"label_regimes": label_regimes, "saturation": saturation, "hard_labels": hard_labels,
            "difficulty": difficulty, "cad_prune": cad_prune}
TOOLS = {"audit_sets": audit_sets}        # the book's tools chapters: no finding, no chapter summary
ALL_PARAMS = set().union(*(m.Params.__dataclass_fields__ for m in (*FINDINGS.values(), *TOOLS.values())))
