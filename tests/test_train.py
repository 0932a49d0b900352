"""The training loop: batch order, the exact number of steps, determinism, regime requirements, lr schedules."""
import math

import pytest
import torch

from ddlib import data, models, train
from ddlib.budget import Budget
from ddlib.errors import DDLibError

MODEL = "convnet2-w16"        # learns digits in a few dozen steps (the 8x8 ConvNet-3 barely moves at this size)


@pytest.fixture(scope="module")
def digits():
    s = data.load("digits", val_per_class=20)
    d = data.on_device("digits", val_per_class=20)
    return s, d


def student(splits, seed=0, name=MODEL):
    torch.manual_seed(seed)
    return models.build(name, splits.shape, splits.num_classes)


def subset(d, ipc, seed=0):
    x, y = d["train"]
    idx = data.per_class_indices(y, ipc, seed)
    return x[idx], y[idx]


# --- batch order ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,batch,steps", [(7, 3, 14), (10, 32, 5), (3, 8, 3), (64, 16, 8), (5, 5, 4)])
def test_batch_indices_are_concatenated_permutations(n, batch, steps):
    g = torch.Generator().manual_seed(0)
    batches = list(train.batch_indices(n, batch, steps, g))
    assert len(batches) == steps and all(len(b) == batch for b in batches)   # batches larger than n are filled
    stream = torch.cat(batches)
    for start in range(0, len(stream) - n + 1, n):                       # every whole epoch-length block
        assert sorted(stream[start:start + n].tolist()) == list(range(n))
    counts = torch.bincount(stream, minlength=n)
    assert counts.max() - counts.min() <= 1                              # as even as the stream allows


def test_batch_indices_are_seeded():
    a = torch.cat(list(train.batch_indices(10, 4, 10, torch.Generator().manual_seed(1))))
    b = torch.cat(list(train.batch_indices(10, 4, 10, torch.Generator().manual_seed(1))))
    c = torch.cat(list(train.batch_indices(10, 4, 10, torch.Generator().manual_seed(2))))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:10], torch.arange(10))                    # shuffled, not in order


# --- steps ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ipc", [1, 50])            # a 10-image and a 500-image subset
def test_fit_takes_exactly_budget_steps(digits, ipc):
    s, d = digits
    x, y = subset(d, ipc)
    assert len(x) == 10 * ipc
    budget = Budget(330, 32)                           # 11 steps, 352 samples seen
    calls = []
    cost = train.fit(student(s), x, y, train.TrainSpec("hl", budget, aug="dsa", seed=0),
                     on_step=lambda step, model: calls.append(step))
    assert calls == list(range(budget.steps)) == list(range(11))
    assert cost["steps"] == 11 and cost["batch"] == 32 and cost["samples_seen"] == 352
    assert cost["epochs"] == pytest.approx(352 / (10 * ipc))
    assert cost["teacher_forward_samples"] == 0 and math.isfinite(cost["final_loss"])


def test_every_step_sees_a_full_batch_of_the_subset(digits):
    s, d = digits
    x, y = subset(d, 1)
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = student(s)

        def forward(self, xb):
            seen.append(xb.shape)
            return self.net(xb)

    train.fit(Spy(), x, y, train.TrainSpec("hl", Budget(100, 32), aug="none"))
    assert seen == [torch.Size([32, 1, 8, 8])] * 4


# --- determinism ---------------------------------------------------------------------------------------------

def _train_once(s, d, seed, init_seed=None):
    x, y = subset(d, 10)
    m = student(s, seed if init_seed is None else init_seed)
    train.fit(m, x, y, train.TrainSpec("hl", Budget(1600, 32), aug="dsa", seed=seed))
    return m, (train.accuracy(m, *d["val"]), train.accuracy(m, *d["test"]))


def test_same_seed_gives_bit_identical_weights_and_accuracy(digits):
    s, d = digits
    m1, acc1 = _train_once(s, d, 0)
    m2, acc2 = _train_once(s, d, 0)
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert acc1 == acc2
    assert acc1[0] > 0.5                     # it did learn (10 classes: chance is 0.1)


def test_a_different_seed_gives_different_weights_and_accuracy(digits):
    s, d = digits
    m1, acc1 = _train_once(s, d, 0)
    # same initial weights, only fit's seed (batch order and augmentation) differs
    m2, acc2 = _train_once(s, d, 1, init_seed=0)
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert not all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert acc1 != acc2
    assert not torch.equal(train.predict(m1, d["test"][0]), train.predict(m2, d["test"][0]))


# --- regime requirements -------------------------------------------------------------------------------------

def test_fit_refuses_sl_without_soft_labels_and_slkd_without_teacher(digits):
    s, d = digits
    x, y = subset(d, 1)
    m = student(s)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match="soft_labels"):
        train.fit(m, x, y, train.TrainSpec("sl", Budget(64, 32)))
    with pytest.raises(ValueError, match="teacher"):
        train.fit(m, x, y, train.TrainSpec("slkd", Budget(64, 32)))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())    # nothing trained


def test_fit_validates_its_spec(digits):
    s, d = digits
    x, y = subset(d, 1)
    for spec, what in [(train.TrainSpec("kd", Budget(64, 32)), "regime"),
                       (train.TrainSpec("hl", Budget(64, 32), optim="rmsprop"), "optimizer"),
                       (train.TrainSpec("hl", Budget(64, 32), aug="mixup"), "augmentation"),
                       (train.TrainSpec("hl", Budget(64, 32), schedule="linear"), "schedule")]:
        with pytest.raises(DDLibError, match=f"unknown {what}"):
            train.fit(student(s), x, y, spec)


def test_fit_stops_on_a_non_finite_loss(digits):
    s, d = digits
    x, y = subset(d, 1)
    x = x.clone()
    x[0] = float("nan")
    with pytest.raises(FloatingPointError, match="loss became nan"):
        train.fit(student(s), x, y, train.TrainSpec("hl", Budget(64, 32), aug="none"))


class Recorder(torch.nn.Module):
    """Wraps a model and records every input it is shown (and whether it was in eval mode)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.inputs, self.modes = net, [], []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        self.modes.append(self.training)
        return self.net(x)


def test_slkd_teacher_sees_the_same_augmented_batch_as_the_student(digits):
    s, d = digits
    x, y = subset(d, 1)
    stu = Recorder(student(s, 0))
    tea = Recorder(student(s, 1))
    for p in tea.parameters():
        p.requires_grad_(False)
    spec = train.TrainSpec("slkd", Budget(160, 32), aug="dsa", seed=3)
    cost = train.fit(stu, x, y, spec, teacher=tea)
    assert len(tea.inputs) == len(stu.inputs) == 5
    assert all(torch.equal(a, b) for a, b in zip(tea.inputs, stu.inputs))
    assert not any(tea.modes) and all(stu.modes)            # teacher in eval mode, student training
    # the batches are augmented views, not raw images of the subset
    raw = {tuple(r.flatten().tolist()) for r in x}
    assert any(tuple(v.flatten().tolist()) not in raw for b in stu.inputs for v in b)
    assert cost["teacher_forward_samples"] == cost["samples_seen"] == 160


def test_sl_trains_towards_the_soft_labels(digits):
    s, d = digits
    x, y = subset(d, 5)
    # soft labels that point at class (y + 1) mod 10: the student should learn those, not y
    shifted = (y + 1) % 10
    soft = torch.nn.functional.one_hot(shifted, 10).float() * 0.9 + 0.01
    m = student(s)
    train.fit(m, x, y, train.TrainSpec("sl", Budget(3200, 32), aug="none", temperature=1.0), soft_labels=soft)
    pred = train.predict(m, x).argmax(1)
    assert (pred == shifted).float().mean() > 0.8


# --- optimiser schedules -------------------------------------------------------------------------------------

def _lrs(spec, model):
    """The lr in force at each of the spec's steps, stepping the scheduler as fit does."""
    opt, sched = train.make_optimizer(model, spec)
    out = []
    for _ in range(spec.budget.steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return opt, out, opt.param_groups[0]["lr"]


def test_step_schedule_divides_lr_by_ten_at_half(digits):
    s, _ = digits
    opt, lrs, _ = _lrs(train.TrainSpec("hl", Budget(20 * 32, 32)), student(s))
    assert isinstance(opt, torch.optim.SGD)
    g = opt.param_groups[0]
    assert (g["momentum"], g["weight_decay"]) == (0.9, 5e-4)
    assert lrs[:10] == pytest.approx([0.01] * 10) and lrs[10:] == pytest.approx([0.001] * 10)


def test_cosine_schedule_starts_at_the_base_lr_and_ends_near_zero(digits):
    s, _ = digits
    steps = 100
    opt, lrs, after = _lrs(train.TrainSpec("sl", Budget(steps * 32, 32), optim="adamw"), student(s))
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.01
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[steps // 2] == pytest.approx(0.5e-3)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] < 1e-3 * 1e-3 and after == pytest.approx(0.0, abs=1e-12)
    assert lrs == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * t / steps)) for t in range(steps)])


def test_lr_and_schedule_overrides(digits):
    s, _ = digits
    _, lrs, _ = _lrs(train.TrainSpec("hl", Budget(8 * 32, 32), lr=0.2, schedule="constant"), student(s))
    assert lrs == pytest.approx([0.2] * 8)
    opt, lrs, _ = _lrs(train.TrainSpec("hl", Budget(8 * 32, 32), optim="adamw", schedule="step"), student(s))
    assert isinstance(opt, torch.optim.AdamW) and lrs == pytest.approx([1e-3] * 4 + [1e-4] * 4)


def test_fit_follows_the_schedule(digits, monkeypatch):
    """The schedule as fit applies it: the lr in force at each step, read off the optimiser fit builds."""
    s, d = digits
    x, y = subset(d, 1)
    made = []
    real = train.make_optimizer

    def spy(model, spec):
        opt, sched = real(model, spec)
        made.append(opt)
        return opt, sched

    monkeypatch.setattr(train, "make_optimizer", spy)
    after = []
    train.fit(student(s), x, y, train.TrainSpec("hl", Budget(10 * 32, 32), aug="none"),
              on_step=lambda step, m: after.append(made[0].param_groups[0]["lr"]))
    used = [0.01] + after[:-1]                       # on_step runs after the step and the scheduler step
    assert used == pytest.approx([0.01] * 5 + [0.001] * 5)


def test_predict_restores_the_training_mode(digits):
    s, d = digits
    m = student(s)
    m.train()
    out = train.predict(m, d["val"][0], chunk=7)
    assert m.training and out.shape == (len(d["val"][0]), 10)
    assert torch.allclose(out, train.predict(m, d["val"][0]))
