"""Distillers: a dataset, an IPC, a seed and a method's knobs in; a synthetic set out (``synset.SynSet``: images in
pixel units, labels, the method's compute), cached under ``<cache>/synsets/`` by everything that can change it.
Pixels are clipped to [0, 1], except for the methods whose own evaluation trains on the unclipped tensor (DC, DM,
MTT, DATM: ``UNCLIPPED = True`` in their module; the set says ``pixels: unclipped``) [issue 13].

One module per method, each with the same three names:

- ``Knobs``: a frozen dataclass of the method's constants, each commented with its source (the method's paper or
  code) or marked as scaled down for the CPU profile;
- ``distill(ctx, knobs) -> dict(x=..., y=..., compute=...)``: the algorithm, on normalised images;
- ``objective(ctx, knobs, x, y) -> float``: the method's own loss on a fixed probe (tests check it goes down).

Methods: DM, DC, MTT and DATM (classic small scale; DATM also learns soft labels, which the set stores), SRe2L and
RDED (large scale); CA2D builds on RDED.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path

import torch
from tqdm import tqdm

from .. import data, fingerprint, models, teacher as teachers
from ..errors import DDLibError, check_choice, check_like
from ..paths import cache_dir
from ..store import cached_folder, digest
from ..synset import UNCLIPPED, SynSet, load as load_synset, peek_meta, save as save_synset, sha256
from ..version import __version__
from . import ca2d, datm, dc, dm, mtt, rded, sre2l

INIT_SEED_OFFSET = 1_000_003   # [issue 13] the real-image initialisation's draw: seed + this, not the baseline's
METHODS = {"dm": dm, "dc": dc, "mtt": mtt, "datm": datm, "sre2l": sre2l, "rded": rded, "ca2d": ca2d}
# as the papers write them
NAMES = {"dm": "DM", "dc": "DC", "mtt": "MTT", "datm": "DATM", "sre2l": "SRe2L", "rded": "RDED", "ca2d": "CA2D"}


@dataclass
class Context:
    """What every distiller reads: the normalised training split on the device, the IPC, the seed, the teacher
    recipe (RDED's observer; SRe2L trains its BatchNorm variant) and a progress flag."""
    dataset: str
    ipc: int
    seed: int
    device: str = "cpu"
    teacher: teachers.TeacherConfig = teachers.TeacherConfig()
    val_per_class: int = 500
    split_seed: int = 0
    progress: bool = False

    @cached_property
    def splits(self) -> data.Splits:
        return data.load(self.dataset, self.val_per_class, self.split_seed)

    @property
    def train(self) -> tuple:
        """(x, y): the normalised training split on the device."""
        return data.on_device(self.dataset, self.val_per_class, self.split_seed, self.device)["train"]

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    @property
    def shape(self) -> tuple:
        return self.splits.shape

    def generator(self, stream: int = 0) -> torch.Generator:
        """A generator on the device seeded by (seed, stream): one independent stream per use."""
        return torch.Generator(device=self.device).manual_seed(int(self.seed) * 1_000_003 + stream)

    def real_init(self) -> tuple:
        """IPC real images per class (seeded, class-sorted), cloned: the classic initialisation. Drawn apart from
        the random baseline of the same seed (INIT_SEED_OFFSET), so that an under-run set is not that very subset
        and its gain over random is not zero by construction [issue 13]."""
        x, y = self.train
        idx = data.per_class_indices(self.splits.y_train, self.ipc, self.seed + INIT_SEED_OFFSET)
        idx = idx[torch.sort(self.splits.y_train[idx], stable=True).indices].to(self.device)
        return x[idx].clone(), y[idx].clone()

    def class_batch(self, c: int, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` random training images of class ``c`` (with replacement only if the class is smaller)."""
        x, _ = self.train
        idx = self.class_index[c]
        pick = torch.randperm(len(idx), generator=g, device=self.device)[:n] if n <= len(idx) else \
            torch.randint(len(idx), (n,), generator=g, device=self.device)
        return x[idx[pick]]

    @cached_property
    def class_index(self) -> list:
        """Per class, the training indices of its images (on the device)."""
        y = self.train[1]
        return [torch.nonzero(y == c).flatten() for c in range(self.num_classes)]

    def net(self, model: str, stream: int) -> torch.nn.Module:
        """A freshly initialised ``model`` on the device, its init seeded by (seed, stream)."""
        torch.manual_seed(int(self.seed) * 1_000_003 + stream)
        return models.build(model, self.shape, self.num_classes).to(self.device)

    def get_teacher(self, model: str | None = None) -> teachers.Teacher:
        """The cached teacher (trained on first use); ``model`` swaps the architecture, same recipe."""
        cfg = self.teacher if model is None else replace(self.teacher, model=model)
        return teachers.get(cfg, self.dataset, self.val_per_class, self.split_seed, self.device, self.progress)

    def bar(self, total: int, desc: str):
        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)


def check(method: str) -> None:
    check_choice("distillation method", method, METHODS)


def make_knobs(method: str, given: dict | tuple = ()):
    """The method's ``Knobs`` with ``given`` applied; a misspelt knob is a one-line error, not a silent default."""
    check(method)
    cls = METHODS[method].Knobs
    given = dict(given)
    names = [f.name for f in fields(cls)]
    bad = sorted(set(given) - set(names))
    if bad:
        valid = ", ".join(f"{f.name}={getattr(cls(), f.name)!r}" for f in fields(cls))
        raise DDLibError(f"method {method!r} has no knob {', '.join(map(repr, bad))}; its knobs: {valid}")
    defaults = cls()
    knobs = cls(**{k: check_like(f"method {method!r}", k, v, getattr(defaults, k)) for k, v in given.items()})
    getattr(knobs, "validate", lambda: None)()
    return knobs


def uses_teacher(method: str) -> bool:
    return bool(getattr(METHODS[method], "USES_TEACHER", False))


def key(method: str, ctx: Context, knobs) -> str:
    """A content address of the set: every input that can change the images."""
    d = dict(method=method, knobs=asdict(knobs), dataset=ctx.dataset, ipc=ctx.ipc, seed=ctx.seed,
             val_per_class=ctx.val_per_class, split_seed=ctx.split_seed, device=torch.device(ctx.device).type,
             ddlib_version=__version__)
    if uses_teacher(method):
        d["teacher"] = teachers.TeacherConfig.key(_teacher_of(method, ctx, knobs), ctx.dataset, ctx.val_per_class,
                                                  ctx.split_seed)
    return (f"{method}-{ctx.dataset}-ipc{ctx.ipc}-s{ctx.seed}-"
            f"{digest(d, fingerprint.of(code_part(method), data.code_part(ctx.dataset)))}")


def code_part(method: str) -> fingerprint.Part:
    """The code a set of ``method`` is made by: this package's caching and checks, and the method's own module."""
    return fingerprint.Part((("distill", "get"), fingerprint.root_of(METHODS[method])), fingerprint.SET_DOORS)


def _teacher_of(method: str, ctx: Context, knobs) -> teachers.TeacherConfig:
    model = getattr(knobs, "teacher_model", "") or ctx.teacher.model
    return replace(ctx.teacher, model=model)


def prepare(method: str, ctx: Context, knobs) -> None:
    """Make what a method's sets share, before several sets are distilled at once: the teacher it reads, and the
    method's own shared inputs (its module's optional ``prepare``, e.g. MTT's expert trajectories)."""
    if uses_teacher(method):
        ctx.get_teacher(_teacher_of(method, ctx, knobs).model)
    getattr(METHODS[method], "prepare", lambda c, k: None)(ctx, knobs)


def to_pixels(x: torch.Tensor, splits: data.Splits, clip: bool = True) -> torch.Tensor:
    """Normalised images -> pixel units, clipped to [0, 1] unless ``clip`` is off (a method whose own evaluation
    trains on the unclipped tensor: its module's ``UNCLIPPED``)."""
    mean = torch.tensor(splits.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(splits.std, device=x.device).view(1, -1, 1, 1)
    px = x.detach() * std + mean
    return (px.clamp_(0, 1) if clip else px).cpu()


def unclipped(method: str) -> bool:
    """Does ``method``'s own evaluation train on its unclipped tensor (DC, DM, MTT and DATM do) [issue 13]."""
    return bool(getattr(METHODS[method], "UNCLIPPED", False))


def distill(method: str, dataset: str, ipc: int, seed: int = 0, *, device: str = "cpu",
            teacher: teachers.TeacherConfig | None = None, val_per_class: int = 500, split_seed: int = 0,
            progress: bool = False, **knobs) -> SynSet:
    """Run ``method`` (no cache) and return its set with provenance in ``meta``."""
    k = make_knobs(method, knobs)
    ctx = Context(dataset, ipc, seed, str(device), teacher or teachers.TeacherConfig(), val_per_class, split_seed,
                  progress)
    _check_ipc(ctx)
    start = time.perf_counter()
    out = METHODS[method].distill(ctx, k)
    wall = time.perf_counter() - start
    soft = out.get("soft_labels")     # DATM: its learned labels, probability rows [N, K]
    s = SynSet(to_pixels(out["x"], ctx.splits, clip=not unclipped(method)), out["y"].long().cpu(),
               soft_labels=None if soft is None else soft.detach().float().cpu())
    extra = {k: out[k].tolist() for k in ("sources", "source_losses") if k in out}  # RDED: what each crop came from
    s.meta = dict(method=method, knobs=asdict(k), dataset=dataset, classes=list(ctx.splits.classes),
                  num_classes=ctx.num_classes, shape=list(ctx.shape), ipc=ipc, seed=seed, device=str(device),
                  val_per_class=val_per_class, split_seed=split_seed, compute=dict(out["compute"], wall_s=wall),
                  ddlib_version=__version__, key=key(method, ctx, k), **extra)
    if unclipped(method):
        s.meta["pixels"] = UNCLIPPED
    if uses_teacher(method):
        s.meta["teacher_id"] = _teacher_of(method, ctx, k).key(dataset, val_per_class, split_seed)
    return s


def _check_ipc(ctx: Context) -> None:
    if isinstance(ctx.ipc, bool) or not isinstance(ctx.ipc, int) or ctx.ipc < 1:
        raise DDLibError(f"IPC must be a positive integer, got {ctx.ipc!r}")
    smallest = int(torch.bincount(ctx.splits.y_train).min())
    if ctx.ipc > smallest:
        raise DDLibError(f"IPC {ctx.ipc} is larger than the smallest class of {ctx.dataset}'s training split "
                         f"({smallest} images)")


def get(method: str, dataset: str, ipc: int, seed: int = 0, *, device: str = "cpu",
        teacher: teachers.TeacherConfig | None = None, val_per_class: int = 500, split_seed: int = 0,
        progress: bool = False, **knobs) -> SynSet:
    """``distill(...)``, read from the cache when this exact set was made before: a ``store.cached_folder`` holding
    the set as a file (:func:`cached_set_path`, what ``distill --out`` hands a user) and its record, checked on
    every read (a truncated or changed set is made again)."""
    k = make_knobs(method, knobs)
    ctx = Context(dataset, ipc, seed, str(device), teacher or teachers.TeacherConfig(), val_per_class, split_seed)
    path = cached_set_path(key(method, ctx, k))

    made = []

    def make(folder):
        made.append(distill(method, dataset, ipc, seed, device=device, teacher=teacher, val_per_class=val_per_class,
                            split_seed=split_seed, progress=progress, **asdict(k)))
        save_synset(path, made[0])
        return made[0].meta

    _, meta = cached_folder("synsets", path.parent.name, make)
    if made:
        return made[0]
    s = load_synset(path)
    s.meta = dict(meta, cache_hit=True)
    return s


def cached_set_path(set_key: str) -> Path:
    """Where the cached set of key ``set_key`` lies (its folder holds the record too)."""
    return cache_dir() / "synsets" / set_key / "set.safetensors"


def cached_key(path) -> str | None:
    """The key of the set in ``<cache>/synsets/`` whose bytes equal the file at ``path`` (e.g. that cache file
    itself, handed to ``audit``), else None. Runs on such a file are runs on that distilled set, and share its
    result cache; a file that merely claims a key in its header does not match (its bytes differ)."""
    key = peek_meta(path).get("key")
    if not isinstance(key, str) or not key or "/" in key or "\\" in key:
        return None
    cached = cached_set_path(key)
    return key if cached.is_file() and sha256(cached) == sha256(path) else None
