"""``scripts/device_evidence.sh``, the prepared GPU call [issue 13], on CPU with the tiny profile: a finished call
packs every record (and its plan, `python -m ddlib plan`, counts every planned run as stored), one stopped at its
deadline packs those written so far, and the next resumes from the store. A teacher under its floor stops
``evidence`` before any student run [issue 35]."""
from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import PYTHON, REPO, subprocess_env

SCRIPT = REPO / "scripts" / "device_evidence.sh"


def _call(root: Path, deadline: int) -> dict:
    env = subprocess_env(root / "cache", root / "results", OUT=root / "out", DDLIB_WORKERS=1,
                         PATH=f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(SCRIPT), "tiny", str(deadline)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=deadline + 120)
    assert done.returncode == 0, done.stderr[-2000:]
    last = (root / "out" / "evidence.log").read_text().strip().splitlines()[-1]
    return dict(kv.split("=") for kv in last.split())


def _packed(root: Path) -> list[str]:
    with tarfile.open(root / "out" / "runs.tgz") as tar:
        return sorted(m.name for m in tar.getmembers() if m.name.endswith(".json"))


def test_a_stopped_call_packs_its_records_and_the_next_resumes(tmp_path):
    done = _call(tmp_path, 300)     # the whole tiny sweep: about 30 s on 2 cores
    assert done["exit"] == "0" and int(done["records_after"]) > 0
    packed = _packed(tmp_path)
    assert len(packed) == int(done["records_after"])
    everything = next(line for line in (tmp_path / "out" / "plan.md").read_text().splitlines()
                      if line.startswith("| all |")).split("|")
    assert everything[2] == everything[3] and int(everything[2]) <= len(packed)   # every planned run is stored
    kept = packed[:5]               # as if an earlier call had stopped after five runs
    for name in packed[5:]:
        next((tmp_path / "results").rglob(Path(name).name)).unlink()
    stopped = _call(tmp_path, 2)    # the cached teacher is read back; the deadline stops the runs
    assert stopped["exit"] == "124" and stopped["records_before"] == str(len(kept))
    assert len(_packed(tmp_path)) == int(stopped["records_after"]) < len(packed)
    resumed = _call(tmp_path, 300)
    assert resumed["records_before"] == stopped["records_after"]
    assert resumed["exit"] == "0" and _packed(tmp_path) == packed


def test_a_teacher_under_its_floor_stops_evidence_before_any_student_run(tmp_path, monkeypatch, fresh_caches):
    """[issue 35] The floor, where it comes from and the measured accuracy, in one line; no record is written."""
    from ddlib import profile as prof
    from ddlib.errors import DDLibError
    from ddlib.findings import evidence
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path))
    params = dict(prof.read_yaml(REPO / "params" / "tiny.yaml"), teacher_epochs=1.0, teacher_floor=0.99)
    with pytest.raises(DDLibError, match=r"validation accuracy 0\.\d{3}, under the floor 0\.990 \(teacher_floor in "
                                         r"params/weak\.yaml\); no student run was started"):
        next(evidence(params, ["saturation"], origin="params/weak.yaml"))
    assert not list(tmp_path.rglob("*.json"))
