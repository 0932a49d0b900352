"""Training dynamics and difficulty scores: train one model, record its softmax on every training image after
each epoch, and score samples from that trajectory (EL2N, forgetting, AUM, epoch learned, CAD-Prune's dynamic
uncertainty).

Two layers (DeepCore's "train a little and record" base, CCS's pure functions):

* the recorder, :func:`record_dynamics_on` (any tensors, e.g. with planted label noise) and its cached wrapper
  :func:`record_dynamics` (a dataset's training split for some epochs or a compute budget, cached under
  ``<cache>/scores/<key>/`` like teachers);
* pure score functions on a probability trajectory ``probs`` [E, N, C] and labels ``y`` [N]: no training in them.

Every raw score documents its direction. :func:`difficulty` turns any score in :data:`SCORES` into one convention:
HIGHER MEANS HARDER (so AUM is negated). Epochs are indexed 0..E-1 in the order recorded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from . import data, fingerprint, models, train
from .budget import Budget
from .errors import DDLibError, check_choice
from .store import atomic_write, cached_folder, digest

CODE = fingerprint.Part((("scores", "record_dynamics"),))   # the code a scoring run's key covers
SCORES_FORMAT = 1   # bump when what is stored (or how it is recorded) changes: old caches are then ignored


# --- the recorder ---------------------------------------------------------------------------------------------

@dataclass
class Dynamics:
    """One scoring run: the model's softmax on the un-augmented training images after each recorded epoch.

    ``probs`` float16 [E, N, C] (compact; scores upcast to float32), ``y`` int64 [N] the labels the model was
    trained on, ``samples`` int64 [E] the samples seen when each record was taken, ``meta`` the config and the
    run's compute (``samples_seen`` for training, ``forward_samples`` for the recording passes).
    """
    probs: torch.Tensor
    y: torch.Tensor
    samples: torch.Tensor
    meta: dict

    @property
    def epochs(self) -> torch.Tensor:
        """Passes over the training data at each record (float, [E]): samples seen / N (N the trained-on size, which
        a probe smaller than the training set does not change)."""
        return self.samples.double() / self.meta.get("n", self.probs.shape[1])

    def difficulty(self, name: str, **knobs) -> torch.Tensor:
        """``difficulty(name, self, **knobs)``: score ``name``, higher = harder."""
        return difficulty(name, self, **knobs)


@dataclass(frozen=True)
class RecorderConfig:
    """A scoring run for the selectors (hashable, so a run config can hold it). Defaults are ours [assumption]:
    the teachers' small ConvNet, 10 epochs of the HL recipe (SGD 0.01, step decay at half), crop + flip. ``seeds``:
    one run per seed; selectors average each score over the runs (Paul et al. average EL2N over 10 seeds)."""
    model: str = "convnet3-w32-instancenorm"
    epochs: float = 10.0
    batch: int = 128
    seeds: tuple = (0,)
    optim: str = "sgd"
    lr: float | None = None
    aug: str = "crop_flip"

    def runs(self) -> list:
        """The keyword arguments of :func:`record_dynamics` (and :func:`recorder_key`), one dict per seed."""
        seeds = (self.seeds,) if isinstance(self.seeds, int) else tuple(self.seeds)
        if not seeds:
            raise DDLibError("recorder.seeds is empty")
        return [dict(model=self.model, epochs=self.epochs, batch=self.batch, seed=s, optim=self.optim, lr=self.lr,
                     aug=self.aug) for s in seeds]


def record_dynamics_on(x: torch.Tensor, y: torch.Tensor, *, model: str, epochs: float, batch: int, seed: int,
                       num_classes: int | None = None, optim: str = "sgd", lr: float | None = None,
                       aug: str = "crop_flip", val: tuple | None = None, progress: bool = False,
                       every: int | None = None, probe: torch.Tensor | None = None) -> Dynamics:
    """Train one ``model`` (a name, see ``models.build``) on normalised ``x`` with labels ``y`` under HL for
    ``epochs`` passes, recording ``softmax(model(x))`` on the un-augmented ``x`` at the end of every epoch and at
    the last step. Uncached: the cache lives in :func:`record_dynamics`.

    ``every``: record every ``every`` samples seen instead of every N (CAD-Prune's compute-matched run is shorter
    than one epoch at small budgets); ``probe``: indices of ``x`` to record on (default all), so the recording
    passes cost ``len(probe)`` forwards each; the returned labels are then ``y[probe]``.

    End of epoch k = the first step at which samples seen >= k * N. ``train.batch_indices`` concatenates random
    permutations of the data, so that is exactly when the k-th pass is used up (a fixed ``ceil(N / batch)`` steps
    per epoch would drift when batch does not divide N). At most one record per step, so E = ceil(epochs) when
    batch <= N. ``val=(x_val, y_val)`` adds the final model's validation accuracy to ``meta``.
    """
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise DDLibError(f"record_dynamics_on needs images [N, C, H, W] and labels [N], got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not epochs > 0:
        raise DDLibError(f"epochs must be positive, got {epochs!r}")
    n = len(x)
    every = n if every is None else int(every)
    if every < 1:
        raise DDLibError(f"every (samples between records) must be >= 1, got {every!r}")
    xp, yp = (x, y) if probe is None else (x[probe.to(x.device)], y[probe.to(y.device)])
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    torch.manual_seed(seed)
    net = models.build(model, tuple(x.shape[1:]), num_classes).to(x.device)
    budget = Budget.from_epochs(epochs, n, batch)
    spec = train.TrainSpec("hl", budget, optim=optim, lr=lr, aug=aug, seed=seed)
    records, samples = [], []
    next_epoch_end = every

    def on_step(step, m):
        nonlocal next_epoch_end
        seen = (step + 1) * batch
        if seen >= next_epoch_end or step == budget.steps - 1:
            records.append(F.softmax(train.predict(m, xp).float(), dim=1).half().cpu())
            samples.append(seen)
            while next_epoch_end <= seen:
                next_epoch_end += every

    start = time.perf_counter()
    cost = train.fit(net, x, y, spec, progress=progress, on_step=on_step)
    probs = torch.stack(records)
    yc = yp.detach().cpu().long()
    meta = dict(model=model, epochs=float(epochs), batch=batch, seed=seed, optim=optim, lr=lr, aug=aug, n=n,
                num_classes=num_classes, regime="hl", steps=cost["steps"], samples_seen=cost["samples_seen"],
                forward_samples=len(records) * len(xp), recorded_epochs=len(records), record_every=every,
                train_acc_last=float((probs[-1].float().argmax(1) == yc).float().mean()),
                train_s=time.perf_counter() - start, device=str(x.device), format=SCORES_FORMAT)
    if val is not None:
        meta["val_acc"] = train.accuracy(net, *val)
    return Dynamics(probs, yc, torch.tensor(samples, dtype=torch.int64), meta)


def recorder_key(dataset: str, *, model: str, batch: int, seed: int, epochs: float | None = None,
                 budget: int | None = None, every: int | None = None, probe: torch.Tensor | None = None,
                 val_per_class: int = 500, split_seed: int = 0, optim: str = "sgd", lr: float | None = None,
                 aug: str = "crop_flip") -> str:
    """The cache folder name of a scoring run: dataset, model (a budget run: ``cad-`` before them, the budget after)
    and a digest of everything that changes the numbers."""
    cfg = dict(dataset=dataset, model=model, epochs=None if epochs is None else float(epochs), budget=budget,
               every=every, probe=None if probe is None else probe.tolist(), batch=int(batch), seed=int(seed),
               val_per_class=int(val_per_class), split_seed=int(split_seed), optim=optim,
               lr=None if lr is None else float(lr), aug=aug, format=SCORES_FORMAT)
    name = f"{dataset}-{model}" if budget is None else f"cad-{dataset}-{model}-b{budget}"
    return f"{name}-{digest(cfg, fingerprint.of(CODE, data.code_part(dataset)))}"


def record_dynamics(dataset: str, *, model: str, batch: int, seed: int, epochs: float | None = None,
                    budget: int | None = None, every: int | None = None, probe: torch.Tensor | None = None,
                    val_per_class: int = 500, split_seed: int = 0, device: str = "cpu", optim: str = "sgd",
                    lr: float | None = None, aug: str = "crop_flip", progress: bool = False) -> Dynamics:
    """:func:`record_dynamics_on` on ``dataset``'s full training split for ``epochs`` passes, or for a compute
    ``budget`` in samples seen (K x N = budget, CAD-Prune's compute-matched run), cached on disk. ``every`` and
    ``probe`` (indices into the training split) as there.

    The cache is ``<cache>/scores/<key>/dynamics.safetensors`` (probs, labels, samples) plus ``meta.json``, written
    last (``store.cached_folder``). The device is not part of the key (as for teachers). A cached run whose labels
    differ from the split's (at the probe) is refused.
    """
    if (epochs is None) == (budget is None):
        raise DDLibError("a scoring run takes exactly one of epochs and budget (samples seen)")
    splits = data.load(dataset, val_per_class, split_seed)
    run = dict(model=model, batch=batch, seed=seed, every=every, probe=probe, optim=optim, lr=lr, aug=aug)
    key = recorder_key(dataset, epochs=epochs, budget=budget, val_per_class=val_per_class, split_seed=split_seed,
                       **run)

    def make(folder):
        d = data.on_device(dataset, val_per_class, split_seed, str(device))
        dyn = record_dynamics_on(*d["train"], epochs=epochs if budget is None else budget / len(splits.y_train),
                                 num_classes=splits.num_classes, val=d["val"], progress=progress, **run)
        tensors = {"probs": dyn.probs.contiguous(), "y": dyn.y.contiguous(), "samples": dyn.samples.contiguous()}
        atomic_write(folder / "dynamics.safetensors", lambda p: save_file(tensors, p))
        return dict(dyn.meta, id=key, dataset=dataset, classes=list(splits.classes), budget=budget,
                    val_per_class=val_per_class, split_seed=split_seed)

    folder, meta = cached_folder("scores", key, make)
    t = load_file(folder / "dynamics.safetensors")
    y = splits.y_train if probe is None else splits.y_train[probe]
    if tuple(meta["classes"]) != tuple(splits.classes) or not torch.equal(t["y"], y):
        raise DDLibError(f"scoring run {key} does not match {dataset}'s training split (classes or labels "
                         f"differ); delete {folder} to recompute")
    return Dynamics(t["probs"], t["y"], t["samples"], meta)


# --- pure score functions -------------------------------------------------------------------------------------

def _traj(probs: torch.Tensor, y: torch.Tensor) -> tuple:
    """Check and upcast: probs [E, N, C] (a single [N, C] is one epoch), labels [N] -> (float32 probs, long y)."""
    if probs.ndim == 2:
        probs = probs.unsqueeze(0)
    if probs.ndim != 3 or y.ndim != 1 or probs.shape[1] != len(y):
        raise DDLibError(f"scores need probs [E, N, C] and labels [N], got {tuple(probs.shape)} and "
                         f"{tuple(y.shape)}")
    if probs.shape[2] < 2 or len(y) and (int(y.min()) < 0 or int(y.max()) >= probs.shape[2]):
        raise DDLibError(f"labels must lie in [0, {probs.shape[2]}) and there must be >= 2 classes")
    return probs.float(), y.to(probs.device).long()


def _correct(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[E, N] bool: is the prediction (argmax) the label at each recorded epoch."""
    return probs.argmax(2) == y.unsqueeze(0)


def el2n_per_epoch(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[E, N]: ||p - onehot(y)||_2 at every recorded epoch. Higher = harder."""
    p, y = _traj(probs, y)
    return (p - F.one_hot(y, p.shape[2]).to(p.dtype)).norm(dim=2)


def el2n(probs: torch.Tensor, y: torch.Tensor, epoch: int = -1) -> torch.Tensor:
    """EL2N (Paul et al. 2021): ||p - onehot(y)||_2 at recorded epoch ``epoch`` (0-based; -1 = the last). Higher =
    harder. Paul et al. score early in a long run (epoch 20 of 200) and average over 10 seeds: see
    :func:`el2n_mean`. A CAD-Prune-style scoring run is itself short, hence the default last epoch [assumption]."""
    p, y = _traj(probs, y)
    if not -p.shape[0] <= epoch < p.shape[0]:
        raise DDLibError(f"el2n epoch {epoch} is outside the {p.shape[0]} recorded epochs")
    return el2n_per_epoch(p[epoch].unsqueeze(0), y)[0]


def el2n_mean(runs: Sequence[torch.Tensor], y: torch.Tensor, epoch: int = -1) -> torch.Tensor:
    """EL2N averaged over independent runs (seeds): the mean of the per-run norms, Paul et al.'s E_w||p_w - y||
    (not the norm of the mean prediction). ``runs``: a list of [E, N, C] trajectories. Higher = harder."""
    if not len(runs):
        raise DDLibError("el2n_mean needs at least one run")
    return torch.stack([el2n(p, y, epoch) for p in runs]).mean(0)


def forgetting(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Forgetting events (Toneva et al. 2019): correct -> incorrect transitions between consecutive recorded epochs.
    Samples never predicted correctly at any recorded epoch get (the largest count among the others) + 1, so they
    rank hardest (Toneva et al. give them infinitely many). Higher = harder. Float [N]."""
    p, y = _traj(probs, y)
    c = _correct(p, y)
    events = (c[:-1] & ~c[1:]).sum(0).float()
    never = ~c.any(0)
    top = events[~never].max() if bool((~never).any()) else events.new_tensor(0.0)
    events[never] = top + 1
    return events


LOGIT_FLOOR = 2.0 ** -24   # the smallest positive float16: the stored probabilities' floor, so log p stays finite


def aum(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Area under the margin (Pleiss et al. 2020), ON LOGITS as in the paper: the mean over recorded epochs of
    z_y - max_{k != y} z_k. We store softmax outputs only, but a logit difference is a log-probability difference
    (z_y - z_k = log p_y - log p_k), so the margin is exact up to the float16 storage, with probabilities floored at
    LOGIT_FLOOR (margins within +-16.6). Higher = EASIER (negative = mislabeled-like)."""
    p, y = _traj(probs, y)
    logp = p.clamp_min(LOGIT_FLOOR).log()
    idx = y.view(1, -1, 1).expand(p.shape[0], -1, 1)
    zy = logp.gather(2, idx).squeeze(2)
    other = logp.scatter(2, idx, float("-inf")).amax(2)
    return (zy - other).mean(0)


def learned_epoch(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The first recorded epoch (0-based) from which the prediction stays correct to the end; E if it is wrong at
    the last record (never learned for good). Higher = harder ("iteration learned"). Float [N]."""
    p, y = _traj(probs, y)
    c = _correct(p, y)
    trailing = torch.flip(c, [0]).long().cumprod(0).sum(0)
    return (c.shape[0] - trailing).float()


def el2n_window_std(probs: torch.Tensor, y: torch.Tensor, J: int = 6, W: int = 2) -> torch.Tensor:
    """CAD-Prune's dynamic uncertainty [paper-notes]: per-epoch EL2N; over every window of ``J`` consecutive recorded
    epochs take its standard deviation (unbiased, /(J-1), as in He et al. 2023's dynamic uncertainty); average the
    last ``W`` windows (windows start at epochs E-J-W+1 .. E-J). Needs E >= J + W - 1. Defaults J=6, W=2: the
    values reported for ImageNet-1K. Higher = more uncertain, treated as harder (note: always-easy and
    never-learned samples are both stable, so this peaks at intermediate difficulty)."""
    p, y = _traj(probs, y)
    if isinstance(J, bool) or not isinstance(J, int) or J < 2 or isinstance(W, bool) or not isinstance(W, int) \
            or W < 1:
        raise DDLibError(f"dyn_unc needs integers J >= 2 (window length) and W >= 1 (windows), got J={J!r}, W={W!r}")
    E = p.shape[0]
    if E < J + W - 1:
        raise DDLibError(f"dyn_unc with J={J}, W={W} needs at least {J + W - 1} recorded epochs, the run has {E}; "
                         f"record more epochs or pass smaller J/W")
    s = el2n_per_epoch(p, y)                       # [E, N]
    windows = s.unfold(0, J, 1)                    # [E - J + 1, N, J]
    return windows.std(dim=2, unbiased=True)[-W:].mean(0)


# --- one convention: higher = harder ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    fn: Callable
    sign: float          # +1: the raw score already grows with difficulty; -1: negate it
    knobs: dict          # knob -> default
    about: str


SCORES = {
    "el2n": Score(el2n, +1.0, {"epoch": -1}, "EL2N at one recorded epoch (higher = harder)"),
    "forgetting": Score(forgetting, +1.0, {}, "forgetting events; never learned = max + 1 (higher = harder)"),
    "aum": Score(aum, -1.0, {}, "area under the margin, on logits (raw: higher = easier; negated)"),
    "learned_epoch": Score(learned_epoch, +1.0, {}, "first epoch from which always correct (higher = harder)"),
    "dyn_unc": Score(el2n_window_std, +1.0, {"J": 6, "W": 2},
                     "CAD-Prune: std of EL2N in J-epoch windows, mean of the last W (higher = harder)"),
}


def check_knobs(name: str, knobs: dict) -> dict:
    """The knobs of score ``name`` with defaults filled in; a one-line DDLibError for an unknown one."""
    check_choice("score", name, SCORES)
    bad = sorted(set(knobs) - set(SCORES[name].knobs))
    if bad:
        valid = ", ".join(f"{k}={v!r}" for k, v in SCORES[name].knobs.items()) or "none"
        raise DDLibError(f"score {name!r} has no knob {', '.join(map(repr, bad))}; its knobs: {valid}")
    return {**SCORES[name].knobs, **knobs}


def difficulty(name: str, dyn_or_probs, y: torch.Tensor | None = None, **knobs) -> torch.Tensor:
    """Score ``name`` in :data:`SCORES` as a float32 [N] tensor where HIGHER MEANS HARDER for every name.

    ``dyn_or_probs``: a :class:`Dynamics` (its labels are used unless ``y`` is given), a probability trajectory
    [E, N, C] (then ``y`` is required), or a list of either (independent runs): the score is averaged over runs,
    which for EL2N is :func:`el2n_mean`.
    """
    knobs = check_knobs(name, knobs)
    if isinstance(dyn_or_probs, (list, tuple)):
        if not dyn_or_probs:
            raise DDLibError("difficulty got an empty list of runs")
        runs = [difficulty(name, d, y, **knobs) for d in dyn_or_probs]
        if len({len(r) for r in runs}) != 1:
            raise DDLibError("the runs to average cover different numbers of samples")
        return torch.stack(runs).mean(0)
    if isinstance(dyn_or_probs, Dynamics):
        probs, y = dyn_or_probs.probs, dyn_or_probs.y if y is None else y
    else:
        probs = dyn_or_probs
        if y is None:
            raise DDLibError(f"difficulty({name!r}, probs) needs the labels y")
    spec = SCORES[name]
    return (spec.sign * spec.fn(probs, y, **knobs)).float()

