"""A stored run's subset indices kept beside the store (ddlib.picks) [issue 33]: read back only when they are the
run's, else picked again and replaced."""
import json

import pytest

from ddlib import picks, profile as prof, runner
from ddlib.store import read_json


@pytest.fixture
def herding(isolated):
    p = prof.load("tiny")
    cfg = prof.subset_run(p, "herding", ipc=2, **prof.arm("HL"), budget=p.budgets[0], seed=0)
    return cfg, p.store


def test_a_subset_is_kept_then_read_without_picking(herding, monkeypatch):
    cfg, store = herding
    first = picks.indices(cfg, store)
    path = picks.folder(store) / f"{cfg.key()}.json"
    assert read_json(path) == dict(key=cfg.key(), indices=first.tolist())
    monkeypatch.setattr(runner, "pick", lambda *a, **k: pytest.fail("picked again"))
    assert picks.indices(cfg, store).tolist() == first.tolist()


@pytest.mark.parametrize("tamper", [
    lambda r: dict(r, key="0" * 16),                        # another run's
    lambda r: dict(r, indices=r["indices"][:-1]),           # too few
    lambda r: dict(r, indices=[r["indices"][0]] * len(r["indices"])),   # repeated
    lambda r: dict(r, indices=[*r["indices"][:-1], 10**9]),   # out of range
    lambda r: dict(r, indices=[*r["indices"][:-1], 1.5]),     # not an index
    lambda r: dict(r, indices=list(range(len(r["indices"])))),  # distinct, in range, not IPC of each class
    lambda r: "not a record"])
def test_a_kept_subset_that_is_not_the_runs_is_picked_again_and_replaced(herding, tamper):
    cfg, store = herding
    good = picks.indices(cfg, store).tolist()
    path = picks.folder(store) / f"{cfg.key()}.json"
    path.write_text(json.dumps(tamper(read_json(path))))
    assert picks.indices(cfg, store).tolist() == good
    assert read_json(path)["indices"] == good


def test_without_a_store_the_subset_is_picked(herding):
    cfg, store = herding
    assert picks.indices(cfg).tolist() == runner.pick(cfg)["indices"].tolist()
    assert not picks.folder(store).exists()
