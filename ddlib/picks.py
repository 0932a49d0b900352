"""A stored run's subset indices, kept beside the results store [issue 33: a five-minute fresh build]. Chapter 01's
teacher agreement and the galleries show the subsets the stored runs trained on; re-picking them (herding and
k-center over the teacher's embeddings) took 35 s of a fresh build. ``results/<profile>/picks/<run key>.json`` holds
one run's indices; the run's key covers the selector's code, the data's content and the config, and a file is used
only if it carries that key and holds distinct training indices, IPC of each class (as a stored record is trusted
on its key and its values' ranges: no silent wrong number); else the subset is picked again and the file replaced."""
from __future__ import annotations

from pathlib import Path

import torch

from . import data, runner
from .config import RunConfig
from .store import read_record, write_json


def folder(store: Path) -> Path:
    """``results/<profile>/picks/`` beside the store ``results/<profile>/runs/``."""
    return Path(store).parent / "picks"


def _valid(record: dict | None, cfg: RunConfig, y_train: torch.Tensor, classes: int) -> bool:
    if not isinstance(record, dict) or record.get("key") != cfg.key():
        return False
    idx = record.get("indices")
    if not (isinstance(idx, list) and len(idx) == cfg.ipc * classes and len(set(idx)) == len(idx)
            and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(y_train) for i in idx)):
        return False
    return bool((torch.bincount(y_train[idx], minlength=classes) == cfg.ipc).all())


def indices(cfg: RunConfig, store: Path | None = None) -> torch.Tensor:
    """The indices into ddlib's training split of the subset ``cfg`` trains on: read from :func:`folder` of
    ``store`` when a kept file matches the run, else picked (``runner.pick``) and kept there. Without a store,
    always picked."""
    if store is None:
        return runner.pick(cfg)["indices"]
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    path = folder(store) / f"{cfg.key()}.json"
    record = read_record(path) if path.exists() else None
    if _valid(record, cfg, splits.y_train, splits.num_classes):
        return torch.tensor(record["indices"], dtype=torch.long)
    idx = runner.pick(cfg)["indices"]
    write_json(path, dict(key=cfg.key(), indices=[int(i) for i in idx]))
    return idx
