"""Confidence intervals over seeds. Comparisons are paired by seed: the same seed draws the same subset, init and
augmentation stream in every arm, so a per-seed difference removes most of the subset-draw noise."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

LEVEL = 0.95


def t_interval(values, level: float = LEVEL) -> dict:
    """Mean and two-sided t interval of ``values`` (NaN bounds for fewer than two values)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return dict(mean=math.nan, lo=math.nan, hi=math.nan, n=0)
    mean = float(v.mean())
    if n < 2:
        return dict(mean=mean, lo=math.nan, hi=math.nan, n=n)
    half = float(_st.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return dict(mean=mean, lo=mean - half, hi=mean + half, n=n)


def paired_difference(a: dict, b: dict, level: float = LEVEL) -> dict:
    """t interval of a[seed] - b[seed] over the seeds both have."""
    seeds = sorted(set(a) & set(b))
    return t_interval([a[s] - b[s] for s in seeds], level)


def fmt(ci: dict, scale: float = 100.0, digits: int = 1) -> str:
    """'84.2 ± 1.3' (half-width of the interval), or just the mean when there is no interval."""
    if not np.isfinite(ci["lo"]):
        return f"{ci['mean'] * scale:.{digits}f}"
    return f"{ci['mean'] * scale:.{digits}f} ± {(ci['hi'] - ci['lo']) / 2 * scale:.{digits}f}"
