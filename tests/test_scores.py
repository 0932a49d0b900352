"""Difficulty scores on hand-made trajectories, the recorder (epoch records, cache reuse), and planted label noise."""
import math
import statistics

import pytest
import torch

from ddlib import data, scores, train
from ddlib.errors import DDLibError

torch.set_num_threads(1)

# Correctness of 4 samples over 5 recorded epochs (3 classes). Correct: p_y = .7, another class .2;
# wrong: p_y = .2, another class .7. Either way the third class gets .1.
PATTERN = [[0, 1, 0, 1, 1],   # learned at epoch 3 after one forgetting event (1 -> 0 between epochs 1 and 2)
           [1, 0, 1, 0, 1],   # two forgetting events, learned for good at epoch 4
           [0, 0, 0, 0, 0],   # never learned
           [1, 1, 1, 1, 1]]   # always right
Y = torch.tensor([0, 1, 2, 0])


def hand_probs():
    probs = torch.zeros(5, 4, 3)
    for i, row in enumerate(PATTERN):
        y, other, third = int(Y[i]), (int(Y[i]) + 1) % 3, (int(Y[i]) + 2) % 3
        for e, ok in enumerate(row):
            probs[e, i, y], probs[e, i, other] = (0.7, 0.2) if ok else (0.2, 0.7)
            probs[e, i, third] = 0.1
    return probs


def test_forgetting_counts_and_never_learned_is_hardest():
    f = scores.forgetting(hand_probs(), Y)
    assert f.tolist() == [1.0, 2.0, 3.0, 0.0]          # never learned = max (2) + 1


def test_learned_epoch():
    assert scores.learned_epoch(hand_probs(), Y).tolist() == [3.0, 4.0, 5.0, 0.0]   # E = 5 if never learned


def test_aum_sign_and_value():
    a = scores.aum(hand_probs(), Y)
    # logit margins are +-m, m = log(0.7 / 0.2), when right / wrong: (3 - 2) / 5 * m = .2m, .2m, -m, m
    m = math.log(0.7 / 0.2)
    assert torch.allclose(a, torch.tensor([0.2 * m, 0.2 * m, -m, m]), atol=1e-5)
    d = scores.difficulty("aum", hand_probs(), Y)
    assert torch.allclose(d, -a) and int(d.argmax()) == 2 and int(d.argmin()) == 3


def test_aum_is_the_margin_of_the_logits():
    """Pleiss et al.'s AUM is on logits; from stored probabilities it is the same up to float16 (issue 12)."""
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(4, 50, 10, generator=g) * 2, torch.randint(10, (50,), generator=g)
    zy = logits.gather(2, y.view(1, -1, 1).expand(4, -1, 1)).squeeze(2)
    other = logits.scatter(2, y.view(1, -1, 1).expand(4, -1, 1), float("-inf")).amax(2)
    a = scores.aum(torch.softmax(logits, 2).half(), y)
    assert torch.allclose(a, (zy - other).mean(0), atol=2e-3)
    assert torch.isfinite(scores.aum(torch.tensor([[[1.0, 0.0]]]), torch.tensor([0]))).all()   # p = 0 is floored


def test_el2n_values_and_mean_over_runs():
    right, wrong = math.sqrt(0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2), math.sqrt(0.8 ** 2 + 0.7 ** 2 + 0.1 ** 2)
    e0 = scores.el2n(hand_probs(), Y, epoch=0)
    assert torch.allclose(e0, torch.tensor([wrong, right, wrong, right]), atol=1e-6)
    assert torch.allclose(scores.el2n(hand_probs(), Y), torch.tensor([right, right, wrong, right]), atol=1e-6)
    assert torch.allclose(scores.el2n(hand_probs(), Y, epoch=-1), scores.el2n(hand_probs(), Y, epoch=4))
    p2 = torch.softmax(torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0)), 2)
    mean = scores.el2n_mean([hand_probs(), p2], Y, epoch=2)
    assert torch.allclose(mean, (scores.el2n(hand_probs(), Y, 2) + scores.el2n(p2, Y, 2)) / 2)
    assert torch.allclose(scores.difficulty("el2n", [hand_probs(), p2], Y, epoch=2), mean)
    with pytest.raises(DDLibError, match="outside"):
        scores.el2n(hand_probs(), Y, epoch=5)


def test_window_std_by_hand():
    q = [0.9, 0.8, 0.6, 0.9, 0.5]                      # p_y of one 2-class sample with label 0
    probs = torch.tensor([[[v, 1 - v]] for v in q])    # [5, 1, 2]
    el = [math.sqrt(2) * (1 - v) for v in q]           # EL2N per epoch
    # J = 3, W = 2: the last two windows start at epochs 1 and 2
    want = (statistics.stdev(el[1:4]) + statistics.stdev(el[2:5])) / 2
    got = scores.el2n_window_std(probs, torch.tensor([0]), J=3, W=2)
    assert got.item() == pytest.approx(want, rel=1e-5)
    assert scores.difficulty("dyn_unc", probs, torch.tensor([0]), J=3, W=2).item() == pytest.approx(want, rel=1e-5)
    with pytest.raises(DDLibError, match="at least 6 recorded epochs"):
        scores.el2n_window_std(probs, torch.tensor([0]), J=3, W=4)


def test_difficulty_registry_and_errors():
    assert set(scores.SCORES) == {"el2n", "forgetting", "aum", "learned_epoch", "dyn_unc"}
    p = hand_probs()
    for name in scores.SCORES:
        knobs = {"J": 3, "W": 2} if name == "dyn_unc" else {}
        d = scores.difficulty(name, p, Y, **knobs)
        assert d.shape == (4,) and d.dtype == torch.float32
    # higher = harder for every score: the never-learned sample is at least as hard as the always-right one
    for name in ("el2n", "forgetting", "aum", "learned_epoch"):
        d = scores.difficulty(name, p, Y)
        assert d[2] > d[3], name
    with pytest.raises(DDLibError, match="unknown score"):
        scores.difficulty("loss", p, Y)
    with pytest.raises(DDLibError, match="no knob 'epoch'"):
        scores.difficulty("aum", p, Y, epoch=1)
    with pytest.raises(DDLibError, match="needs the labels"):
        scores.difficulty("aum", p)
    with pytest.raises(DDLibError, match="probs"):
        scores.aum(p, Y[:3])


def _noisy_digits(n_flip=20, seed=0):
    x, y = data.on_device("digits", 20, 0)["train"]
    g = torch.Generator().manual_seed(seed)
    flipped = torch.randperm(len(y), generator=g)[:n_flip]
    noisy = y.clone()
    noisy[flipped] = (y[flipped] + 1 + torch.randint(9, (n_flip,), generator=g)) % 10   # always a wrong class
    return x, noisy, flipped


def _hardest_decile(d, seed=0):
    """The top N // 10 by difficulty, ties in a seeded random order (so a tie at the cut-off is not a free pass)."""
    perm = torch.randperm(len(d), generator=torch.Generator().manual_seed(seed))
    order = perm[torch.sort(d[perm], descending=True, stable=True).indices]
    return set(order[:len(d) // 10].tolist())


def test_scores_rank_planted_mislabeled_samples_hardest():
    x, noisy, flipped = _noisy_digits()
    # aug 'none': a horizontal flip does not preserve a digit's label
    dyn = scores.record_dynamics_on(x, noisy, model="convnet2-w16", epochs=8, batch=64, seed=0, num_classes=10,
                                    lr=0.05, aug="none")
    assert dyn.probs.dtype == torch.float16 and dyn.probs.shape == (8, len(x), 10)
    flipped = set(flipped.tolist())
    for name in ("el2n", "forgetting", "aum"):
        caught = len(_hardest_decile(dyn.difficulty(name)) & flipped)
        assert caught >= 15, f"{name} put only {caught} of 20 flipped labels in the hardest decile"


def test_recorder_records_at_epoch_ends_and_states_compute():
    x, y = data.on_device("digits", 20, 0)["train"]
    x, y = x[:200], y[:200]
    dyn = scores.record_dynamics_on(x, y, model="convnet1-w4", epochs=2.5, batch=64, seed=0, num_classes=10)
    # 2.5 epochs of 200 = 500 samples = 8 steps of 64; epoch ends at the first step with samples seen >= 200, 400
    assert dyn.samples.tolist() == [256, 448, 512]
    assert dyn.probs.shape == (3, 200, 10)
    assert torch.allclose(dyn.probs.float().sum(2), torch.ones(3, 200), atol=1e-2)
    assert dyn.meta["samples_seen"] == 512 and dyn.meta["forward_samples"] == 600
    assert torch.allclose(dyn.epochs, torch.tensor([1.28, 2.24, 2.56], dtype=torch.float64))


def test_record_dynamics_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DDLIB_CACHE", str(tmp_path))
    kw = dict(model="convnet1-w4", epochs=2, batch=128, seed=0, val_per_class=20)
    first = scores.record_dynamics("digits", **kw)
    folder = tmp_path / "scores" / first.meta["id"]
    assert (folder / "meta.json").exists() and (folder / "dynamics.safetensors").exists()
    assert first.meta["samples_seen"] > 0 and first.meta["forward_samples"] == 2 * len(first.y)
    assert torch.equal(first.y, data.load("digits", 20).y_train)

    def no_training(*a, **k):
        raise AssertionError("train.fit called: the cache was not used")
    monkeypatch.setattr(train, "fit", no_training)
    second = scores.record_dynamics("digits", **kw)
    assert torch.equal(first.probs, second.probs) and torch.equal(first.samples, second.samples)
    assert second.meta == first.meta
    with pytest.raises(AssertionError, match="cache was not used"):   # another seed is another run
        scores.record_dynamics("digits", **dict(kw, seed=1))
    with pytest.raises(DDLibError, match="exactly one of epochs and budget"):
        scores.record_dynamics("digits", **dict(kw, epochs=None))
