"""Teachers: trained by ddlib on the full training split, cached on disk, checked before use.

A cached teacher is a folder ``<cache>/teachers/<id>/`` with ``model.safetensors`` (weights), ``train_logits``
(its logits on the un-augmented training split, from which SL's stored labels are read) and ``meta.json``
(class list, architecture, recipe, seed, validation and test accuracy). Loading checks the class list against the
dataset's and refuses a teacher whose validation accuracy is under the floor (RDED's reproduction failures were
class-order mismatches; paper-notes "evaluation hygiene").
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
from safetensors.torch import load_file, save_file

from . import data, models
from .budget import Budget
from .errors import DDLibError
from .paths import cache_dir
from .store import atomic_write, read_json, write_json
from .train import TrainSpec, accuracy, fit, predict

TEACHER_FORMAT = 1
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

    def key(self, dataset: str, val_per_class: int, split_seed: int) -> str:
        blob = json.dumps(dict(asdict(self), floor=None, epochs=float(self.epochs), lr=float(self.lr),
                               dataset=dataset, val_per_class=val_per_class,
                               split_seed=split_seed, format=TEACHER_FORMAT), sort_keys=True)
        return f"{dataset}-{self.model}-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Teacher:
    model: torch.nn.Module
    meta: dict
    train_logits: torch.Tensor   # on the un-augmented training split, in the split's order
    train_embeddings: torch.Tensor | None = None  # penultimate features of the split, filled by select on first use

    @property
    def id(self) -> str:
        return self.meta["id"]


def _train(cfg: TeacherConfig, dataset: str, val_per_class: int, split_seed: int, device: str,
           progress: bool) -> tuple:
    splits = data.load(dataset, val_per_class, split_seed)
    d = data.on_device(dataset, val_per_class, split_seed, device)
    x, y = d["train"]
    torch.manual_seed(cfg.seed)
    model = models.build(cfg.model, splits.shape, splits.num_classes).to(device)
    budget = Budget.from_epochs(cfg.epochs, len(x), cfg.batch)
    spec = TrainSpec("hl", budget, optim=cfg.optim, lr=cfg.lr, schedule=cfg.schedule, aug=cfg.aug, seed=cfg.seed)
    start = time.perf_counter()
    cost = fit(model, x, y, spec, progress=progress)
    meta = dict(dataset=dataset, classes=list(splits.classes), model=cfg.model, recipe=asdict(cfg),
                val_per_class=val_per_class, split_seed=split_seed, samples_seen=cost["samples_seen"],
                val_acc=accuracy(model, *d["val"]), test_acc=accuracy(model, *d["test"]),
                train_s=time.perf_counter() - start, device=str(device), format=TEACHER_FORMAT)
    return model, meta, predict(model, x)


def get(cfg: TeacherConfig, dataset: str, val_per_class: int = 500, split_seed: int = 0, device: str = "cpu",
        progress: bool = False) -> Teacher:
    """The teacher for ``cfg`` on ``dataset``: loaded from the cache, or trained and cached first."""
    return _get(cfg, dataset, val_per_class, split_seed, str(device), progress)


@lru_cache(maxsize=8)
def _get(cfg, dataset, val_per_class, split_seed, device, progress) -> Teacher:
    tid = cfg.key(dataset, val_per_class, split_seed)
    folder = cache_dir() / "teachers" / tid
    splits = data.load(dataset, val_per_class, split_seed)
    if not (folder / "meta.json").exists():
        model, meta, logits = _train(cfg, dataset, val_per_class, split_seed, device, progress)
        meta["id"] = tid
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(folder / "model.safetensors", lambda p: save_file(state, p))
        atomic_write(folder / "train_logits.safetensors", lambda p: save_file({"logits": logits.cpu()}, p))
        write_json(folder / "meta.json", meta)  # written last: its presence means the folder is complete
    meta = read_json(folder / "meta.json")
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
