"""Selectors: which training images a student gets. One interface (DeepCore's idea): a selector takes the
training split, an IPC and a seed and returns ``{"indices": LongTensor, "scores": Tensor | None}``, class-balanced
(exactly ``ipc`` per class), sorted and seeded. ``ipc='full'`` always means the whole training split.

Three layers:

1. selection rules as small pure functions on tensors (CCS's style): :func:`keep_by_score`, :func:`window`,
   :func:`ccs` (with :func:`stratum_budgets`), :func:`herding`, :func:`kcenter`;
2. the inputs they need, computed by a thin adapter: :func:`teacher_embeddings` (penultimate features of a cached
   teacher) and :func:`scoring_dynamics` (cached ``scores.record_dynamics`` runs);
3. the registry :data:`SELECTORS`, reached through :func:`select`, which takes the inputs as knobs.

Knobs. Inputs (accepted by every selector, used where needed, so a caller can pass one context to any name):
``embeddings`` ([N, D] tensor) or ``teacher`` (a ``TeacherConfig`` or loaded ``Teacher``) for herding/k-center;
``dynamics`` (a ``scores.Dynamics`` or a list of runs) or ``recorder`` (a ``scores.RecorderConfig`` or a dict of
its fields) for the score-based selectors; ``device``, ``split_seed`` (the split the adapter reloads, default 0)
and ``progress``. Method knobs: see each selector's docstring; a misspelt knob is an error, not a silent default.
Difficulty scores follow ``scores.difficulty``: higher = harder.
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from . import cad, data, scores as scoring, teacher as teachers
from .data import Splits, per_class_indices
from .errors import DDLibError, check_choice
from .paths import cache_dir
from .store import atomic_write

# --- pure selection rules -----------------------------------------------------------------------------------


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


def ccs(scores: torch.Tensor, y: torch.Tensor, ipc: int, beta: float = 0.1, n_strata: int = 50,
        seed: int = 0) -> torch.Tensor:
    """Coverage-centric coreset selection (Zheng et al. 2023), per class: drop the hardest ``beta`` fraction by
    difficulty ``scores`` (floor(beta * n), but never so many that fewer than ``ipc`` remain; ties at random), split
    the remaining score range into ``n_strata`` equal-width strata, allocate ``ipc`` with :func:`stratum_budgets`
    and draw uniformly (seeded) inside each stratum. Sorted indices."""
    if not 0.0 <= beta < 1.0:
        raise DDLibError(f"CCS beta (fraction of hardest samples dropped) must be in [0, 1), got {beta!r}")
    if isinstance(n_strata, bool) or not isinstance(n_strata, int) or n_strata < 1:
        raise DDLibError(f"CCS n_strata must be a positive integer, got {n_strata!r}")
    y, s, g = _prepare(scores, y, ipc, seed)
    picks = []
    for _, idx in _classes(y):
        n = len(idx)
        drop = min(math.floor(beta * n), n - ipc)
        keep = idx[_rank(s[idx], g)[:n - drop]]
        v = s[keep]
        lo, hi = float(v.min()), float(v.max())
        if hi > lo:
            strata = ((v - lo) / (hi - lo) * n_strata).floor().long().clamp(max=n_strata - 1)
        else:
            strata = torch.zeros(len(v), dtype=torch.long)
        budgets = stratum_budgets(torch.bincount(strata, minlength=n_strata).tolist(), ipc)
        for k, b in enumerate(budgets):
            if b:
                members = keep[strata == k]
                picks.append(members[torch.randperm(len(members), generator=g)[:b]])
    return torch.cat(picks).sort().values


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


# --- the inputs: embeddings and difficulty scores, computed from cached runs -------------------------------------

def split_args(splits: Splits, split_seed: int = 0) -> tuple:
    """(val_per_class, split_seed) that reproduce ``splits`` with ``data.load``; checked, since a ``Splits`` does
    not record them (val_per_class is read off the validation split's size)."""
    vpc = len(splits.y_val) // splits.num_classes
    ref = data.load(splits.name, vpc, split_seed)
    if ref is not splits and not (torch.equal(ref.y_train, splits.y_train) and
                                  torch.equal(ref.x_train, splits.x_train)):
        raise DDLibError(f"these splits are not data.load({splits.name!r}, {vpc}, split_seed={split_seed}); "
                         f"pass the split_seed they were made with")
    return vpc, split_seed


@torch.no_grad()
def embed(model, x: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """Penultimate features ``model.embed(x)`` of normalised ``x``, in eval mode, in chunks."""
    was_training = model.training
    model.eval()
    out = torch.cat([model.embed(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    model.train(was_training)
    return out


def _teacher_for(splits: Splits, teacher, split_seed: int, device: str, progress: bool) -> tuple:
    """(the loaded Teacher, val_per_class, split_seed) for ``splits``; ``teacher`` is a ``TeacherConfig`` (trained
    and cached by ``ddlib.teacher`` if needed) or a loaded ``Teacher``, checked against the split's classes."""
    vpc, split_seed = split_args(splits, split_seed)
    if isinstance(teacher, teachers.TeacherConfig):
        teacher = teachers.get(teacher, splits.name, vpc, split_seed, device, progress)
    if not isinstance(teacher, teachers.Teacher):
        raise DDLibError(f"teacher must be a TeacherConfig or a Teacher, got {type(teacher).__name__}")
    if tuple(teacher.meta.get("classes", splits.classes)) != tuple(splits.classes):
        raise DDLibError(f"teacher {teacher.id} was trained on other classes than {splits.name}'s")
    return teacher, vpc, split_seed


def teacher_embeddings(splits: Splits, teacher, split_seed: int = 0, device: str = "cpu",
                       progress: bool = False) -> torch.Tensor:
    """[N, D] float32 (CPU) penultimate features of the training split under a cached teacher: ``teacher`` is a
    ``TeacherConfig`` (trained and cached by ``ddlib.teacher`` if needed) or a loaded ``Teacher``."""
    teacher, vpc, split_seed = _teacher_for(splits, teacher, split_seed, device, progress)
    cached = getattr(teacher, "train_embeddings", None)
    if cached is None:       # teachers.get shares one Teacher per config (lru-cached): embed the split once
        file = cache_dir() / "teachers" / teacher.id / "train_embeddings.safetensors"
        if file.exists():    # made by another process (a sweep's workers each load the teacher)
            cached = load_file(file)["embeddings"]
        else:
            dev = next(teacher.model.parameters()).device
            x = data.on_device(splits.name, vpc, split_seed, str(dev))["train"][0]
            cached = embed(teacher.model, x).float().cpu().contiguous()
            if file.parent.joinpath("meta.json").exists():
                atomic_write(file, lambda f: save_file({"embeddings": cached}, f))
        teacher.train_embeddings = cached
    return cached


def scoring_dynamics(splits: Splits, recorder, split_seed: int = 0, device: str = "cpu",
                     progress: bool = False) -> list:
    """One cached ``scores.record_dynamics`` run per seed of ``recorder`` (a ``RecorderConfig`` or a dict of its
    fields) on the training split of ``splits``."""
    if isinstance(recorder, dict):
        try:
            recorder = scoring.RecorderConfig(**recorder)
        except TypeError as e:
            raise DDLibError(f"bad recorder {recorder!r} ({e})") from None
    if not isinstance(recorder, scoring.RecorderConfig):
        raise DDLibError(f"recorder must be a scores.RecorderConfig or a dict, got {type(recorder).__name__}")
    vpc, split_seed = split_args(splits, split_seed)
    return [scoring.record_dynamics(splits.name, **run, val_per_class=vpc, split_seed=split_seed, device=device,
                                    progress=progress) for run in recorder.runs()]


def _embeddings(name: str, splits: Splits, kw: dict) -> torch.Tensor:
    if kw.get("embeddings") is not None:
        return kw["embeddings"]
    if kw.get("teacher") is not None:
        return teacher_embeddings(splits, kw["teacher"], kw.get("split_seed", 0), kw.get("device", "cpu"),
                                  kw.get("progress", False))
    raise DDLibError(f"selector {name!r} needs embeddings=<[N, D] tensor> or teacher=<TeacherConfig> (its "
                     f"penultimate features)")


TEACHER_SCORE = "teacher_loss"   # a difficulty read off the cached teacher, for window and ccs


def teacher_loss(splits: Splits, teacher, split_seed: int = 0, device: str = "cpu",
                 progress: bool = False) -> torch.Tensor:
    """[N] the teacher's true-class cross-entropy on every un-augmented training image (higher = harder): a
    difficulty that needs no scoring run once the teacher exists. ``teacher``: a TeacherConfig or a Teacher."""
    teacher = _teacher_for(splits, teacher, split_seed, device, progress)[0]
    return F.cross_entropy(teacher.train_logits.float().cpu(), splits.y_train, reduction="none")


def class_percentile(difficulty: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's rank within its class by ``difficulty`` as a fraction: 0 = the class's easiest, 1 = its
    hardest (ties in index order). The common axis on which different picks are compared."""
    d, y = difficulty.cpu(), y.cpu()
    pct = torch.empty(len(d), dtype=torch.float32)
    for _, idx in _classes(y):
        ranks = torch.argsort(torch.argsort(d[idx], stable=True))
        pct[idx] = ranks.float() / max(len(idx) - 1, 1)
    return pct


def difficulty(score: str, splits: Splits, **inputs) -> torch.Tensor:
    """[N] the difficulty (higher = harder) of every training image under ``score``: a recorder score (see
    ``scores.SCORES``; needs ``dynamics`` or ``recorder``) or ``teacher_loss`` (needs ``teacher``)."""
    check_choice("score", score, (*scoring.SCORES, TEACHER_SCORE))
    return _difficulty("difficulty", score, splits, inputs)


def _difficulty(name: str, score: str, splits: Splits, kw: dict) -> torch.Tensor:
    """The difficulty (higher = harder) of every training image under ``score``, from the knobs' inputs."""
    knobs = {k: v for k, v in kw.items() if k in getattr(scoring.SCORES.get(score), "knobs", {})}
    if kw.get("scores") is not None:
        s = kw["scores"]
    elif score == TEACHER_SCORE:
        if kw.get("teacher") is None:
            raise DDLibError(f"selector {name!r} with score {TEACHER_SCORE!r} needs teacher=<TeacherConfig>")
        s = teacher_loss(splits, kw["teacher"], kw.get("split_seed", 0), kw.get("device", "cpu"),
                         kw.get("progress", False))
    elif kw.get("dynamics") is not None:
        s = scoring.difficulty(score, kw["dynamics"], **knobs)
    elif kw.get("recorder") is not None:
        dyn = scoring_dynamics(splits, kw["recorder"], kw.get("split_seed", 0), kw.get("device", "cpu"),
                               kw.get("progress", False))
        s = scoring.difficulty(score, dyn, **knobs)
    else:
        extra = "scores=<[N] difficulty tensor>, " if name in ("window", "ccs") else ""
        raise DDLibError(f"selector {name!r} needs {extra}dynamics=<scores.Dynamics> or recorder=<scores."
                         f"RecorderConfig> (a cached scoring run)")
    if s.ndim != 1 or len(s) != len(splits.y_train):
        raise DDLibError(f"selector {name!r}: scores cover {len(s)} samples, the training split has "
                         f"{len(splits.y_train)}")
    return s.float().cpu()


# --- the registry ---------------------------------------------------------------------------------------------

# Input knobs every selector accepts (and ignores when it does not need them), so one context fits any name.
CONTEXT = ("embeddings", "teacher", "dynamics", "recorder", "device", "split_seed", "progress", "budget", "model",
           "batch")   # the last three: the downstream run's, for CAD-Prune's compute-matched scoring run


def random(splits: Splits, ipc: int, seed: int, **_) -> dict:
    """``ipc`` images per class, uniformly at random (the baseline every method is compared with)."""
    return {"indices": per_class_indices(splits.y_train, ipc, seed), "scores": None}


def _herding(splits: Splits, ipc: int, seed: int, **kw) -> dict:
    """Herding on penultimate embeddings (``embeddings`` or ``teacher``); deterministic, ``seed`` unused."""
    return {"indices": herding(_embeddings("herding", splits, kw), splits.y_train, ipc), "scores": None}


def _kcenter(splits: Splits, ipc: int, seed: int, **kw) -> dict:
    """K-center greedy on penultimate embeddings (``embeddings`` or ``teacher``); ``seed`` picks the first center."""
    return {"indices": kcenter(_embeddings("kcenter", splits, kw), splits.y_train, ipc, seed), "scores": None}


DEFAULT_WHICH = {
    "el2n": "hardest",           # Paul et al. 2021 prune the easiest (keep high EL2N) at moderate pruning rates
    "forgetting": "hardest",     # Toneva et al. 2019 drop unforgettable (easy) samples first
    "aum": "hardest",            # keep low-AUM samples (difficulty = -AUM), as for the other difficulty scores
    "learned_epoch": "hardest",  # keep late-learned samples, as for the other difficulty scores
    "dyn_unc": "hardest",        # CAD-Prune/He et al. 2023 keep the top-uncertainty samples [paper-notes]
}


def _score_selector(score: str):
    def selector(splits: Splits, ipc: int, seed: int, which: str = DEFAULT_WHICH[score], **kw) -> dict:
        d = _difficulty(score, score, splits, kw)
        return {"indices": keep_by_score(d, splits.y_train, ipc, which, seed), "scores": d}
    selector.__name__ = f"_{score}"
    selector.__doc__ = (f"Keep the ``ipc`` hardest or easiest images per class by {score} ("
                        f"{scoring.SCORES[score].about}). ``which`` defaults to {DEFAULT_WHICH[score]!r} (the "
                        f"literature's choice at moderate pruning; at tiny IPC the easiest can win, Sorscher et al. "
                        f"2022). Score knobs: {scoring.SCORES[score].knobs or 'none'}. Ties: seeded random.")
    return selector


def _window(splits: Splits, ipc: int, seed: int, lo: float = 0.25, hi: float = 0.75, score: str = "el2n",
            scores=None, **kw) -> dict:
    """``ipc`` per class uniformly from the [lo, hi] quantiles of the class's difficulty order (0 = easiest).
    Defaults [assumption]: the middle half by EL2N ("moderate" samples, in the spirit of Xia et al. 2023).
    ``scores``: a precomputed [N] difficulty (higher = harder) instead of ``score``."""
    d = _difficulty("window", score, splits, dict(kw, scores=scores))
    return {"indices": window(d, splits.y_train, ipc, lo, hi, seed), "scores": d}


def _ccs(splits: Splits, ipc: int, seed: int, beta: float = 0.1, n_strata: int = 50, score: str = "aum",
         scores=None, **kw) -> dict:
    """CCS (Zheng et al. 2023) with AUM as its score, beta = 0.1 and 50 strata by default (their defaults; they
    grow beta with the pruning rate). ``scores``: a precomputed [N] difficulty instead of ``score``."""
    d = _difficulty("ccs", score, splits, dict(kw, scores=scores))
    return {"indices": ccs(d, splits.y_train, ipc, beta, n_strata, seed), "scores": d}


SELECTORS = {"random": random, "herding": _herding, "kcenter": _kcenter,
             **{s: _score_selector(s) for s in scoring.SCORES}, "window": _window, "ccs": _ccs, "cad": cad.select}


def selector_knobs(name: str, score: str | None = None) -> dict:
    """The method knobs of selector ``name`` with their defaults (inputs, see CONTEXT, not included)."""
    check(name)
    params = inspect.signature(SELECTORS[name]).parameters
    own = {k: p.default for k, p in params.items()
           if k not in ("splits", "ipc", "seed", *CONTEXT) and p.kind is p.POSITIONAL_OR_KEYWORD}
    score = score or own.get("score") or (name if name in scoring.SCORES else None)
    if score is not None and score in scoring.SCORES:
        own.update(scoring.SCORES[score].knobs)
    return own


def check(name: str) -> str:
    check_choice("selector", name, SELECTORS)
    return name


def check_knobs(name: str, given: dict) -> None:
    """A one-line DDLibError for a knob selector ``name`` does not take (a typo would otherwise be ignored)."""
    if "score" in given:
        check_choice("score", given["score"], (*scoring.SCORES, TEACHER_SCORE) if name in ("window", "ccs")
                     else scoring.SCORES)
    own = selector_knobs(name, given.get("score"))
    bad = sorted(set(given) - set(own) - set(CONTEXT))
    if bad:
        valid = ", ".join(f"{k}={v!r}" for k, v in own.items()) or "none"
        raise DDLibError(f"selector {name!r} has no knob {', '.join(map(repr, bad))}; its knobs: {valid}; "
                         f"inputs: {', '.join(CONTEXT)}")


def select(name: str, splits: Splits, ipc, seed: int, **knobs) -> dict:
    """Run selector ``name``; ``ipc='full'`` returns every training index whatever the selector.

    E.g. ``select("el2n", splits, 10, 0, dynamics=dyn, which="easiest")``,
    ``select("herding", splits, 10, 0, embeddings=emb)``, ``select("ccs", splits, 10, 0, recorder=RecorderConfig())``.
    """
    check(name)
    check_knobs(name, knobs)
    if ipc == "full":
        return {"indices": torch.arange(len(splits.y_train)), "scores": None}
    return SELECTORS[name](splits, ipc, seed, **knobs)
