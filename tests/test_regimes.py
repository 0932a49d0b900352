"""The three label regimes as batch losses: HL = cross-entropy, SL = stored soft labels, SL+KD = teacher online."""
import math

import pytest
import torch
import torch.nn.functional as F

from ddlib import regimes
from ddlib.errors import DDLibError


def _logits(b=6, c=5, seed=0, scale=3.0):
    return torch.randn(b, c, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _kl_by_hand(student_logits, target, T):
    """KL(target || softmax(student / T)) * T^2, averaged over the batch, written out element by element."""
    total = 0.0
    for s_row, t_row in zip(student_logits.tolist(), target.tolist()):
        z = [v / T for v in s_row]
        m = max(z)
        log_norm = m + math.log(sum(math.exp(v - m) for v in z))
        q = [v - log_norm for v in z]                                 # log softmax(s / T)
        total += sum(t * (math.log(t) - lq) for t, lq in zip(t_row, q) if t > 0)
    return total / len(student_logits) * T ** 2


@pytest.mark.parametrize("T", [1.0, 4.0, 20.0])
def test_kd_loss_matches_a_hand_computation(T):
    s = _logits(seed=1)
    t = torch.softmax(_logits(seed=2), dim=1)
    got = regimes.kd_loss(s, t, T)
    assert got.item() == pytest.approx(_kl_by_hand(s, t, T), rel=1e-9, abs=1e-12)


def test_kd_loss_is_scaled_by_t_squared_and_positive():
    s, t = _logits(seed=3), torch.softmax(_logits(seed=4), dim=1)
    for T in (1.0, 2.0, 5.0):
        assert regimes.kd_loss(s, t, T).item() > 0
    # KL at T computed on logits s is the same as KL at 1 on s / T, times T^2
    T = 4.0
    assert regimes.kd_loss(s, t, T).item() == pytest.approx(regimes.kd_loss(s / T, t, 1.0).item() * T ** 2)


@pytest.mark.parametrize("T", [1.0, 4.0, 20.0])
def test_kd_loss_is_zero_when_student_matches_teacher(T):
    logits = _logits(seed=5)
    target = regimes.teacher_probs(lambda x: x, logits, T)          # softmax(teacher(x) / T) with teacher = id
    assert regimes.kd_loss(logits, target, T).item() == pytest.approx(0.0, abs=1e-10)
    assert regimes.kd_loss(logits + 1.0, target, T).item() == pytest.approx(0.0, abs=1e-10)  # shift-invariant


def test_teacher_probs_chunks_agree_with_one_pass():
    x = _logits(b=50, seed=6)
    one = regimes.teacher_probs(lambda z: 2 * z, x, 3.0)
    chunked = regimes.teacher_probs(lambda z: 2 * z, x, 3.0, chunk=7)
    assert torch.allclose(one, chunked) and torch.allclose(one, torch.softmax(2 * x / 3.0, 1))


class Boom(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("this regime must not call the teacher")


def test_hl_batch_loss_is_cross_entropy_on_the_batch_labels():
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    idx = torch.tensor([7, 2, 2, 5])
    logits = _logits(b=4, seed=7)
    loss = regimes.batch_loss("hl", logits, idx, torch.zeros(4, 1, 2, 2), y, None, Boom(), 4.0)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, y[idx]).item())
    by_hand = -sum(torch.log_softmax(logits, 1)[i, int(y[j])].item() for i, j in enumerate(idx)) / 4
    assert loss.item() == pytest.approx(by_hand)


def test_sl_uses_the_stored_soft_labels_of_the_batch_indices():
    n, c, T = 10, 5, 4.0
    soft = torch.softmax(_logits(b=n, c=c, seed=8), 1)
    idx = torch.tensor([9, 0, 3, 3])
    logits = _logits(b=4, c=c, seed=9)
    loss = regimes.batch_loss("sl", logits, idx, torch.zeros(4, 1, 2, 2), torch.zeros(n, dtype=torch.long),
                              soft, Boom(), T)
    assert loss.item() == pytest.approx(_kl_by_hand(logits, soft[idx], T))
    other = regimes.batch_loss("sl", logits, torch.tensor([1, 2, 4, 5]), None, None, soft, None, T)
    assert other.item() != pytest.approx(loss.item())          # the indices matter


class RecordingTeacher(torch.nn.Module):
    """A stub teacher: logits are a fixed linear map of the input; records every batch it is shown."""

    def __init__(self, c=5):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, c, generator=torch.Generator().manual_seed(10),
                                                dtype=torch.float64), requires_grad=False)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x.flatten(1) @ self.w


def test_slkd_calls_the_teacher_on_the_augmented_batch_it_is_given():
    T = 4.0
    teacher = RecordingTeacher()
    x_aug = _logits(b=4, c=4, seed=11).view(4, 1, 2, 2)
    idx = torch.tensor([0, 1, 2, 3])
    logits = _logits(b=4, seed=12)
    stored = torch.full((4, 5), 0.2, dtype=torch.float64)          # must be ignored by SL+KD
    loss = regimes.batch_loss("slkd", logits, idx, x_aug, torch.zeros(4, dtype=torch.long), stored, teacher, T)
    assert len(teacher.seen) == 1 and torch.equal(teacher.seen[0], x_aug)
    target = torch.softmax((x_aug.flatten(1) @ teacher.w) / T, 1)
    assert loss.item() == pytest.approx(_kl_by_hand(logits, target, T))
    assert loss.item() != pytest.approx(regimes.kd_loss(logits, stored, T).item())


def test_teacher_targets_are_not_differentiated():
    teacher = RecordingTeacher()
    x = _logits(b=4, c=4, seed=13).view(4, 1, 2, 2).requires_grad_(True)
    p = regimes.teacher_probs(teacher, x, 2.0)
    assert not p.requires_grad


def test_regime_names_and_arms():
    assert regimes.check("slkd") == "slkd"
    with pytest.raises(DDLibError, match="unknown regime 'kd'; valid: hl, sl, slkd"):
        regimes.check("kd")
    assert regimes.arm_name("hl", "auto") == "HL" and regimes.arm_name("hl", "sgd") == "HL"
    assert regimes.arm_name("hl", "adamw") == "HL (AdamW)"
    assert regimes.arm_name("sl", "auto") == "SL" and regimes.arm_name("slkd", "sgd") == "SL+KD"   # one recipe
    assert regimes.arm_name("slkd", "adamw") == "SL+KD (adamw)"


class _CountingTeacher(torch.nn.Module):
    """Logits = a fixed linear map of the mean pixel; counts the images it labels."""

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.w = torch.linspace(-1, 1, 10)

    def forward(self, x):
        self.seen += len(x)
        return x.mean(dim=(1, 2, 3)).unsqueeze(1) * self.w


def test_view_bank_stores_k_labelled_views_per_image():
    from ddlib import augment
    x = torch.randn(12, 1, 8, 8)
    teacher = _CountingTeacher()
    bank = regimes.view_bank(teacher, x, k=3, aug=augment.get("dsa"), temperature=2.0, seed=0)
    assert bank.x.shape == (3, 12, 1, 8, 8) and bank.probs.shape == (3, 12, 10)
    assert teacher.seen == 3 * 12                       # k x n teacher forward passes, once
    assert not torch.equal(bank.x[0], bank.x[1])        # different augmented views
    for v in range(3):                                   # each stored label is the teacher's label of its view
        assert torch.allclose(bank.probs[v], regimes.teacher_probs(teacher, bank.x[v], 2.0))
    again = regimes.view_bank(_CountingTeacher(), x, k=3, aug=augment.get("dsa"), temperature=2.0, seed=0)
    assert torch.equal(again.x, bank.x)                 # seeded


def test_view_bank_draw_returns_stored_pairs_of_the_indices():
    x = torch.arange(2 * 5, dtype=torch.float32).view(2, 5, 1, 1, 1)   # view v of image i holds 5v + i
    probs = torch.nn.functional.one_hot(torch.arange(10).view(2, 5), 10).float()
    bank = regimes.ViewBank(x, probs)
    idx = torch.tensor([4, 0, 2, 2])
    xb, pb = bank.draw(idx, torch.Generator().manual_seed(0))
    v = (xb.flatten() - idx) / 5
    assert set(v.tolist()) <= {0.0, 1.0}
    assert torch.equal(pb.argmax(1), xb.flatten().long())  # the label travels with its view


def test_label_views_only_with_sl():
    from ddlib.config import RunConfig
    with pytest.raises(DDLibError, match="label_views"):
        RunConfig(dataset="digits", regime="hl", label_views=4, val_per_class=20).validate()
    assert "label_views" not in RunConfig(dataset="digits", regime="sl").key_fields()  # old keys unchanged
    assert RunConfig(regime="sl", label_views=4).key() != RunConfig(regime="sl").key()


@pytest.mark.parametrize("regime, views, set_labels, reads, forwards", [
    ("hl", 0, False, False, 0),
    ("hl", 0, True, False, 0),
    ("sl", 0, False, True, 10),        # one label per image, from the un-augmented image
    ("sl", 3, False, True, 30),        # k labelled views per image
    ("sl", 0, True, False, 0),         # the set's own labels: no teacher
    ("sl", 3, True, True, 30),         # k views ask the teacher even when the set brings labels
    ("slkd", 0, False, True, 640),     # one forward per sample seen
    ("slkd", 0, True, True, 640),
])
def test_a_label_source_says_whether_it_reads_the_teacher_and_what_it_costs(regime, views, set_labels, reads,
                                                                           forwards):
    src = regimes.LabelSource(regime, views, set_labels)
    assert src.reads_teacher is reads
    assert src.teacher_forwards(images=10, samples_seen=640) == forwards


def test_a_label_source_makes_sls_targets_once_and_none_for_the_others():
    x, T = _logits(b=4, c=5, seed=11), 2.0
    own = torch.softmax(_logits(b=4, c=5, seed=12), 1)

    def logits():
        return 3 * x

    def no_aug(batch, g):
        return batch
    for regime in ("hl", "slkd"):
        assert regimes.LabelSource(regime).stored_targets(Boom(), x, logits, no_aug, T, 0) is None
    assert torch.allclose(regimes.LabelSource("sl").stored_targets(Boom(), x, logits, no_aug, T, 0),
                          torch.softmax(3 * x / T, 1))
    assert regimes.LabelSource("sl", set_labels=True).stored_targets(Boom(), x, logits, no_aug, T, 0, own) is own
    bank = regimes.LabelSource("sl", 2, True).stored_targets(lambda z: 3 * z, x, logits, no_aug, T, 0, own)
    assert isinstance(bank, regimes.ViewBank) and bank.k == 2
    assert torch.allclose(bank.probs[0], torch.softmax(3 * x / T, 1))
