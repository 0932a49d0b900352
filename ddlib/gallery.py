"""The images a run trains on, for the book's image grids (``plots.set_grids``) [issue 36]: a real subset's through
the run's own selection (``picks.indices``: the indices its student trains on), a distilled set's from its cached file
(``RunConfig.synset``), in pixel units as the set stores them (DC, DM, MTT and DATM keep theirs unclipped).

Read from the cache only: a figure never distils, trains a teacher or makes a scoring run. Every input a set's
images are read from is checked first (:func:`reads`, ``artefacts.complete``); where one is missing, :func:`fetch`
returns a one-line note instead of images."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import data, picks, scores
from .artefacts import complete
from .config import RunConfig
from .errors import DDLibError
from .paths import cache_dir
from .records import read_stored

IPC = 10        # [issue 36] the grids show sets of IPC 10 (a profile without it: its first IPC), up to ten
                #   images per class
CLASSES = 3     # [issue 36] a few classes: the dataset's first three
WHAT = {"synsets": "set", "teachers": "teacher", "scores": "scoring run"}


@dataclass(frozen=True)
class Shown:
    """One set: its images (float [N, C, H, W], pixel units as stored), labels [N] and the dataset's class names."""
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple


@dataclass(frozen=True)
class Gallery:
    """Sets to draw by title, each showing ``classes`` (indices) with up to ``per_class`` images; or no set and the
    one-line ``note`` saying which input is not in the cache."""
    sets: dict = field(default_factory=dict)
    note: str = ""
    classes: tuple = tuple(range(CLASSES))
    per_class: int = IPC


class NotCached(DDLibError):
    """An input a figure would have to make: a set, a teacher, a scoring run (or the record naming it)."""


def shown_ipc(ipcs) -> int:
    """The IPC the grids show: :data:`IPC` where the profile runs it, else its first."""
    return IPC if IPC in list(ipcs) else list(ipcs)[0]


def reads(cfg: RunConfig, store: Path | None = None) -> list:
    """(kind, key) of every cache folder ``cfg``'s images are read from: its distilled set, or what its selector
    reads (the teacher, the scoring runs of ``cfg.recorder``, or CAD-Prune's own scoring run, named by the run's
    record in ``store``: :class:`NotCached` where that record is missing). A set from a file reads none."""
    if cfg.source == "distilled":
        return [("synsets", cfg.key_fields()["synset"])]
    if cfg.source == "file":
        return []
    how = cfg.select_reads
    if how == "teacher":
        return [("teachers", cfg.teacher.key(cfg.dataset, cfg.val_per_class, cfg.split_seed))]
    if how == "recorder":
        return [("scores", scores.recorder_key(cfg.dataset, **r, val_per_class=cfg.val_per_class,
                                               split_seed=cfg.split_seed)) for r in cfg.recorder.runs()]
    if how == "own":
        record = read_stored(cfg, store)
        if record is None:
            raise NotCached(f"run {cfg.key()} (which names its scoring run) is not in the store")
        return [("scores", record["scoring_run_id"])]
    return []


def images(cfg: RunConfig, store: Path | None = None) -> Shown:
    """The images ``cfg`` trains on, read from the cache; :class:`NotCached` (one line) before anything is made."""
    for kind, key in reads(cfg, store):
        if complete(cache_dir() / kind / key) is None:
            raise NotCached(f"{WHAT[kind]} {key} is not in the cache")
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    s = cfg.synset()
    if s is not None:
        return Shown(s.images, s.labels, splits.classes)
    idx = picks.indices(cfg, store)
    return Shown(splits.x_train[idx].float() / 255, splits.y_train[idx], splits.classes)


def fetch(configs: dict, store: Path | None = None) -> Gallery:
    """The images of every run in ``configs`` ({title: RunConfig}); or, where an input of one is not in the cache,
    no set and a note naming it (nothing is made)."""
    sets = {}
    for title, cfg in configs.items():
        try:
            sets[title] = images(cfg, store)
        except NotCached as e:
            return Gallery(note=f"*Not drawn: {title}'s {e} (a fresh `make book` restores the kept inputs; "
                                f"`make evidence` makes them).*")
    return Gallery(sets)
