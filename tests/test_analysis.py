"""Intervals over seeds: the t interval against scipy, and paired differences over common seeds."""
import math

import numpy as np
import pytest
from scipy import stats as st

from ddlib import analysis as stats

SAMPLE = [0.81, 0.79, 0.84, 0.80, 0.77, 0.83]


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_t_interval_matches_scipy(level):
    ci = stats.t_interval(SAMPLE, level)
    v = np.array(SAMPLE)
    lo, hi = st.t.interval(level, df=len(v) - 1, loc=v.mean(), scale=st.sem(v))
    assert ci["n"] == 6
    assert ci["mean"] == pytest.approx(v.mean(), rel=1e-12)
    assert (ci["lo"], ci["hi"]) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))


def test_t_interval_by_hand():
    # two values 1 and 3: mean 2, s = sqrt(2), half-width = t_{0.975, 1} * sqrt(2) / sqrt(2) = 12.7062...
    ci = stats.t_interval([1.0, 3.0])
    assert ci["mean"] == 2.0 and ci["hi"] - 2.0 == pytest.approx(12.706204736, rel=1e-9)
    assert ci["lo"] == pytest.approx(2.0 - 12.706204736, rel=1e-9)


def test_one_value_has_nan_bounds_and_none_has_a_nan_mean():
    ci = stats.t_interval([0.7])
    assert ci["mean"] == 0.7 and ci["n"] == 1 and math.isnan(ci["lo"]) and math.isnan(ci["hi"])
    ci = stats.t_interval([])
    assert ci["n"] == 0 and all(math.isnan(ci[k]) for k in ("mean", "lo", "hi"))
    assert stats.fmt(stats.t_interval([0.7])) == "70.0"


def test_non_finite_values_are_dropped():
    assert stats.t_interval([0.5, float("nan"), 0.7, float("inf")]) == stats.t_interval([0.5, 0.7])
    assert stats.t_interval(x for x in (0.5, 0.7))["n"] == 2              # any iterable, e.g. dict values


def test_constant_values_give_a_zero_width_interval():
    ci = stats.t_interval([0.9, 0.9, 0.9])
    assert ci["lo"] == ci["hi"] == pytest.approx(0.9)


def test_paired_difference_uses_only_common_seeds():
    a = {0: 0.90, 1: 0.80, 2: 0.70, 5: 0.10}
    b = {1: 0.50, 2: 0.60, 3: 0.10, 4: 0.99}
    d = stats.paired_difference(a, b)
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.2)
    assert d == stats.t_interval([0.80 - 0.50, 0.70 - 0.60])
    # pairing removes a shared per-seed offset that an unpaired comparison would count as noise
    base = {s: 0.5 + 0.1 * s for s in range(5)}
    shifted = {s: v + 0.03 for s, v in base.items()}
    p = stats.paired_difference(shifted, base)
    assert p["mean"] == pytest.approx(0.03) and p["hi"] - p["lo"] == pytest.approx(0.0, abs=1e-12)
    assert stats.paired_difference({0: 1.0}, {1: 1.0})["n"] == 0


def test_fmt():
    ci = stats.t_interval(SAMPLE)
    assert stats.fmt(ci) == f"{ci['mean'] * 100:.1f} ± {(ci['hi'] - ci['lo']) / 2 * 100:.1f}"
