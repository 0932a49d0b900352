"""Budgets in samples seen: the same number of steps for every subset size."""
import math

import pytest

from ddlib.budget import Budget
from ddlib.errors import DDLibError


@pytest.mark.parametrize("samples,batch,steps", [(640, 32, 20), (641, 32, 21), (1, 256, 1), (20_000, 256, 79),
                                                 (256, 256, 1), (257, 256, 2)])
def test_steps_is_ceil_of_budget_over_batch(samples, batch, steps):
    b = Budget(samples, batch)
    assert b.steps == steps == math.ceil(samples / batch)
    assert b.samples_seen == steps * batch       # whole batches
    assert b.samples_seen >= samples and b.samples_seen - samples < batch


def test_same_steps_for_a_tiny_subset_and_the_full_set():
    b = Budget(12_800, 32)
    # the number of steps does not depend on the subset; only the epochs it buys do
    assert b.steps == 400
    assert b.epochs(10) == pytest.approx(1280.0)
    assert b.epochs(55_000) == pytest.approx(12_800 / 55_000)
    assert b.epochs(10) / b.epochs(55_000) == pytest.approx(5_500)


def test_epochs_uses_samples_actually_seen():
    b = Budget(100, 32)            # 4 steps of 32 = 128 samples seen
    assert b.epochs(64) == 2.0
    assert b.epochs(128) == 1.0


def test_from_epochs():
    b = Budget.from_epochs(3, 1000, 128)
    assert (b.samples, b.batch) == (3000, 128)
    assert b.steps == 24 and b.epochs(1000) == pytest.approx(24 * 128 / 1000)
    assert Budget.from_epochs(2.5, 12, 4).samples == 30
    assert Budget.from_epochs(0.001, 10, 4).samples == 1          # never a zero budget


@pytest.mark.parametrize("samples", [0, -1, -640, 640.0, 1.5, "640", None])
def test_bad_budget_is_a_one_line_ddliberror(samples):
    with pytest.raises(DDLibError, match="budget must be a positive number of samples seen") as e:
        Budget(samples, 32)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("batch", [0, -32, 32.0])
def test_bad_batch_is_a_ddliberror(batch):
    with pytest.raises(DDLibError, match="batch size"):
        Budget(640, batch)


def test_bool_is_not_a_budget():
    # bool is an int subclass; ddlib rejects it as an IPC (data.per_class_indices, RunConfig.validate), and a
    # YAML 'budgets: [yes]' would otherwise silently train for one step.
    with pytest.raises(DDLibError):
        Budget(True, 32)
