"""One run = (data, selection, regime, budget, seed) -> a result dict with its provenance, cached by config.

Results are content-addressed: ``<store>/<sha>.json`` where the sha covers every field of the config that can
change the numbers, plus the code fingerprint (``store.digest``). The store is a profile's committed
``results/<profile>/runs/`` (``Profile.store``) or the private cache's ``runs/``. Files are written atomically, so
a killed sweep resumes where it stopped and nothing half-written is read back.
"""
from __future__ import annotations

import ctypes
import json
import math
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import augment, data, distill as distillers, models, regimes, scores, select, synset as synsets
from . import teacher as teachers
from .budget import Budget
from .errors import SEED_MAX, DDLibError, check_choice
from .paths import cache_dir, repo_root
from .store import digest, read_record, write_json
from .train import TEMPERATURE, TrainSpec, accuracy, fit, predict
from .version import CODE_FINGERPRINT, DISTILL_FINGERPRINT, __version__


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
    optim: str = "auto"                      # auto = the regime's recipe (HL: SGD, SL/SL+KD: AdamW)
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
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature < math.inf):
            raise DDLibError(f"temperature must be a positive finite number, got {self.temperature!r}")
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

    def key(self) -> str:
        return digest(self.key_fields())     # a distilled set's own key covers the distillers' fingerprint

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
    s = synsets.load(path, classes=splits.classes, shape=splits.shape)
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
    if cfg.synset_file:
        cfg.synset()
    return cfg


@lru_cache(maxsize=1)
def provenance() -> dict:
    """Where numbers come from: library versions, commit, machine."""
    root = repo_root()
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "ddlib"],
                               capture_output=True, timeout=10).returncode == 1
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return dict(ddlib_version=__version__, code=CODE_FINGERPRINT, commit=commit + ("+dirty" if dirty else ""),
                torch=torch.__version__, python=platform.python_version(), cpu_threads=torch.get_num_threads(),
                machine=f"{platform.machine()}, {os.cpu_count()} cores",
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def pick(cfg: RunConfig, progress: bool = False) -> dict:
    """The selector's dict for a run on a real subset: ``indices`` into ddlib's training split (and ``scores``,
    ``compute``), made from the cached teacher or scoring run it reads."""
    if cfg.source != "subset":
        raise DDLibError(f"a run on a {'distilled set' if cfg.distill else 'set from a file'} has no subset")
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    return select.select(cfg.select, splits, cfg.ipc, cfg.seed, teacher=cfg.teacher, recorder=cfg.recorder,
                         split_seed=cfg.split_seed, device=cfg.device, progress=progress, budget=cfg.budget,
                         model=cfg.model, batch=cfg.batch, **dict(cfg.select_knobs))


def subset_record(cfg: RunConfig) -> dict:
    """What another codebase needs to train on a run's subset: its indices in the dataset's own training set (the
    order of its files, not ddlib's split), the validation images ddlib carved out (never trained on), and the
    choice that picked them."""
    train, val = data.dataset_positions(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    idx = pick(cfg)["indices"]
    return dict(dataset=cfg.dataset, indices=train[idx].tolist(), labels=data.load(
                    cfg.dataset, cfg.val_per_class, cfg.split_seed).y_train[idx].tolist(),
                validation_indices=val.tolist(), order="the dataset's own training set, 0-based",
                ipc=cfg.ipc, seed=cfg.seed, select=cfg.select, select_knobs=dict(cfg.select_knobs),
                val_per_class=cfg.val_per_class, split_seed=cfg.split_seed, run_key=cfg.key(),
                ddlib_version=__version__)


def training_inputs(cfg: RunConfig, progress: bool = False) -> tuple:
    """What a run trains on: (x, y, picked, synset, teacher), ``picked`` the selector's dict (``indices``, and
    ``compute`` where a selector reports its own scoring run). Makes (and caches) whatever the run depends on: the
    teacher, the selector's scoring run, the distilled set."""
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    d = data.on_device(cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    synset = cfg.synset(progress)
    if synset is not None:
        x, y = data.normalize(synset.images, splits, cfg.device), synset.labels.to(cfg.device)
        picked = {"indices": torch.arange(len(y))}
    else:
        picked = pick(cfg, progress)
        idx = picked["indices"].to(cfg.device)
        x, y = d["train"][0][idx], d["train"][1][idx]
    teacher = None
    stored = synset is not None and synset.soft_labels is not None and cfg.regime == "sl" and not cfg.label_views
    if cfg.regime != "hl" and not stored:    # SL on a set's stored soft labels reads no teacher
        teacher = teachers.get(cfg.teacher, cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device, progress)
    return x, y, picked, synset, teacher


def run(cfg: RunConfig, progress: bool = False) -> dict:
    """Train one student as ``cfg`` says and evaluate it on the validation and test splits."""
    check_inputs(cfg)
    check_device(cfg.device)
    start = time.perf_counter()
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    d = data.on_device(cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    x, y, picked, synset, teacher = training_inputs(cfg, progress)
    idx = picked["indices"]
    soft = None
    if cfg.regime != "hl":
        if cfg.regime == "sl" and cfg.label_views:  # k stored labels per image, from k augmented views
            soft = regimes.view_bank(teacher.model, x, cfg.label_views, augment.get(cfg.aug), cfg.temperature,
                                     cfg.seed)
        elif cfg.regime == "sl" and synset is not None and synset.soft_labels is not None:
            soft = synset.soft_labels.to(cfg.device)   # the set's own stored labels, as its authors ship them
        elif cfg.regime == "sl":  # one stored label per image, from the un-augmented image
            logits = teacher.train_logits[idx] if synset is None else predict(teacher.model, x)
            soft = F.softmax(logits / cfg.temperature, dim=1)
    torch.manual_seed(cfg.seed)
    student = models.build(cfg.model, splits.shape, splits.num_classes).to(cfg.device)
    spec = TrainSpec(cfg.regime, Budget(cfg.budget, cfg.batch), cfg.optim, lr=cfg.lr, schedule=cfg.schedule,
                     aug=cfg.aug, temperature=cfg.temperature, seed=cfg.seed)
    cost = fit(student, x, y, spec, teacher=teacher and teacher.model, soft_labels=soft, progress=progress)
    result = dict(asdict(cfg), teacher=None, recorder=None, config=json.loads(json.dumps(asdict(cfg))), **cost,
                  optimizer=spec.optimizer, subset_size=len(idx),
                  val_acc=accuracy(student, *d["val"]), test_acc=accuracy(student, *d["test"]),
                  wall_s=time.perf_counter() - start, device=str(cfg.device), key=cfg.key(),
                  data_source=splits.source, **provenance())
    if cfg.synset_file:                       # a user's set: its content hash, and what its file says of itself
        m = synset.meta
        result.update(synset_sha256=m["sha256"], synset_format=m["file_format"],
                      soft_label_source=None if cfg.regime == "hl" else "stored" if teacher is None else "teacher",
                      synset_method=m.get("method"), synset_key=m.get("key"),
                      distill_wall_s=(m.get("compute") or {}).get("wall_s"))
        if distillers.cached_key(cfg.synset_file):   # the bytes of a set ddlib distilled: its code made them
            result["distill_code"] = DISTILL_FINGERPRINT
    elif synset is not None:
        result.update(synset_key=synset.meta["key"], distill_compute=synset.meta["compute"],
                      distill_wall_s=synset.meta["compute"]["wall_s"], distill_code=DISTILL_FINGERPRINT)
    elif cfg.select_reads == "teacher":
        result["select_teacher_id"] = cfg.teacher.key(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    elif picked.get("compute"):                # a selector's own scoring run (CAD-Prune), and what it cost
        result.update(picked["compute"])
    elif cfg.select != "random":               # a cached scoring run (its meta.json states its compute)
        result["recorder_ids"] = ",".join(
            scores.recorder_key(cfg.dataset, **r, val_per_class=cfg.val_per_class, split_seed=cfg.split_seed)
            for r in cfg.recorder.runs())
    if teacher is not None:
        result.update(teacher_id=teacher.id, teacher_test_acc=teacher.meta["test_acc"],
                      teacher_val_acc=teacher.meta["val_acc"], teacher_model=teacher.meta["model"])
        if cfg.regime == "sl":
            result["teacher_forward_samples"] = len(idx) * max(1, cfg.label_views)  # labelling passes
    elif cfg.regime == "sl":
        result["teacher_forward_samples"] = 0   # the set's stored soft labels
    return result


def run_store() -> Path:
    """Where a run's record goes when no store is named: the private cache's ``runs/`` (a profile's committed store
    is ``Profile.store``, ``results/<profile>/runs/``)."""
    return cache_dir() / "runs"


def record_path(cfg: RunConfig, store: Path | None = None) -> Path:
    return Path(store or run_store()) / f"{cfg.key()}.json"


def as_asked(result: dict, cfg: RunConfig) -> dict:
    """A cached result under the config that asked for it: configs with one key differ only in fields that cannot
    change the numbers (e.g. the temperature of an HL run, or a set given as its cache file rather than by method),
    and the row should say what was asked."""
    asked = {k: v for k, v in asdict(cfg).items() if k not in ("teacher", "recorder")}
    return dict(result, **json.loads(json.dumps(asked)))      # as stored: tuples read back as lists


RECORD_FIELDS = ("key", "val_acc", "test_acc", "samples_seen", "wall_s")   # what a finished run's record holds


def is_current(record: dict) -> bool:
    """Was a stored record made by this code: its ``code`` fingerprint, and for a run on a set ddlib distilled
    (by method, or a file with the bytes of one) also its ``distill_code``, are this code's (``version``)."""
    distilled = bool((record.get("config") or {}).get("distill")) or "distill_code" in record
    return record.get("code") == CODE_FINGERPRINT and \
        (not distilled or record.get("distill_code") == DISTILL_FINGERPRINT)


def read_stored(cfg: RunConfig, store: Path | None = None) -> dict | None:
    """The stored result of ``cfg``, or None. A record that is not JSON, not this run's, or lacks a result is
    reported in one line and recomputed (writes are atomic, so that is outside damage)."""
    path = record_path(cfg, store)
    record = read_record(path)
    if record is None:
        return None
    if record.get("key") != cfg.key() or any(not isinstance(record.get(k), (int, float, str)) or
                                             isinstance(record.get(k), bool) for k in RECORD_FIELDS):
        print(f"ddlib: corrupt run record {path} (not this run's, or without its result); recomputing",
              file=sys.stderr)
        return None
    return dict(as_asked(record, cfg), cache_hit=True)


def cached_run(cfg: RunConfig, progress: bool = False, store: Path | None = None) -> dict:
    """``run(cfg)``, read from ``store`` (default :func:`run_store`) when this exact config has run before."""
    hit = read_stored(cfg, store)
    if hit is not None:
        return hit
    result = run(cfg, progress)
    write_json(record_path(cfg, store), result)
    return dict(result, cache_hit=False)


PR_SET_PDEATHSIG = 1   # <linux/prctl.h>


def default_workers(configs) -> int:
    """How many processes a sweep trains in: ``DDLIB_WORKERS`` if set; else one per CPU core (each single-threaded,
    measured 1.3x faster than one two-threaded process on a 2-core machine) when every run is on the CPU, and one
    for an accelerator."""
    if os.environ.get("DDLIB_WORKERS"):
        try:
            return max(1, int(os.environ["DDLIB_WORKERS"]))
        except ValueError:
            raise DDLibError(f"DDLIB_WORKERS must be an integer, got {os.environ['DDLIB_WORKERS']!r}") from None
    if any(device_type(c.device) != "cpu" for c in configs):
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _worker_start(parent: int):
    """A sweep worker: one thread (the workers share the cores; recorded as cpu_threads), and it dies with its
    parent: Linux's PR_SET_PDEATHSIG, so a killed sweep leaves no worker training on (elsewhere: best effort)."""
    torch.set_num_threads(1)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:   # the parent died before the signal was armed
        os._exit(1)


def _prepare(cfg: RunConfig) -> None:
    """Make here, once, what several workers would otherwise make at the same time: the run's teacher, its
    selector's scoring run, and what its distiller shares across sets (e.g. MTT's experts)."""
    if cfg.distill:
        ctx, knobs = cfg.distill_context(), cfg.distill_knob_values()
        distillers.prepare(cfg.distill, ctx, knobs)
        if cfg.regime != "hl":
            teachers.get(cfg.teacher, cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    else:
        training_inputs(cfg)             # the teacher too, when the run reads one


def _make_synset(cfg: RunConfig) -> None:
    cfg.synset()


EXECUTORS = ("local", "ray")


def executor_kind() -> str:
    """Where a sweep's runs train: ``DDLIB_EXECUTOR`` = local (a process pool, the default) or ray (Ray tasks on
    the cluster at ``RAY_ADDRESS``, else a local Ray)."""
    kind = os.environ.get("DDLIB_EXECUTOR", "local")
    check_choice("DDLIB_EXECUTOR", kind, EXECUTORS)
    return kind


@contextmanager
def _pool(kind: str, n: int):
    """An executor whose ``submit(fn, *args)`` returns a concurrent Future: ``n`` single-threaded local processes
    that die with their parent, or Ray tasks (one CPU each, ``DDLIB_RAY_GPUS`` of a GPU each, e.g. 0.25 for four
    runs per GPU; a task whose worker dies is retried). Runs write into the same content-addressed cache either
    way, so a cluster needs ``DDLIB_CACHE`` on a shared path (passed to the tasks)."""
    if kind == "local":
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            yield pool
        return
    try:
        import ray
    except ImportError:
        raise DDLibError("DDLIB_EXECUTOR=ray needs the ray package: pip install 'ddlib[ray]'") from None
    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k.startswith("DDLIB_") or k == "OMP_NUM_THREADS"}
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    try:
        gpus = float(os.environ.get("DDLIB_RAY_GPUS", "0"))
    except ValueError:
        raise DDLibError(f"DDLIB_RAY_GPUS must be a number, got {os.environ['DDLIB_RAY_GPUS']!r}") from None
    task = ray.remote(_on_one_thread).options(num_cpus=1, num_gpus=gpus, max_retries=3)
    refs = []

    class RayPool:
        @staticmethod
        def submit(fn, *args):
            refs.append(task.remote(fn, *args))
            return refs[-1].future()

        @staticmethod
        def shutdown(wait=True, cancel_futures=False):
            for r in refs:
                ray.cancel(r, force=True)

    yield RayPool()


def _on_one_thread(fn, *args):
    """A Ray task: ``fn(*args)`` on one thread, as a local worker runs it."""
    torch.set_num_threads(1)
    return fn(*args)


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (whose stderr is the notebook's, its ``sys.__stderr__`` the log)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell" and sys.__stderr__ is not None


class Progress:
    """One bar per sweep: runs done, read from the cache, failed, and an ETA (tqdm's). Under a Jupyter kernel
    (papermill, ``make book``) the bar goes to the notebook, and a plain line goes to the kernel's own stderr, which
    is the build's log, at most every ``every_s`` seconds and at the end."""

    def __init__(self, total: int, cached: int, desc: str, enabled: bool, every_s: float = 30.0):
        self.total, self.done, self.cached, self.failed, self.desc = total, cached, cached, 0, desc
        self.bar = tqdm(total=total, initial=cached, desc=desc, disable=not enabled)
        self.log = sys.__stderr__ if enabled and in_kernel() else None
        self.every_s, self.started, self.said = every_s, time.time(), 0.0
        self._show(force=True)

    def update(self, n: int = 1, failed: bool = False) -> None:
        self.done += n
        self.failed += n if failed else 0
        self.bar.update(n)
        self._show(force=self.done == self.total)

    def _show(self, force: bool = False) -> None:
        self.bar.set_postfix(cached=self.cached, failed=self.failed)
        now = time.time()
        if self.log is None or not (force or now - self.said >= self.every_s):
            return
        ran, left = self.done - self.cached, self.total - self.done
        eta = f", ETA {(now - self.started) / ran * left / 60:.1f} min" if ran and left else ""
        print(f"ddlib: {self.desc}: {self.done}/{self.total} done ({self.cached} cached, {self.failed} failed)"
              f"{eta}", file=self.log, flush=True)
        self.said = now

    def close(self) -> None:
        self.bar.close()


def sweep(configs, progress: bool = True, desc: str = "runs", workers: int | None = None,
          store: Path | None = None) -> pd.DataFrame:
    """Run (or read from the cache) every config; one row per config, in order. Validates all configs first.

    Runs not yet cached train in ``workers`` processes (default :func:`default_workers`), or as Ray tasks
    (:func:`executor_kind`). What they depend on is made first, once: teachers and scoring runs here, then the
    distilled sets in the workers, then the runs. A run that fails is counted and the others go on (so they are
    cached); the first failure is raised at the end. Records are read from and written to ``store`` (default
    :func:`run_store`; a profile's is ``Profile.store``)."""
    kind = executor_kind()
    configs = list(configs)
    for c in configs:
        check_inputs(c)
    rows, todo, failed = {}, {}, []
    for i, c in enumerate(configs):
        hit = read_stored(c, store)
        if hit is not None:
            rows[i] = hit
        else:
            todo.setdefault(c.key(), []).append(i)
    bar = Progress(len(configs), len(rows), desc, progress)

    def finished(idx, result=None, error=None):
        if error is not None:
            failed.append(error)
        else:
            rows.update({i: as_asked(result, configs[i]) for i in idx})
        bar.update(len(idx), failed=error is not None)

    n = min(workers or default_workers(configs), len(todo))
    if n <= 1 and kind == "local":
        for idx in todo.values():
            try:
                finished(idx, cached_run(configs[idx[0]], False, store))
            except Exception as e:       # counted; the other runs go on
                finished(idx, error=e)
    else:
        firsts = [configs[idx[0]] for idx in todo.values()]
        synsets = {}
        for c in firsts:
            _prepare(c)
            if c.distill:
                synsets.setdefault(c.key_fields()["synset"], c)
        with _pool(kind, n) as pool:
            try:
                for f in as_completed([pool.submit(_make_synset, c) for c in synsets.values()]):
                    f.result()
                futures = {pool.submit(cached_run, configs[idx[0]], False, store): idx for idx in todo.values()}
                for f in as_completed(futures):
                    try:
                        finished(futures[f], f.result())
                    except Exception as e:
                        finished(futures[f], error=e)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    if failed:
        if len(failed) > 1:
            print(f"ddlib: {len(failed)} of {len(todo)} runs failed; the first error follows", file=sys.stderr)
        raise failed[0]
    return pd.DataFrame([rows[i] for i in range(len(configs))])


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
