"""One run: a student trained as its config says, on its subset, distilled set or set file, under its regime, and
evaluated on the validation and test splits; the result with its compute and provenance. The root of every run's
code fingerprint (``config.RUN``)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict

import torch

from . import augment, data, models, regimes, scores, select
from . import teacher as teachers
from .budget import Budget
from .config import RunConfig, check_device, check_inputs
from .errors import DDLibError
from .origin import provenance
from .store import input_threads
from .train import TrainSpec, accuracy, fit, predict
from .version import __version__


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
    if label_source(cfg, synset).reads_teacher:
        teacher = teachers.get(cfg.teacher, cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device, progress)
    return x, y, picked, synset, teacher


def label_source(cfg: RunConfig, synset) -> regimes.LabelSource:
    """The run's :class:`regimes.LabelSource`: its regime, its k stored views, whether its set brings labels."""
    return regimes.LabelSource(cfg.regime, cfg.label_views, synset is not None and synset.soft_labels is not None)


def run(cfg: RunConfig, progress: bool = False) -> dict:
    """Train one student as ``cfg`` says and evaluate it on the validation and test splits, on
    ``store.INPUT_THREADS`` CPU threads whatever this process runs on, as its inputs are made: a key's bits then do
    not depend on ``DDLIB_WORKERS`` or on who runs it (a sweep's worker, the CLI, a notebook, the spot check)
    [issue 37: with one worker a sweep trained on 2 threads, with 2 workers on 1, and 4 of 8 runs differed in
    final_loss's last digits under one key]."""
    with input_threads():
        result = _run(cfg, progress)
        result["cpu_threads"] = torch.get_num_threads()   # provenance() is read once per process
    return result


def _run(cfg: RunConfig, progress: bool) -> dict:
    check_inputs(cfg)
    check_device(cfg.device)
    start = time.perf_counter()
    splits = data.load(cfg.dataset, cfg.val_per_class, cfg.split_seed)
    d = data.on_device(cfg.dataset, cfg.val_per_class, cfg.split_seed, cfg.device)
    x, y, picked, synset, teacher = training_inputs(cfg, progress)
    idx = picked["indices"]
    labels = label_source(cfg, synset)
    def teacher_logits():          # a subset's come with the teacher; a set's images are new to it
        return teacher.train_logits[idx] if synset is None else predict(teacher.model, x)
    soft = labels.stored_targets(teacher and teacher.model, x, teacher_logits, augment.get(cfg.aug), cfg.temperature,
                                 cfg.seed, set_soft=synset.soft_labels.to(cfg.device) if labels.set_labels else None)
    torch.manual_seed(cfg.seed)
    student = models.build(cfg.model, splits.shape, splits.num_classes).to(cfg.device)
    spec = TrainSpec(cfg.regime, Budget(cfg.budget, cfg.batch), cfg.optim, lr=cfg.lr, schedule=cfg.schedule,
                     aug=cfg.aug, temperature=cfg.temperature, seed=cfg.seed)
    cost = fit(student, x, y, spec, teacher=teacher and teacher.model, soft_labels=soft, progress=progress)
    result = dict(asdict(cfg), teacher=None, recorder=None, config=json.loads(json.dumps(asdict(cfg))), **cost,
                  optimizer=spec.optimizer, subset_size=len(idx),
                  val_acc=accuracy(student, *d["val"]), test_acc=accuracy(student, *d["test"]),
                  wall_s=time.perf_counter() - start, device=str(cfg.device), key=cfg.key(), code=cfg.code(),
                  data_source=splits.source, **provenance())
    if cfg.synset_file:                       # a user's set: its content hash, and what its file says of itself
        m = synset.meta
        result.update(synset_sha256=m["sha256"], synset_format=m["file_format"],
                      soft_label_source=None if cfg.regime == "hl" else "teacher" if labels.reads_teacher else "stored",
                      synset_method=m.get("method"), synset_key=m.get("key"),
                      synset_cached="synset" in cfg.key_fields(),   # the bytes of a set ddlib distilled
                      distill_wall_s=(m.get("compute") or {}).get("wall_s"))
    elif synset is not None:
        result.update(synset_key=synset.meta["key"], distill_compute=synset.meta["compute"],
                      distill_wall_s=synset.meta["compute"]["wall_s"])
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
    result["teacher_forward_samples"] = labels.teacher_forwards(len(idx), cost["samples_seen"])
    return result
