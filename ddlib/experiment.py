"""One run = (data, selection, regime, budget, seed) -> a result dict with its provenance, cached by config.

Results are content-addressed: ``<cache>/runs/<sha>.json`` where the sha covers every field of the config that can
change the numbers, plus ddlib's version. Files are written atomically, so a killed sweep resumes where it stopped
and nothing half-written is read back.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import __version__, augment, data, models, regimes, scores, select, teacher as teachers
from .budget import Budget
from .errors import DDLibError, check_choice
from .paths import cache_dir, repo_root
from .store import read_json, write_json
from .train import TEMPERATURE, TrainSpec, accuracy, fit


def device_type(device: str) -> str:
    """'cpu', 'cuda', ... of a device string; a one-line DDLibError for one torch does not parse."""
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError):
        raise DDLibError(f"unknown device {device!r}; valid: cpu, cuda, cuda:<n>, mps") from None


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
    batch: int = 256                         # [reconstruction] batch 256
    aug: str = "dsa"                         # [reconstruction] DSA for every regime
    temperature: float = TEMPERATURE
    val_per_class: int = 500                 # [ours] validation images carved from the training split
    split_seed: int = 0
    teacher: teachers.TeacherConfig = field(default_factory=teachers.TeacherConfig)
    recorder: scores.RecorderConfig = field(default_factory=scores.RecorderConfig)  # score selectors' scoring run
    label_views: int = 0                     # SL only: k stored (view, label) pairs per image; 0 = classic SL
    select_knobs: tuple = ()                 # the selector's knobs as (name, value) pairs, e.g. (("which", "easiest"),)
    device: str = "cpu"

    def validate(self) -> "RunConfig":
        """Check every name and number before any compute; raise a one-line DDLibError otherwise."""
        check_choice("dataset", self.dataset, data.LOADERS)
        regimes.check(self.regime)
        select.check(self.select)
        select.check_knobs(self.select, dict(self.select_knobs))
        models.ModelSpec.parse(self.model)
        models.ModelSpec.parse(self.teacher.model)
        TrainSpec(self.regime, Budget(self.budget, self.batch), self.optim, aug=self.aug).validate()
        check_choice("device", device_type(self.device), ("cpu", "cuda", "mps"))
        if not self.temperature > 0:
            raise DDLibError(f"temperature must be positive, got {self.temperature!r}")
        if self.label_views and (self.regime != "sl" or self.label_views < 0):
            raise DDLibError(f"label_views (k stored labels per image) applies to regime 'sl' only and must be "
                             f">= 1, got {self.label_views} with regime {self.regime!r}")
        if self.ipc != "full":
            if isinstance(self.ipc, bool) or not isinstance(self.ipc, int) or self.ipc < 1:
                raise DDLibError(f"IPC must be a positive integer or 'full', got {self.ipc!r}")
            counts = torch.bincount(data.load(self.dataset, self.val_per_class, self.split_seed).y_train)
            if self.ipc > int(counts.min()):
                raise DDLibError(f"IPC {self.ipc} is larger than the smallest class of {self.dataset}'s training "
                                 f"split ({int(counts.min())} images)")
        return self

    def key_fields(self) -> dict:
        d = asdict(self)
        d["device"] = device_type(self.device)
        if self.regime == "hl":          # HL reads neither the teacher nor the temperature
            d["teacher"], d["temperature"] = None, None
        else:
            d["teacher"] = self.teacher.key(self.dataset, self.val_per_class, self.split_seed)
            d["temperature"] = float(self.temperature)
        if self.select in ("herding", "kcenter"):  # the teacher's embeddings pick the subset, even under HL
            d["select_teacher"] = self.teacher.key(self.dataset, self.val_per_class, self.split_seed)
        if self.select in ("random", "herding", "kcenter"):
            del d["recorder"]                # only the score selectors read a scoring run
        if not self.select_knobs:
            del d["select_knobs"]
        if not self.label_views:
            del d["label_views"]
        d["ddlib_version"] = __version__
        return d

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.key_fields(), sort_keys=True).encode()).hexdigest()[:20]


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
    return dict(ddlib_version=__version__, commit=commit + ("+dirty" if dirty else ""), torch=torch.__version__,
                python=platform.python_version(), cpu_threads=torch.get_num_threads(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def run(cfg: RunConfig, progress: bool = False) -> dict:
    """Train one student as ``cfg`` says and evaluate it on the validation and test splits."""
    cfg.validate()
    # Checked here, not in validate(): runs recorded on a GPU can be read back from the cache on any machine.
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise DDLibError("device 'cuda' asked for, but torch sees no CUDA device; use --device cpu")
    start = time.perf_counter()
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    d = data.on_device(cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    idx = select.select(cfg.select, splits, cfg.ipc, cfg.seed, teacher=cfg.teacher, recorder=cfg.recorder,
                        split_seed=cfg.split_seed, device=cfg.device, progress=progress,
                        **dict(cfg.select_knobs))["indices"].to(cfg.device)
    x, y = d["train"][0][idx], d["train"][1][idx]
    teacher, soft = None, None
    if cfg.regime != "hl":
        teacher = teachers.get(cfg.teacher, cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device, progress)
        if cfg.regime == "sl" and cfg.label_views:  # k stored labels per image, from k augmented views
            soft = regimes.view_bank(teacher.model, x, cfg.label_views, augment.get(cfg.aug), cfg.temperature,
                                     cfg.seed)
        elif cfg.regime == "sl":  # one stored label per image, from the un-augmented image
            soft = F.softmax(teacher.train_logits[idx] / cfg.temperature, dim=1)
    torch.manual_seed(cfg.seed)
    student = models.build(cfg.model, splits.shape, splits.num_classes).to(cfg.device)
    spec = TrainSpec(cfg.regime, Budget(cfg.budget, cfg.batch), cfg.optim, aug=cfg.aug,
                     temperature=cfg.temperature, seed=cfg.seed)
    cost = fit(student, x, y, spec, teacher=teacher and teacher.model, soft_labels=soft, progress=progress)
    result = dict(asdict(cfg), teacher=None, recorder=None, **cost,
                  optimizer=spec.optimizer, subset_size=len(idx),
                  val_acc=accuracy(student, *d["val"]), test_acc=accuracy(student, *d["test"]),
                  wall_s=time.perf_counter() - start, device=str(cfg.device), key=cfg.key(),
                  data_source=splits.source, **provenance())
    if cfg.select in ("herding", "kcenter"):  # the teacher's embeddings chose the subset
        result["select_teacher_id"] = cfg.teacher.key(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    elif cfg.select != "random":               # a cached scoring run (its meta.json states its compute)
        result["recorder_ids"] = ",".join(
            scores.recorder_key(cfg.dataset, **r, val_per_class=cfg.val_per_class, split_seed=cfg.split_seed)
            for r in cfg.recorder.runs())
    if teacher is not None:
        result.update(teacher_id=teacher.id, teacher_test_acc=teacher.meta["test_acc"],
                      teacher_val_acc=teacher.meta["val_acc"], teacher_model=teacher.meta["model"])
        if cfg.regime == "sl":
            result["teacher_forward_samples"] = len(idx) * max(1, cfg.label_views)  # labelling passes
    return result


def cached_run(cfg: RunConfig, progress: bool = False) -> dict:
    """``run(cfg)``, read from the result cache when this exact config has run before."""
    path = cache_dir() / "runs" / f"{cfg.key()}.json"
    if path.exists():
        try:
            return dict(read_json(path), cache_hit=True)
        except (OSError, json.JSONDecodeError):
            path.unlink()  # unreadable: recompute (writes are atomic, so this is outside damage)
    result = run(cfg, progress)
    write_json(path, result)
    return dict(result, cache_hit=False)


def sweep(configs, progress: bool = True, desc: str = "runs") -> pd.DataFrame:
    """Run (or read from the cache) every config, in order; one row per run. Validates all configs first."""
    configs = list(configs)
    for c in configs:
        c.validate()
    rows = []
    bar = tqdm(configs, desc=desc, disable=not progress)
    for c in bar:
        rows.append(cached_run(c))
        bar.set_postfix(hits=sum(r["cache_hit"] for r in rows))
    return pd.DataFrame(rows)


def vary(base: RunConfig, **grid) -> list:
    """Every combination of the values in ``grid`` applied to ``base`` (last key varies fastest)."""
    configs = [base]
    for name, values in grid.items():
        configs = [replace(c, **{name: v}) for c in configs for v in values]
    return configs
