"""``scripts/device_evidence.sh``, the prepared GPU call [issues 13, 35], rehearsed on CPU as the device runs it: an
interpreter with the dependencies' site-packages and no editable ddlib install (``python -S``, the site-packages on
PYTHONPATH), the tiny profile, a deadline for the whole call. A call packs its records, the inputs they read and
their checksums into $OUT within its deadline; the next call, given that $OUT, restores the teacher instead of
training it again, and ignores a pack whose checksum does not match. A teacher under its floor stops ``evidence``
before any student run."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
import tarfile
from pathlib import Path

import pytest

from conftest import PYTHON, REPO, subprocess_env

SCRIPT = REPO / "scripts" / "device_evidence.sh"


def _bare_interpreter(root: Path) -> dict:
    """A ``python3`` like the device's: the dependencies importable, ddlib only where PYTHONPATH puts it (no site,
    so the venv's editable-install finder is never loaded); the variables that make it so."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{PYTHON}" -S "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    return dict(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=sysconfig.get_paths()["purelib"])


def _call(root: Path, bare: dict, deadline: int, **env) -> dict:
    """One call (its own cache, results and $OUT under ``root``); its log's last line, as a dict, and the log."""
    env = subprocess_env(root / "cache", root / "results", OUT=root / "out", DDLIB_WORKERS=1, **bare, **env)
    done = subprocess.run(["bash", str(SCRIPT), "tiny", str(deadline)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=deadline + 120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = (root / "out" / "evidence.log").read_text()
    return dict(kv.split("=") for kv in log.strip().splitlines()[-1].split()) | {"log": log}


def _members(pack: Path) -> list[str]:
    with tarfile.open(pack) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def _teacher(cache: Path) -> Path:
    return next((cache / "teachers").glob("*/meta.json"))


def test_a_device_call_packs_its_caches_and_the_next_restores_them(tmp_path):
    bare = _bare_interpreter(tmp_path)
    found = subprocess.run(["python3", "-c", "import importlib.util; print(importlib.util.find_spec('ddlib'))"],
                           cwd=tmp_path, env=dict(os.environ, **bare), capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "None"       # no editable install: the script's PYTHONPATH alone finds ddlib
    first = _call(tmp_path / "a", bare, 300)
    out = tmp_path / "a" / "out"
    assert f"ddlib {REPO / 'ddlib'} profile tiny" in first["log"].splitlines()[0]
    assert first["exit"] in ("0", "124") and int(first["wall_s"]) <= 300 + 5
    assert int(first["records_after"]) > 0
    assert len([n for n in _members(out / "runs.tgz") if n.endswith(".json")]) == int(first["records_after"])
    teacher = _teacher(tmp_path / "a" / "cache")
    assert f"./teachers/{teacher.parent.name}/meta.json" in _members(out / "artefacts.tgz")
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out, check=True)
    assert "| bare step, fp32 |" in (out / "cuda_speedups.md").read_text()     # the benchmark's rows, on CPU
    if first["exit"] == "0":    # the whole sweep: the plan counts every planned run as stored
        everything = next(line for line in (out / "plan.md").read_text().splitlines()
                          if line.startswith("| all |")).split("|")
        assert everything[2] == everything[3]

    carried = tmp_path / "carried"             # the first call's $OUT, its store's pack damaged on the way
    carried.mkdir()
    for name in ("runs.tgz", "artefacts.tgz", "SHA256SUMS"):
        (carried / name).write_bytes((out / name).read_bytes())
    damaged = bytearray((carried / "runs.tgz").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (carried / "runs.tgz").write_bytes(bytes(damaged))
    second = _call(tmp_path / "b", bare, 90, CARRY=carried)
    assert f"carry: {carried}/runs.tgz does not match its checksum in SHA256SUMS; ignored" in second["log"]
    assert second["records_before"] == "0" and re.search(r"restored [1-9]\d* artefacts into the cache", second["log"])
    assert _teacher(tmp_path / "b" / "cache").read_bytes() == teacher.read_bytes()   # restored, not retrained
    assert int(second["wall_s"]) <= 90 + 5
    for record in (tmp_path / "b" / "results" / "tiny" / "runs").glob("*.json"):
        assert json.loads(record.read_text()).get("teacher_id") in (None, teacher.parent.name)


def test_a_teacher_under_its_floor_stops_evidence_before_any_student_run(tmp_path, monkeypatch, fresh_caches):
    """[issue 35] The floor, where it comes from and the measured accuracy, in one line; no record is written."""
    from ddlib import profile as prof
    from ddlib.errors import DDLibError
    from ddlib.findings import evidence
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path))
    params = dict(prof.read_yaml("tiny"), teacher_epochs=1.0, teacher_floor=0.99)
    with pytest.raises(DDLibError, match=r"validation accuracy 0\.\d{3}, under the floor 0\.990 \(teacher_floor in "
                                         r"params/weak\.yaml\); no student run was started"):
        next(evidence(params, ["saturation"], origin="params/weak.yaml"))
    assert not list(tmp_path.rglob("*.json"))


def test_the_first_gpu_calls_runs_are_paper_runs():
    """[issue 35] The gpu-first profile trims the paper profile's saturation grid: each of its runs (and of the
    choice on validation they read) has a paper-profile run's key, so its records join results/paper/runs."""
    from ddlib import profile as prof
    from ddlib.findings import FINDINGS
    saturation = FINDINGS["saturation"]

    def keys(p):
        return {c.key() for c in [*saturation.tune_configs(p), *saturation.configs(p, 4.0)]}
    first, paper = (prof.load(name) for name in ("gpu-first", "paper"))
    assert keys(first) < keys(paper) and first.teacher_floor == paper.teacher_floor
