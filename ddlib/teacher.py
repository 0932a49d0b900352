"""Teachers: trained by ddlib on the full training split, cached on disk, checked before use.

A cached teacher is a folder ``<cache>/teachers/<id>/`` with ``model.safetensors`` (weights), ``train_logits``
(its logits on the un-augmented training split, from which SL's stored labels are read) and ``meta.json``
(class list, architecture, recipe, seed, validation and test accuracy), written last (``store.cached_folder``).
Loading checks the class list against the dataset's and refuses a teacher whose validation accuracy is under the
floor (RDED's reproduction failures were class-order mismatches; paper-notes "evaluation hygiene").
"""
from __future__ import annotations

import math

import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import data, fingerprint, models
from .budget import Budget
from .errors import DDLibError
from .store import atomic_write, cached_folder, digest
from .train import TrainSpec, accuracy, fit, predict

TEACHER_FORMAT = 1
CODE = fingerprint.Part((("teacher", "get"),), fingerprint.TEACHER_DOORS)   # the code a teacher's key covers
# [ours] the least validation accuracy a teacher needs before any student learns from it
FLOORS = {"fashion_mnist": 0.85, "cifar10": 0.70, "digits": 0.50}


@dataclass(frozen=True)
class TeacherConfig:
    """How a teacher is trained. Defaults are ours: a short SGD run with a cosine schedule, crop + flip."""
    model: str = "convnet3-w16-batchnorm"  # [ours, CPU] the quick profile's; BatchNorm so SRe2L can use it too
    epochs: float = 6.0       # passes over the full training split
    batch: int = 128
    optim: str = "sgd"
    lr: float = 0.05          # [ours] a short run wants a larger lr than the HL student recipe's 0.01
    schedule: str = "cosine"
    aug: str = "crop_flip"
    seed: int = 0
    floor: float | None = None  # minimum validation accuracy to be used at all; None: FLOORS[dataset]

    def validate(self) -> "TeacherConfig":
        """Numbers a teacher can be trained with (before any compute); one-line DDLibErrors."""
        models.ModelSpec.parse(self.model)
        for name in ("epochs", "lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
                raise DDLibError(f"teacher {name} must be a positive finite number, got {v!r}")
        if self.floor is not None and not (isinstance(self.floor, (int, float)) and 0 <= self.floor <= 1):
            raise DDLibError(f"teacher floor (least validation accuracy) must be in [0, 1], got {self.floor!r}")
        return self

    def key(self, dataset: str, val_per_class: int, split_seed: int) -> str:
        cfg = dict(asdict(self), floor=None, epochs=float(self.epochs), lr=float(self.lr), dataset=dataset,
                   val_per_class=val_per_class, split_seed=split_seed, format=TEACHER_FORMAT)
        return f"{dataset}-{self.model}-{digest(cfg, fingerprint.of(CODE, data.code_part(dataset)))}"


@dataclass
class Teacher:
    model: torch.nn.Module
    meta: dict
    train_logits: torch.Tensor   # on the un-augmented training split, in the split's order
    train_embeddings: torch.Tensor | None = None  # penultimate features of the split, filled by select on first use

    @property
    def id(self) -> str:
        return self.meta["id"]


def _train(cfg: TeacherConfig, dataset: str, val_per_class: int, split_seed: int, device: str, progress: bool,
           folder: Path) -> dict:
    """Train the teacher, write its weights and training-split logits into ``folder`` (named by its id); return
    its meta."""
    splits = data.load(dataset, val_per_class, split_seed)
    d = data.on_device(dataset, val_per_class, split_seed, device)
    x, y = d["train"]
    torch.manual_seed(cfg.seed)
    model = models.build(cfg.model, splits.shape, splits.num_classes).to(device)
    budget = Budget.from_epochs(cfg.epochs, len(x), cfg.batch)
    spec = TrainSpec("hl", budget, optim=cfg.optim, lr=cfg.lr, schedule=cfg.schedule, aug=cfg.aug, seed=cfg.seed)
    start = time.perf_counter()
    cost = fit(model, x, y, spec, progress=progress)
    meta = dict(id=folder.name, dataset=dataset, classes=list(splits.classes), model=cfg.model, recipe=asdict(cfg),
                val_per_class=val_per_class, split_seed=split_seed, samples_seen=cost["samples_seen"],
                val_acc=accuracy(model, *d["val"]), test_acc=accuracy(model, *d["test"]),
                train_s=time.perf_counter() - start, device=str(device), format=TEACHER_FORMAT)
    logits = predict(model, x).cpu()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.safetensors", lambda p: save_file(state, p))
    atomic_write(folder / "train_logits.safetensors", lambda p: save_file({"logits": logits}, p))
    return meta


def get(cfg: TeacherConfig, dataset: str, val_per_class: int = 500, split_seed: int = 0, device: str = "cpu",
        progress: bool = False) -> Teacher:
    """The teacher for ``cfg`` on ``dataset``: loaded from the cache, or trained and cached first."""
    return _get(cfg, dataset, val_per_class, split_seed, str(device), progress)


@lru_cache(maxsize=8)
def _get(cfg, dataset, val_per_class, split_seed, device, progress) -> Teacher:
    tid = cfg.key(dataset, val_per_class, split_seed)
    folder, meta = cached_folder("teachers", tid, lambda f: _train(cfg, dataset, val_per_class, split_seed, device,
                                                                   progress, f))
    splits = data.load(dataset, val_per_class, split_seed)
    if tuple(meta["classes"]) != tuple(splits.classes):
        raise DDLibError(f"teacher {tid} was trained on classes {meta['classes']}, the dataset has "
                         f"{list(splits.classes)}; delete {folder} to retrain")
    floor = FLOORS.get(dataset, 0.0) if cfg.floor is None else cfg.floor
    if meta["val_acc"] < floor:
        raise DDLibError(f"teacher {tid} has validation accuracy {meta['val_acc']:.3f}, under the floor "
                         f"{floor:.3f}; train it longer (teacher epochs) or lower the floor")
    model = models.build(cfg.model, splits.shape, splits.num_classes)
    model.load_state_dict(load_file(folder / "model.safetensors"))
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    logits = load_file(folder / "train_logits.safetensors")["logits"].to(device)
    return Teacher(model, meta, logits)
