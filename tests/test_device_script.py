"""``scripts/device_evidence.sh``, the prepared GPU call [issue 13], on CPU with the tiny profile: stopped at its
deadline it still packs the records written so far, and a second call resumes from the carried store."""
from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from conftest import PYTHON, REPO, subprocess_env

SCRIPT = REPO / "scripts" / "device_evidence.sh"


def _call(root: Path, deadline: int) -> dict:
    env = subprocess_env(root / "cache", root / "results", OUT=root / "out", DDLIB_WORKERS=1,
                         PATH=f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(SCRIPT), str(REPO / "params" / "tiny.yaml"), str(deadline)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=deadline + 120)
    assert done.returncode == 0, done.stderr[-2000:]
    last = (root / "out" / "evidence.log").read_text().strip().splitlines()[-1]
    return dict(kv.split("=") for kv in last.split())


def test_a_stopped_call_packs_its_records_and_the_next_resumes(tmp_path):
    first = _call(tmp_path, 30)     # the tiny teacher first, then a few runs
    assert first["exit"] == "124" and int(first["records_after"]) > 0
    with tarfile.open(tmp_path / "out" / "runs.tgz") as tar:
        packed = [m.name for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(packed) == int(first["records_after"])
    second = _call(tmp_path, 5)
    assert second["records_before"] == first["records_after"]
