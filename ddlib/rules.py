"""Selection rules as small pure functions on tensors (CCS's style): scores or embeddings and labels in, sorted
indices out (class-balanced, except CCS over the whole set as its code runs), seeded. ``ddlib.select`` wraps them
as selectors; CAD-Prune's pick uses them too. Difficulty scores follow ``scores.difficulty``: higher = harder."""
from __future__ import annotations

import math

import torch

from .errors import DDLibError, check_choice


def _check_ipc(y: torch.Tensor, ipc) -> torch.Tensor:
    """Validate ``ipc`` against the class sizes of ``y``; return the per-class counts."""
    if y.ndim != 1 or len(y) == 0:
        raise DDLibError(f"labels must be a non-empty 1-D tensor, got shape {tuple(y.shape)}")
    if isinstance(ipc, bool) or not isinstance(ipc, int) or ipc < 1:
        raise DDLibError(f"IPC must be a positive integer or 'full', got {ipc!r}")
    counts = torch.bincount(y.cpu())
    if ipc > int(counts.min()):
        raise DDLibError(f"IPC {ipc} is larger than the smallest class ({int(counts.min())} images)")
    return counts


def _check_scores(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if scores.ndim != 1 or len(scores) != len(y):
        raise DDLibError(f"scores must be one value per sample ([{len(y)}]), got shape {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise DDLibError("scores contain NaN or infinite values")
    return scores.detach().cpu().double()


def _rank(values: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Positions 0..n-1 ordered by ascending value, ties in a seeded random order."""
    perm = torch.randperm(len(values), generator=g)
    return perm[torch.sort(values[perm], stable=True).indices]


def _prepare(scores: torch.Tensor, y: torch.Tensor, ipc: int, seed: int) -> tuple:
    """The checks and inputs every score-based rule starts from: labels on the CPU, validated scores, a seeded
    generator."""
    y = y.cpu()
    _check_ipc(y, ipc)
    return y, _check_scores(scores, y), torch.Generator().manual_seed(int(seed))


def _classes(y: torch.Tensor):
    for c in range(int(y.max()) + 1):
        yield c, torch.nonzero(y == c).flatten()


def keep_by_score(scores: torch.Tensor, y: torch.Tensor, ipc: int, which: str = "hardest",
                  seed: int = 0) -> torch.Tensor:
    """Per class, the ``ipc`` samples with the highest (``which='hardest'``) or lowest (``'easiest'``) difficulty
    ``scores`` (higher = harder); ties are broken in a seeded random order. Sorted indices."""
    check_choice("which", which, ("easiest", "hardest"))
    y, s, g = _prepare(scores, y, ipc, seed)
    picks = []
    for _, idx in _classes(y):
        order = _rank(s[idx], g)                    # easiest first
        picks.append(idx[order[:ipc] if which == "easiest" else order[len(order) - ipc:]])
    return torch.cat(picks).sort().values


def window(scores: torch.Tensor, y: torch.Tensor, ipc: int, lo_quantile: float, hi_quantile: float,
           seed: int = 0) -> torch.Tensor:
    """Per class, ``ipc`` samples drawn uniformly (seeded) from a difficulty window: rank the class's samples by
    ``scores`` (easiest first, ties at random) and keep ranks ``floor(lo * n) .. ceil(hi * n) - 1``, i.e. the
    quantiles [lo, hi] of the class's difficulty order (0 = easiest). A window with fewer than ``ipc`` samples is
    an error, not silently widened. Sorted indices."""
    if not (0.0 <= lo_quantile < hi_quantile <= 1.0):
        raise DDLibError(f"window needs 0 <= lo < hi <= 1, got lo={lo_quantile!r}, hi={hi_quantile!r}")
    y, s, g = _prepare(scores, y, ipc, seed)
    picks = []
    for c, idx in _classes(y):
        n = len(idx)
        pool = idx[_rank(s[idx], g)[math.floor(lo_quantile * n):math.ceil(hi_quantile * n)]]
        if len(pool) < ipc:
            raise DDLibError(f"the difficulty window [{lo_quantile}, {hi_quantile}] of class {c} holds {len(pool)} "
                             f"samples, fewer than IPC {ipc}; widen it")
        picks.append(pool[torch.randperm(len(pool), generator=g)[:ipc]])
    return torch.cat(picks).sort().values


def stratum_budgets(sizes, budget: int) -> list:
    """CCS's allocation (Zheng et al. 2023): visit the non-empty strata from the smallest to the largest (ties in
    stratum order) and give each ``min(its size, remaining budget // strata not yet visited)``. Fills the budget
    exactly whenever the strata hold enough samples. E.g. sizes [1, 5, 10], budget 9 -> [1, 4, 4]."""
    sizes = [int(s) for s in sizes]
    if budget < 0 or sum(sizes) < budget:
        raise DDLibError(f"strata hold {sum(sizes)} samples, cannot fill a budget of {budget}")
    out = [0] * len(sizes)
    order = sorted((k for k, s in enumerate(sizes) if s > 0), key=lambda k: sizes[k])   # stable: ties by index
    left = budget
    for i, k in enumerate(order):
        out[k] = min(sizes[k], left // (len(order) - i))
        left -= out[k]
    assert left == 0, "stratum allocation left budget unspent"
    return out


# CCS's hard cutoff beta by pruning rate [Zheng et al. 2023: beta grows with the pruning rate; their README runs
# CIFAR-10 at 90% pruning with --mis-ratio 0.3]. Below 90% [ours, interpolated]: 0.1 from 70%, 0 below.
CCS_BETA = ((0.9, 0.3), (0.7, 0.1), (0.0, 0.0))   # (least pruning rate, beta), highest rate first


def ccs_beta(pruning_rate: float) -> float:
    """CCS's beta for a pruning rate (the fraction of the training set left out): :data:`CCS_BETA`."""
    return next(beta for rate, beta in CCS_BETA if pruning_rate >= rate)


def _strata(v: torch.Tensor, n_strata: int) -> torch.Tensor:
    """The stratum of each value: ``n_strata`` equal-width bins over [min, max] (the top value in the last)."""
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        return torch.zeros(len(v), dtype=torch.long)
    return ((v - lo) / (hi - lo) * n_strata).floor().long().clamp(max=n_strata - 1)


def _ccs_pool(idx: torch.Tensor, s: torch.Tensor, total: int, beta: float, n_strata: int,
              g: torch.Generator) -> list:
    """CCS on one pool of indices: drop its hardest ``beta`` fraction (never below ``total`` left; ties at random),
    stratify the rest, allocate ``total`` with :func:`stratum_budgets` and draw uniformly in each stratum."""
    n = len(idx)
    drop = min(math.floor(beta * n), n - total)
    keep = idx[_rank(s[idx], g)[:n - drop]]
    strata = _strata(s[keep], n_strata)
    picks = []
    for k, b in enumerate(stratum_budgets(torch.bincount(strata, minlength=n_strata).tolist(), total)):
        if b:
            members = keep[strata == k]
            picks.append(members[torch.randperm(len(members), generator=g)[:b]])
    return picks


def ccs(scores: torch.Tensor, y: torch.Tensor, ipc: int, beta: float | None = None, n_strata: int = 50,
        seed: int = 0, per_class: bool = False) -> torch.Tensor:
    """Coverage-centric coreset selection (Zheng et al. 2023): keep ``ipc`` x classes samples. As in their code, over
    the whole training set (``per_class=True``: within each class, ``ipc`` each): drop the hardest ``beta``
    fraction by difficulty ``scores`` (``None``: :func:`ccs_beta` of the pruning rate), split the remaining score
    range into ``n_strata`` equal-width strata, allocate the budget with :func:`stratum_budgets` and draw uniformly
    (seeded) inside each stratum. Whole-set picks need not be class-balanced. Sorted indices."""
    y, s, g = _prepare(scores, y, ipc, seed)
    classes = int(y.max()) + 1
    if beta is None:
        beta = ccs_beta(1 - ipc * classes / len(y))
    if not 0.0 <= beta < 1.0:
        raise DDLibError(f"CCS beta (fraction of hardest samples dropped) must be in [0, 1), got {beta!r}")
    if isinstance(n_strata, bool) or not isinstance(n_strata, int) or n_strata < 1:
        raise DDLibError(f"CCS n_strata must be a positive integer, got {n_strata!r}")
    pools = [idx for _, idx in _classes(y)] if per_class else [torch.arange(len(y))]
    total = ipc if per_class else ipc * classes
    return torch.cat([p for idx in pools for p in _ccs_pool(idx, s, total, beta, n_strata, g)]).sort().values


def _check_emb(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if emb.ndim != 2 or len(emb) != len(y):
        raise DDLibError(f"embeddings must be [N, D] with N = {len(y)}, got shape {tuple(emb.shape)}")
    if not torch.isfinite(emb).all():
        raise DDLibError("embeddings contain NaN or infinite values")
    return emb.detach().double()


def herding(emb: torch.Tensor, y: torch.Tensor, ipc: int) -> torch.Tensor:
    """Herding (Welling 2009; as in iCaRL/DeepCore), per class, greedy and deterministic: at step t add the unpicked
    sample whose addition brings the mean of the t + 1 selected embeddings closest (Euclidean) to the class mean
    embedding; ties go to the lowest index. Sorted indices (use :func:`herding_order` for the pick order)."""
    return torch.cat(herding_order(emb, y, ipc)).sort().values


def herding_order(emb: torch.Tensor, y: torch.Tensor, ipc: int) -> list:
    """:func:`herding`'s picks per class, in the order picked: a list of index tensors, one per class."""
    _check_ipc(y.cpu(), ipc)
    e_all = _check_emb(emb, y)
    out = []
    for _, idx in _classes(y.cpu()):
        e = e_all[idx.to(e_all.device)]
        mu = e.mean(0)
        total = torch.zeros_like(mu)
        sq = (e * e).sum(1)
        free = torch.ones(len(e), dtype=torch.bool, device=e.device)
        order = []
        for t in range(ipc):
            # (t+1)^2 ||(total + e_i)/(t+1) - mu||^2 = ||e_i||^2 + 2 e_i.(total - (t+1) mu) + (a constant in i):
            # one matrix-vector product per step instead of an [n, D] temporary (16 s -> <1 s at IPC 50, N 55k)
            dist = sq + 2 * (e @ (total - (t + 1) * mu))
            dist[~free] = float("inf")
            i = int(torch.argmin(dist))          # the first minimum: lowest index on ties
            order.append(i)
            free[i] = False
            total += e[i]
        out.append(idx[torch.tensor(order, dtype=torch.long)])
    return out


def kcenter(emb: torch.Tensor, y: torch.Tensor, ipc: int, seed: int = 0) -> torch.Tensor:
    """K-center greedy (Sener & Savarese 2018), per class: start from a seeded uniformly random sample (as
    DeepCore does with no pre-selected pool), then repeatedly add the sample with the largest Euclidean distance to
    its nearest selected center (ties: lowest index). Sorted indices (use :func:`kcenter_order` for the order)."""
    return torch.cat(kcenter_order(emb, y, ipc, seed)).sort().values


def kcenter_order(emb: torch.Tensor, y: torch.Tensor, ipc: int, seed: int = 0) -> list:
    """:func:`kcenter`'s picks per class, in the order picked: a list of index tensors, one per class."""
    _check_ipc(y.cpu(), ipc)
    e_all = _check_emb(emb, y)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for _, idx in _classes(y.cpu()):
        e = e_all[idx.to(e_all.device)]
        first = int(torch.randint(len(e), (1,), generator=g))
        order = [first]
        nearest = (e - e[first]).norm(dim=1)
        for _ in range(ipc - 1):
            far = nearest.clone()
            far[torch.tensor(order, device=e.device)] = float("-inf")
            i = int(torch.argmax(far))
            order.append(i)
            nearest = torch.minimum(nearest, (e - e[i]).norm(dim=1))
        out.append(idx[torch.tensor(order, dtype=torch.long)])
    return out
