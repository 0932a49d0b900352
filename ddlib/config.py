"""A run's configuration and its key: what a student trains on (a real subset, a distilled set or a set file), under
which regime, budget and seed, checked before any compute; the key covers every field that can change the numbers,
the keys of the inputs the run reads (teacher, set) and the fingerprint of the code it runs (``fingerprint``)
[issue 12: the results store; issue 33: keys from what a run depends on]."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import torch

from . import data, distill as distillers, fingerprint, models, regimes, scores, select, synset as synsets
from . import teacher as teachers
from .budget import Budget
from .errors import SEED_MAX, DDLibError, check_choice
from .store import digest
from .train import TEMPERATURE, TrainSpec
from .version import __version__

RUN = fingerprint.Part((("runner", "run"),))   # the code of one run (ddlib.runner), its inputs behind their doors
# Upper bounds, checked before any compute [issue 37: --budget 1e23 started 3 x 10^21 steps; --temperature 1e308
# overflowed after the teacher was trained]:
MAX_BUDGET = 10 ** 9      # [ours] samples seen by one training: over twice the largest in the paper's protocol, full
                          # ImageNet-1K for 300 epochs (1.28M x 300 = 3.8 x 10^8, paper-notes' recipes)
MAX_TEMPERATURE = 100.0   # [ours] five times the reconstruction's KD temperature, T = 20 (paper-notes' SL recipe)


def device_type(device: str) -> str:
    """'cpu', 'cuda', ... of a device string; a one-line DDLibError for one torch does not parse."""
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError):
        raise DDLibError(f"unknown device {device!r}; valid: cpu, cuda, cuda:<n>, mps") from None


def check_device(device: str) -> str:
    """A device this machine has; a one-line DDLibError otherwise. Checked before a run trains, not in
    ``RunConfig.validate``: runs recorded on a GPU can be read back from the cache on any machine."""
    kind = device_type(device)
    if kind == "cuda" and not torch.cuda.is_available():
        raise DDLibError("device 'cuda' asked for, but torch sees no CUDA device; use --device cpu")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise DDLibError("device 'mps' asked for, but torch sees no MPS device; use --device cpu")
    return device


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "fashion_mnist"
    ipc: int | str = 10                      # images per class, or "full"
    select: str = "random"
    regime: str = "hl"                       # hl | sl | slkd
    budget: int = 20_000                     # samples seen (steps x batch)
    seed: int = 0                            # subset draw, init, batch order and augmentation
    model: str = "convnet3-w128-instancenorm"  # the DD-standard ConvNet-3 [paper-notes]
    optim: str = "auto"                      # auto = the shared recipe, SGD, for every regime (train.DEFAULT_OPTIMIZER)
    lr: float | None = None                  # None: the optimiser recipe's learning rate (train.OPTIMIZERS)
    schedule: str | None = None              # None: the recipe's schedule (step, cosine or constant)
    batch: int = 256                         # [reconstruction] batch 256
    aug: str = "dsa"                         # [reconstruction] DSA for every regime
    temperature: float = TEMPERATURE
    val_per_class: int = 500                 # [ours] validation images carved from the training split
    split_seed: int = 0
    teacher: teachers.TeacherConfig = field(default_factory=teachers.TeacherConfig)
    recorder: scores.RecorderConfig = field(default_factory=scores.RecorderConfig)  # score selectors' scoring run
    label_views: int = 0                     # SL only: k stored (view, label) pairs per image; 0 = classic SL
    select_knobs: tuple = ()                 # the selector's knobs as (name, value) pairs, e.g. (("which", "easiest"),)
    distill: str = ""                        # a distillation method (dm, dc, mtt, sre2l, rded): train on its
                                             # synthetic set instead of a real subset; "" = the real subset `select`
    distill_knobs: tuple = ()                # the method's knobs as (name, value) pairs
    distill_seed: int | None = None          # the synthetic set's seed; None = `seed` (one set per training seed)
    device: str = "cpu"
    synset_file: str = ""                    # a user's set (safetensors, npz or image folder; see ddlib.synset):
                                             # train on it instead; keyed by its content, not its path

    def __post_init__(self):
        # A folder dataset named with the digest of its files (data.content_name): its keys follow its content.
        object.__setattr__(self, "dataset", data.content_name(self.dataset))
        # One tuple per choice: knobs sorted, a selector's defaults written out (the cache key is built from them).
        object.__setattr__(self, "select_knobs", select.canonical_knobs(self.select, self.select_knobs))
        if self.distill:
            distillers.check(self.distill)
        object.__setattr__(self, "distill_knobs", tuple(sorted(dict(self.distill_knobs).items())))

    @property
    def source(self) -> str:
        """What the run trains on: ``"subset"`` (real images chosen by ``select``), ``"distilled"`` (``distill``'s
        set) or ``"file"`` (a user's set, ``synset_file``)."""
        return "file" if self.synset_file else "distilled" if self.distill else "subset"

    def validate(self) -> "RunConfig":
        """Check every name and number, without reading any data; a one-line DDLibError otherwise
        (:func:`check_inputs` adds the checks that read the data and the set)."""
        data.check(self.dataset)
        regimes.check(self.regime)
        models.ModelSpec.parse(self.model)
        TrainSpec(self.regime, Budget(self.budget, self.batch), self.optim, aug=self.aug,
                  schedule=self.schedule).validate()
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not 0 < self.lr < math.inf):
            raise DDLibError(f"lr must be a positive finite number, got {self.lr!r}")
        check_choice("device", device_type(self.device), ("cpu", "cuda", "mps"))
        if self.budget > MAX_BUDGET:
            raise DDLibError(f"budget must be at most {MAX_BUDGET:,} samples seen, got {self.budget:,}")
        if isinstance(self.temperature, bool) or not (isinstance(self.temperature, (int, float))
                                                      and 0 < self.temperature <= MAX_TEMPERATURE):
            raise DDLibError(f"temperature must be a number in (0, {MAX_TEMPERATURE:g}], got {self.temperature!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= SEED_MAX:
            raise DDLibError(f"seed must be an integer in [0, {SEED_MAX:,}], got {self.seed!r}")
        self.teacher.validate()
        if self.distill and self.synset_file:
            raise DDLibError(f"a run trains on a set from a file (synset_file) or on a method's distilled set "
                             f"(distill={self.distill!r}), not both")
        if self.source != "subset":
            what = "distilled set" if self.distill else "set from a file"
            if self.select != "random" or self.select_knobs:
                raise DDLibError(f"a run trains either on a {what} or on a selected subset (select={self.select!r}), "
                                 f"not both")
            if self.ipc == "full":
                raise DDLibError(f"a {what} needs an integer IPC, not 'full'")
        if self.distill:
            distillers.check(self.distill)
            self.distill_knob_values()
        if self.label_views and (self.regime != "sl" or self.label_views < 0):
            raise DDLibError(f"label_views (k stored labels per image) applies to regime 'sl' only and must be "
                             f">= 1, got {self.label_views} with regime {self.regime!r}")
        if self.ipc != "full" and (isinstance(self.ipc, bool) or not isinstance(self.ipc, int) or self.ipc < 1):
            raise DDLibError(f"IPC must be a positive integer or 'full', got {self.ipc!r}")
        return self

    @property
    def select_reads(self) -> str:
        """What the selector reads besides the split (``select.Selector``): nothing, teacher, recorder or own."""
        return select.reads(self.select, self.select_knobs) if self.source == "subset" else "nothing"

    def key_fields(self) -> dict:
        d = asdict(self)
        d["device"] = device_type(self.device)
        teacher = self.teacher.key(self.dataset, self.val_per_class, self.split_seed)
        if self.regime == "hl":          # HL reads neither the teacher nor the temperature
            d["teacher"], d["temperature"] = None, None
        else:
            d["teacher"], d["temperature"] = teacher, float(self.temperature)
        if self.select_reads == "teacher":   # the teacher picks the subset, even under HL
            d["select_teacher"] = teacher
        if self.select_reads != "recorder":
            del d["recorder"]                # only the score selectors read a scoring run (CAD-Prune: its own)
        for name in ("distill", "distill_knobs", "distill_seed", "synset_file"):
            del d[name]                      # a path: where a set lies is no part of what it is
        if self.source != "subset":          # the set's own key covers method, knobs, seed and its teacher
            for name in ("select", "select_knobs"):
                del d[name]
        if self.distill:
            d["synset"] = distillers.key(self.distill, self.distill_context(), self.distill_knob_values())
        if self.synset_file:                 # a user's set: its content (a moved file still hits the cache)
            own = distillers.cached_key(self.synset_file)
            if own:                          # byte for byte one of ddlib's cached sets: that set's runs
                d["synset"] = own
            else:
                d["synset_sha256"] = synsets.sha256(self.synset_file)
        for name in ("label_views", "lr", "schedule"):   # at their defaults: not written (one key per choice)
            if not d[name]:
                del d[name]
        d["ddlib_version"] = __version__
        return d

    def distill_context(self) -> "distillers.Context":
        seed = self.seed if self.distill_seed is None else self.distill_seed
        return distillers.Context(self.dataset, self.ipc, seed, self.device, self.teacher, self.val_per_class,
                                  self.split_seed)

    def distill_knob_dict(self) -> dict:
        """The distiller's knobs as given, plus what a compute-aligned method (CA2D) takes from the run unless told:
        its budget, and its scoring run's model and batch (the student's)."""
        given = dict(self.distill_knobs)
        own = {f.name for f in fields(distillers.METHODS[self.distill].Knobs)}
        run = {"budget": self.budget, "score_model": self.model, "score_batch": self.batch}
        return {**{k: v for k, v in run.items() if k in own}, **given}

    def distill_knob_values(self):
        return distillers.make_knobs(self.distill, self.distill_knob_dict())

    def synset(self, progress: bool = False):
        """The distilled set this run trains on (cached), or None for a real subset. A set from a file is read and
        checked against the dataset (classes, image shape, the claimed IPC) once per content in this process."""
        if self.synset_file:
            return file_synset(self.synset_file, self.dataset, self.ipc, self.val_per_class, self.split_seed)
        if not self.distill:
            return None
        c = self.distill_context()
        return distillers.get(self.distill, c.dataset, c.ipc, c.seed, device=c.device, teacher=c.teacher,
                              val_per_class=c.val_per_class, split_seed=c.split_seed, progress=progress,
                              **self.distill_knob_dict())

    def code(self) -> str:
        """The fingerprint of the code this run executes: one run's, its dataset's loader and, on a real subset, its
        selector's. The teacher's and a distilled set's code reach the key through their own keys."""
        parts = [RUN, data.code_part(self.dataset)]
        if self.source == "subset":
            parts.append(select.code_part(self.select))
        return fingerprint.of(*parts)

    def key(self) -> str:
        return digest(self.key_fields(), self.code())

    @classmethod
    def from_record(cls, config: dict) -> "RunConfig":
        """The config a stored run's ``config`` field describes (``asdict`` read back from JSON: lists become
        tuples again, the teacher and recorder their dataclasses)."""
        d = dict(config)
        d["teacher"] = teachers.TeacherConfig(**d["teacher"])
        rec = dict(d["recorder"])
        d["recorder"] = scores.RecorderConfig(**dict(rec, seeds=tuple(rec["seeds"])))
        for name in ("select_knobs", "distill_knobs"):
            d[name] = tuple(tuple(pair) for pair in d[name])
        return cls(**d)


def file_synset(path: str, dataset: str, ipc: int | None, val_per_class: int = 500, split_seed: int = 0):
    """A user's set from ``path`` (safetensors, npz or image folder), checked against ``dataset``'s classes and
    image shape and, unless None, the claimed ``ipc``; ``meta`` gains its sha256, path and file format. One-line
    DDLibErrors for anything a run cannot use. Cached by (path, mtime, size): edit the file and it is read again."""
    if not Path(path).exists() and Path(path).suffix.lower() not in synsets.PICKLE_SUFFIXES:
        raise DDLibError(f"no such file or folder: {path}")
    return _file_synset(synsets.signature(path) if Path(path).exists() else (str(path), ()), dataset, ipc,
                        val_per_class, split_seed)


@lru_cache(maxsize=8)
def _file_synset(sig: tuple, dataset: str, ipc, val_per_class: int, split_seed: int):
    path = sig[0]
    splits = data.load(dataset, val_per_class, split_seed)
    s = synsets.read(path, classes=splits.classes, shape=splits.shape)
    synsets.check(s, num_classes=splits.num_classes, shape=splits.shape, ipc=ipc)
    s.labels = s.labels.long()
    s.meta = dict(s.meta, path=str(path), sha256=synsets.sha256(path))
    return s


def check_inputs(cfg: RunConfig) -> RunConfig:
    """``cfg.validate()`` and the checks that read data, before any compute: the IPC against the training split's
    smallest class, and a set from a file (read and checked, cached by content)."""
    cfg.validate()
    if cfg.ipc != "full":
        counts = torch.bincount(data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed).y_train)
        if cfg.ipc > int(counts.min()):
            raise DDLibError(f"IPC {cfg.ipc} is larger than the smallest class of {cfg.dataset}'s training "
                             f"split ({int(counts.min())} images)")
    n = len(data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed).y_train)
    trained = {"teacher": cfg.teacher.epochs if cfg.regime != "hl" or cfg.select_reads == "teacher" else 0,
               "scoring run": cfg.recorder.epochs if cfg.select_reads == "recorder" else 0}
    for what, epochs in trained.items():          # what the run trains first, on the whole training split
        if epochs * n > MAX_BUDGET:
            raise DDLibError(f"the {what}'s {epochs:g} epochs over {n:,} images are over {MAX_BUDGET:,} samples seen")
    if cfg.synset_file:
        cfg.synset()
    return cfg



def unique(configs) -> list:
    """``configs`` without repeats (same key), in first-seen order."""
    seen, out = set(), []
    for c in configs:
        if c.key() not in seen:
            seen.add(c.key())
            out.append(c)
    return out


def vary(base: RunConfig, **grid) -> list:
    """Every combination of the values in ``grid`` applied to ``base`` (last key varies fastest)."""
    configs = [base]
    for name, values in grid.items():
        configs = [replace(c, **{name: v}) for c in configs for v in values]
    return configs
