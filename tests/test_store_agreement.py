"""``benchmarks/store_agreement.py``: a store filled again is compared with the committed one key by key, and a
record whose numbers moved is counted with its largest difference."""
from __future__ import annotations

import json
import subprocess

from conftest import PYTHON, REPO, subprocess_env


def write_store(folder, records):
    (folder / "runs").mkdir(parents=True)
    for key, acc in records.items():
        (folder / "runs" / f"{key}.json").write_text(json.dumps({"key": key, "test_acc": acc, "val_acc": acc}))


def test_the_table_counts_shared_keys_and_the_records_that_moved(tmp_path):
    write_store(tmp_path / "results" / "quick", {"a": 50.0, "b": 60.0, "c": 70.0})
    write_store(tmp_path / "other", {"a": 50.0, "b": 60.25, "d": 10.0})
    out = subprocess.run([PYTHON, str(REPO / "benchmarks" / "store_agreement.py"), "--other", str(tmp_path / "other")],
                         cwd=REPO, env=subprocess_env(tmp_path / "cache", tmp_path / "results"), check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "2 keys in both, 1 only in the committed store, 1 only in the other" in out
    assert "| test_acc | 0.25 | 1 of 2 |" in out and "| final_loss | 0 | 0 of 2 |" in out
