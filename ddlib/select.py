"""Selectors: which training images a student gets. One interface (DeepCore's idea): a selector takes the
training split, an IPC and a seed and returns ``{"indices": LongTensor, "scores": Tensor | None}``, class-balanced
(exactly ``ipc`` per class), sorted and seeded. ``ipc='full'`` always means the whole training split.

Three layers:

1. selection rules as small pure functions on tensors (CCS's style, in ``ddlib.rules``, re-exported here):
   :func:`keep_by_score`, :func:`window`, :func:`ccs` (with :func:`stratum_budgets`), :func:`herding`, :func:`kcenter`;
2. the inputs they need, computed by a thin adapter: :func:`teacher_embeddings` (penultimate features of a cached
   teacher) and :func:`scoring_dynamics` (cached ``scores.record_dynamics`` runs);
3. the registry :data:`SELECTORS` (each entry declares what it reads, :class:`Selector`), reached through
   :func:`select`, which takes the inputs as knobs.

Knobs. Inputs (accepted by every selector, used where needed, so a caller can pass one context to any name):
``embeddings`` ([N, D] tensor) or ``teacher`` (a ``TeacherConfig`` or loaded ``Teacher``) for herding/k-center;
``dynamics`` (a ``scores.Dynamics`` or a list of runs) or ``recorder`` (a ``scores.RecorderConfig`` or a dict of
its fields) for the score-based selectors; ``device``, ``split_seed`` (the split the adapter reloads, default 0)
and ``progress``. Method knobs: see each selector's docstring; a misspelt knob is an error, not a silent default.
Difficulty scores follow ``scores.difficulty``: higher = harder.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import cad, data, fingerprint, scores as scoring, teacher as teachers
from .rules import (_classes, ccs, herding, herding_order, keep_by_score, kcenter, kcenter_order,  # noqa: F401
                    stratum_budgets, window)   # the rules are part of this module's surface (layer 1 above)
from .data import Splits, per_class_indices
from .errors import DDLibError, check_choice, check_like
from .paths import cache_dir
from .store import atomic_write, input_threads

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
            try:
                cached = load_file(file)["embeddings"]
            except (SafetensorError, OSError, KeyError):
                print(f"ddlib: corrupt cache file {file}; recomputing", file=sys.stderr)
        if cached is None:
            dev = next(teacher.model.parameters()).device
            x = data.on_device(splits.name, vpc, split_seed, str(dev))["train"][0]
            with input_threads():    # a cached input: the same bits whoever makes it
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
CONTEXT = ("embeddings", "teacher", "dynamics", "recorder", "scores", "device", "split_seed", "progress", "budget",
           "model", "batch")   # the last three: the downstream run's, for CAD-Prune's compute-matched scoring run


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
            **kw) -> dict:
    """``ipc`` per class uniformly from the [lo, hi] quantiles of the class's difficulty order (0 = easiest).
    Defaults [assumption]: the middle half by EL2N ("moderate" samples, in the spirit of Xia et al. 2023).
    ``scores``: a precomputed [N] difficulty (higher = harder) instead of ``score``."""
    d = _difficulty("window", score, splits, kw)
    return {"indices": window(d, splits.y_train, ipc, lo, hi, seed), "scores": d}


def _ccs(splits: Splits, ipc: int, seed: int, beta: float = -1.0, n_strata: int = 50, score: str = "aum",
         per_class: bool = False, **kw) -> dict:
    """CCS (Zheng et al. 2023) with AUM as its score and 50 strata (their defaults), over the whole set as in their
    code (``per_class``: within each class); ``beta`` < 0: grown with the pruning rate (``rules.ccs_beta``).
    ``scores``: a precomputed [N] difficulty instead of ``score``."""
    d = _difficulty("ccs", score, splits, kw)
    return {"indices": ccs(d, splits.y_train, ipc, None if beta < 0 else beta, n_strata, seed, per_class),
            "scores": d}


@dataclass(frozen=True)
class Selector:
    """A registry entry: the function, and what a run of it reads besides the split (so a run's cache key covers
    exactly that): ``"nothing"``, ``"teacher"`` (its embeddings or loss), ``"recorder"`` (the cached scoring run of
    ``RunConfig.recorder``) or ``"own"`` (a scoring run it makes from the run's budget, model and batch:
    CAD-Prune). ``reads`` may be a function of the knobs (a window on ``teacher_loss`` reads the teacher)."""
    fn: Callable
    reads: str | Callable[[dict], str]


def _by_score(knobs: dict) -> str:
    return "teacher" if knobs.get("score") == TEACHER_SCORE else "recorder"


SELECTORS = {"random": Selector(random, "nothing"),
             "herding": Selector(_herding, "teacher"), "kcenter": Selector(_kcenter, "teacher"),
             **{s: Selector(_score_selector(s), "recorder") for s in scoring.SCORES},
             "window": Selector(_window, _by_score), "ccs": Selector(_ccs, _by_score),
             "cad": Selector(cad.select, "own")}


def selector_knobs(name: str, score: str | None = None) -> dict:
    """The method knobs of selector ``name`` with their defaults (inputs, see CONTEXT, not included)."""
    check(name)
    params = inspect.signature(SELECTORS[name].fn).parameters
    own = {k: p.default for k, p in params.items()
           if k not in ("splits", "ipc", "seed", *CONTEXT) and p.kind is p.POSITIONAL_OR_KEYWORD}
    score = score or own.get("score") or (name if name in scoring.SCORES else None)
    if score is not None and score in scoring.SCORES:
        own.update(scoring.SCORES[score].knobs)
    return own


KNOB_CHOICES = {"which": ("easiest", "hardest")}   # knobs whose values are names, checked before any compute


def canonical_knobs(name: str, given) -> tuple:
    """``given`` knobs (pairs or a dict) checked, with every default written out, as sorted (name, value) pairs: one
    tuple per choice, whatever the order or which defaults were spelt out (a run's cache key is built from it)."""
    given = dict(given)
    check_knobs(name, given)
    inputs = sorted(set(given) & set(CONTEXT))
    if inputs:
        raise DDLibError(f"{', '.join(inputs)} {'is an input' if len(inputs) == 1 else 'are inputs'} of selector "
                         f"{name!r}, not a knob a run can store")
    defaults = selector_knobs(name, given.get("score"))
    for k, choices in KNOB_CHOICES.items():
        if k in given:
            check_choice(f"{name} knob {k}", given[k], choices)
    given = {k: check_like(f"selector {name!r}", k, v, defaults[k]) for k, v in given.items()}
    return tuple(sorted({**defaults, **given}.items()))


def reads(name: str, knobs) -> str:
    """What selector ``name`` with ``knobs`` reads besides the split (see :class:`Selector`)."""
    check(name)
    reads = SELECTORS[name].reads
    return reads(dict(knobs)) if callable(reads) else reads


def code_part(name: str) -> fingerprint.Part:
    """The code of selector ``name`` (and the scores it reads); the teacher it reads reaches a run's key by its own."""
    check(name)
    s = SELECTORS[name]
    roots = (s.fn, *([s.reads] if callable(s.reads) else []))
    return fingerprint.Part(tuple(map(fingerprint.root_of, roots)), fingerprint.SELECTOR_DOORS)


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
    return SELECTORS[name].fn(splits, ipc, seed, **knobs)
