"""Hostile and careless input, as the hardening issue lists it: every bad parameter, flag or file is one line on
stderr and exit 2 before any compute, with nothing written; a corrupt cache is reported in one line and remade;
a killed sweep leaves no worker behind; text from a user's file cannot add active content to report.html."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors.torch import save_file

from ddlib import audit, cli, paths, profile as prof, records, runner, sweeps, teacher as teachers
from ddlib.errors import DDLibError
from ddlib.config import RunConfig
from ddlib.records import cached_run

from conftest import DIGITS, PYTHON, REPO, TINY_TEACHER, clear_ddlib_caches, subprocess_env

TINY = "tiny"


def _yaml(tmp, name, text):
    (tmp / name).write_bytes(text) if isinstance(text, bytes) else (tmp / name).write_text(text)
    return str(tmp / name)


def _npz(tmp, name, labels):
    np.savez(tmp / name, images=np.random.rand(20, 1, 8, 8).astype("float32"), labels=labels)
    return str(tmp / name)


def _header(tmp, meta, images=None):
    save_file({"images": torch.rand(20, 1, 8, 8) if images is None else images, "labels": torch.arange(20) % 10},
              tmp / "h.safetensors", metadata={"ddlib": meta if isinstance(meta, str) else json.dumps(meta)})
    return str(tmp / "h.safetensors")


def _npz_claiming(tmp, rows):
    """An npz whose images.npy header claims ``rows`` images of 1x8x8 float32 and holds 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 1, 8, 8)})
    labels = io.BytesIO()
    np.save(labels, np.arange(20) % 10)
    with zipfile.ZipFile(tmp / "claim.npz", "w") as z:
        z.writestr("images.npy", header.getvalue() + bytes(64))
        z.writestr("labels.npy", labels.getvalue())
    return str(tmp / "claim.npz")


def _npz_unpacking(tmp):
    """An npz whose zip directory says its stored images member unpacks to 2 GiB."""
    path = Path(_npz_claiming(tmp, 1))
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")                      # the first central directory entry: images.npy
    raw[entry + 24:entry + 28] = (2 ** 31).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return str(path)


def _safetensors_claiming(tmp, rows):
    header = json.dumps({"images": {"dtype": "F32", "shape": [rows, 1, 8, 8], "data_offsets": [0, 256]},
                         "labels": {"dtype": "I64", "shape": [2], "data_offsets": [256, 272]}}).encode()
    (tmp / "claim.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(272))
    return str(tmp / "claim.safetensors")


TRAIN = ["train", "--params", TINY, "--ipc", "2"]
AUDIT = ["audit", "--dataset", "digits", "--params", TINY]
CASES = {
    "params a list": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "l.yaml", "- 1\n- 2\n")], "a mapping"),
    "params a scalar": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "s.yaml", "3\n")], "a mapping"),
    "params not YAML": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "b.yaml", "a: [1\n")], "not valid YAML"),
    "params a key twice": (lambda t: ["sweep", "saturation", "--params",
                                      _yaml(t, "d.yaml", "seeds: [0]\nseeds: [1]\n")],
                           "the key 'seeds' is given twice"),
    "params nested 5,000 deep": (lambda t: ["sweep", "saturation", "--params",
                                            _yaml(t, "n.yaml", "seeds: " + "[" * 5000 + "]" * 5000 + "\n")],
                                 "nests deeper than 16 levels"),
    "params an alias": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "a.yaml", "seeds: &s [0]\nipcs: *s\n")],
                        "uses an alias"),
    "params binary": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "b.yaml", b"\xff\xfe\x00seeds")],
                      "is not UTF-8 text"),
    "params of 2 MB": (lambda t: ["sweep", "saturation", "--params", _yaml(t, "big.yaml", "# " + "x" * (2 << 20))],
                       "is over 1,048,576 characters"),
    "-p seeds nested 100,000 deep": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds",
                                                "[" * 100_000 + "]" * 100_000], "nests deeper than 16 levels"),
    "--knob a key twice": (lambda t: [*TRAIN, "--select", "cad", "--knob", "which={a: 1, a: 2}"], "given twice"),
    "-p seeds [0": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds", "[0"], "not valid YAML"),
    "-p seeds 3": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds", "3"], "seeds must be list"),
    "-p seeds []": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds", "[]"], "seeds takes 1 to"),
    "-p seeds [0.5]": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds", "[0.5]"], "seeds takes"),
    "-p seeds [-1]": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "seeds", "[-1]"], "seeds takes"),
    "-p budgets []": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "budgets", "[]"], "budgets takes"),
    "-p temperatures abc": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "temperatures", "abc"],
                            "temperatures must be list"),
    "-p arms [nope]": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "arms", "[nope]"], "unknown arm"),
    "-p profile ../../x": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "profile", "../../x"],
                           "names a folder"),
    "audit budgets: 1600": (lambda t: ["audit", "x.npz", "--params", _yaml(t, "a.yaml", "budgets: 1600\n")],
                            "budgets must be list"),
    "audit temperatures: 4": (lambda t: ["audit", "x.npz", "--params", _yaml(t, "a.yaml", "temperatures: 4\n")],
                              "temperatures must be list"),
    "audit seeds: 3": (lambda t: ["audit", "x.npz", "--params", _yaml(t, "a.yaml", "seeds: 3\n")], "seeds must be"),
    "audit device: 7": (lambda t: ["audit", "x.npz", "--params", _yaml(t, "a.yaml", "device: 7\n")], "device must"),
    "audit val_per_class: x": (lambda t: ["audit", "x.npz", "--params", _yaml(t, "a.yaml", "val_per_class: x\n")],
                               "val_per_class must be int"),
    "audit --seeds 100000000": (lambda t: [*AUDIT, _header(t, {}), "--seeds", "100000000"], "seeds takes how many"),
    "--knob which=[x": (lambda t: [*TRAIN, "--select", "cad", "--knob", "which=[x"], "not valid YAML"),
    "--knob probe=abc": (lambda t: [*TRAIN, "--select", "cad", "--knob", "probe=abc"], "takes a whole number"),
    "--knob which=nope": (lambda t: [*TRAIN, "--select", "el2n", "--knob", "which=nope"], "knob which 'nope'"),
    "--distill-knob iterations=abc": (lambda t: [*TRAIN, "--distill", "dm", "--distill-knob", "iterations=abc"],
                                      "takes a whole number"),
    "--teacher-epochs nan": (lambda t: [*TRAIN, "--regime", "slkd", "--teacher-epochs", "nan"], "teacher_epochs"),
    "--teacher-epochs -3": (lambda t: [*TRAIN, "--regime", "slkd", "--teacher-epochs", "-3"], "teacher_epochs"),
    "--seed 1e23": (lambda t: [*TRAIN, "--seed", "99999999999999999999999"], "seed must be an integer in"),
    "--device mps": (lambda t: [*TRAIN, "--device", "mps"], "no MPS device"),
    "--temperature inf": (lambda t: [*TRAIN, "--regime", "slkd", "--temperature", "inf"], "a number in (0, 100]"),
    "--temperature 1e308": (lambda t: [*TRAIN, "--regime", "slkd", "--temperature", "1e308"], "a number in (0, 100]"),
    "-p temperatures [1000]": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "temperatures", "[1000]"],
                               "temperatures takes a number in [1e-06, 100]"),
    "audit --temperature 1e308": (lambda t: [*AUDIT, _header(t, {}), "--temperature", "1e308"], "a number in (0, 100]"),
    "--budget 10^23": (lambda t: [*TRAIN, "--budget", str(10 ** 23)], "budget must be at most 1,000,000,000"),
    "-p budgets [10^10]": (lambda t: ["sweep", "saturation", "--params", TINY, "-p", "budgets", "[10000000000]"],
                           "budgets takes an integer in [1, 1,000,000,000]"),
    "audit --budget 10^10": (lambda t: [*AUDIT, _header(t, {}), "--budget", str(10 ** 10)], "at most 1,000,000,000"),
    "--teacher-epochs 10^6": (lambda t: [*TRAIN, "--regime", "slkd", "--teacher-epochs", "1e6"],
                              "the teacher's 1e+06 epochs over 1,097 images are over 1,000,000,000"),
    "npz of zero bytes": (lambda t: [*AUDIT, _yaml(t, "z.npz", "")], "not a readable npz"),
    "npz string labels": (lambda t: [*AUDIT, _npz(t, "s.npz", np.array(["a"] * 20))], "not numbers"),
    "npz structured labels": (lambda t: [*AUDIT, _npz(t, "r.npz", np.zeros(20, dtype=[("a", "i4")]))], "not numbers"),
    "header dataset a list": (lambda t: [*AUDIT, _header(t, {"dataset": ["digits"]})], "header field 'dataset'"),
    "header method not text": (lambda t: [*AUDIT, _header(t, {"method": {"x": 1}})], "header field 'method'"),
    "header nested 100,000 deep": (lambda t: [*AUDIT, _header(t, "[" * 100_000 + "]" * 100_000)],
                                   "nested too deeply to read"),
    "header ipc -3": (lambda t: [*AUDIT, _header(t, {"ipc": -3})], "header field 'ipc' must be at least 1, got -3"),
    "header seed -1": (lambda t: [*AUDIT, _header(t, {"seed": -1})], "header field 'seed' must be at least 0"),
    "unclipped set near 1e30": (lambda t: [*AUDIT, _header(t, {"pixels": "unclipped"}, torch.full((20, 1, 8, 8),
                                                                                               1e30))],
                                "an unclipped set's pixel values must lie in [-100, 100]"),
    "npz claiming 10^11 rows": (lambda t: [*AUDIT, _npz_claiming(t, 10 ** 11)],
                                "array 'images' claims shape (100000000000, 1, 8, 8)"),
    "npz unpacking to 2 GiB": (lambda t: [*AUDIT, _npz_unpacking(t)], "claims 2,147,483,648 bytes from"),
    "safetensors claiming 10^11 rows": (lambda t: [*AUDIT, _safetensors_claiming(t, 10 ** 11)],
                                        "not a readable safetensors file"),
    "--distill with --select": (lambda t: [*TRAIN, "--distill", "dm", "--select", "herding"], "give one or the other"),
    "--distill with --knob": (lambda t: [*TRAIN, "--distill", "dm", "--knob", "which=easiest"],
                              "give one or the other"),
    "distill --out a folder": (lambda t: ["distill", "--method", "dm", "--params", TINY, "--ipc", "1", "--out",
                                          str(t)], "a folder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, isolated, capsys, monkeypatch):
    monkeypatch.chdir(isolated["tmp"])
    argv, needle = CASES[case]
    argv = argv(isolated["tmp"])
    before = set(isolated["tmp"].rglob("*"))
    rc = cli.main(argv)
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], cap.err
    assert "Traceback" not in cap.err and cap.out == ""
    assert not isolated["cache"].exists() and not isolated["results"].exists()
    assert set(isolated["tmp"].rglob("*")) == before                       # nothing written anywhere


# --- a property: random parameter files and flags never end in a traceback, and never write before compute ------

class Computes(Exception):
    """Raised where the CLI would start to compute: validation passed."""


_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() |
                       st.text(max_size=12), lambda inner: st.lists(inner, max_size=4) |
                       st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_NAMES = st.sampled_from(sorted(f.name for f in prof.Profile.__dataclass_fields__.values())) | st.text(max_size=8)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(_NAMES, _VALUES, max_size=4))
def test_any_parameter_file_is_accepted_or_refused_in_one_line(given_params):
    try:
        prof.Profile.from_dict(given_params).check()
    except DDLibError as e:
        assert "\n" not in str(e)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(flag=st.sampled_from(["--seed", "--budget", "--temperature", "--teacher-epochs", "--teacher-floor",
                             "--ipc", "--knob", "--distill-knob", "--batch", "--val-per-class", "--device",
                             "--regime", "--select", "--model", "--label-views"]),
       value=st.one_of(st.text(max_size=10), st.integers(-10 ** 30, 10 ** 30).map(str),
                       st.floats().map(str), st.sampled_from(["which=easiest", "probe=-1", "J=0", "x=1", "nan"])))
def test_any_train_flag_is_accepted_or_refused_in_one_line(flag, value, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flags")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDLIB_CACHE", str(tmp / "cache"))
        mp.setenv("DDLIB_RESULTS", str(tmp / "results"))
        for module, name in ((records, "cached_run"), (runner, "run")):   # the CLI imports them when it runs
            mp.setattr(module, name, lambda *a, **k: (_ for _ in ()).throw(Computes()))
        mp.setattr(prof, "tune_temperature", lambda *a, **k: (_ for _ in ()).throw(Computes()))
        select = ["--select", "cad"] if flag == "--knob" else []
        try:
            rc = cli.main(["train", "--params", TINY, *select, flag, value])
        except Computes:
            rc = 0
        except SystemExit as e:             # argparse's own one-line usage error
            rc = e.code
        assert rc in (0, 2)
    assert not (tmp / "cache").exists() and not (tmp / "results").exists()


# --- a corrupt cache is said in one line and remade ---------------------------------------------------------------

TEACHER = teachers.TeacherConfig(**TINY_TEACHER)
CFG = RunConfig(**DIGITS, ipc=2, budget=64, regime="slkd", teacher=TEACHER)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _teacher_file(cache, name):
    """A file of the run's teacher, with the run's own record removed (so the run reads its teacher again)."""
    (cache / "runs" / f"{CFG.key()}.json").unlink()
    return cache / "teachers" / TEACHER.key(DIGITS["dataset"], DIGITS["val_per_class"], 0) / name


CORRUPT = {
    "teacher meta.json truncated": (lambda c: _truncate(_teacher_file(c, "meta.json")), "corrupt cache record"),
    "teacher weights truncated": (lambda c: _truncate(_teacher_file(c, "model.safetensors")),
                                  "corrupt cache folder"),
    "run record not UTF-8": (lambda c: (c / "runs" / f"{CFG.key()}.json").write_bytes(b"\xff\xfe{"),
                             "corrupt cache record"),
    "run record {}": (lambda c: (c / "runs" / f"{CFG.key()}.json").write_text("{}"), "corrupt run record"),
    "run record nested 100,000 deep": (lambda c: (c / "runs" / f"{CFG.key()}.json").write_text(
        '{"key": ' + "[" * 100_000 + "]" * 100_000 + "}"), "(nested too deeply)"),
    "run record of 20 MB": (lambda c: (c / "runs" / f"{CFG.key()}.json").write_text(
        '{"key": "' + "x" * (20 << 20) + '"}'), "(over 16,777,216 bytes)"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_cache_is_reported_and_recomputed(case, isolated, capfd):
    first = cached_run(CFG)
    clear_ddlib_caches()
    damage, needle = CORRUPT[case]
    damage(isolated["cache"])
    capfd.readouterr()
    again = cached_run(CFG)
    err = capfd.readouterr().err
    assert needle in err and len([line for line in err.splitlines() if "ddlib:" in line]) == 1, err
    assert again["cache_hit"] is False and again["test_acc"] == first["test_acc"]   # the same numbers, remade
    clear_ddlib_caches()
    assert cached_run(CFG)["cache_hit"] is True                                    # and cached whole again


def test_a_truncated_set_or_record_is_remade(isolated, capfd):
    cfg = RunConfig(**DIGITS, ipc=1, budget=64, distill="dm", distill_knobs=(("iterations", 2),))
    cfg.synset()
    folder = next((isolated["cache"] / "synsets").iterdir())
    for name, needle in (("meta.json", "corrupt cache record"), ("set.safetensors.json", "corrupt cache folder"),
                         ("set.safetensors", "corrupt cache folder")):
        _truncate(folder / name)
        capfd.readouterr()
        assert cfg.synset().meta.get("cache_hit") is not True                   # remade
        assert needle in capfd.readouterr().err
        assert cfg.synset().meta.get("cache_hit") is True


# --- workers die with their parent --------------------------------------------------------------------------------

def _children(pid: int) -> set:
    out = set()
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open(f"/proc/{stat}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(stat))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("inf")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_no_worker_outlives_a_killed_sweep(tmp_path):
    env = subprocess_env(tmp_path / "cache", tmp_path / "results", DDLIB_WORKERS=2)
    proc = subprocess.Popen([PYTHON, "-m", "ddlib", "sweep", "saturation", "--params", TINY, "-p", "budgets",
                             "[400000]", "-p", "temperatures", "[4.0]"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        workers = set()
        while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = {c for c in _children(proc.pid) if "spawn_main" in open(f"/proc/{c}/cmdline").read()}
            time.sleep(0.5)
        assert len(workers) >= 2, "the sweep started no worker pool"
        while time.time() < deadline and min(map(_cpu_seconds, workers)) < 3:
            time.sleep(0.5)                             # until every worker is training, not still importing
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(5)
        left = [w for w in workers if _alive(w)]
        assert not left, f"workers {left} still running 5 s after their parent was killed"
    finally:
        if proc.poll() is None:
            proc.kill()


# --- a file's header is untrusted ----------------------------------------------------------------------------------

def test_hostile_header_fields_are_refused_before_the_report(tmp_path):
    for meta in ({"method": ["<script>"]}, {"val_per_class": "<img onerror=1>"}, {"split_seed": "x"}):
        with pytest.raises(DDLibError, match="header field"):
            audit.plan(_header(tmp_path, meta), dataset="digits", params=prof.read_yaml(TINY))


def test_workers_are_armed_to_die_with_their_parent():
    """The worker initialiser asks Linux to kill the worker with its parent (checked in a live sweep above); with
    a parent already gone it exits at once."""
    pid = os.fork()
    if pid == 0:
        try:
            sweeps._worker_start(-1)        # not its parent: exits
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 1


# --- the roots: a folder this process can write, checked before any compute ----------------------------------------

@pytest.mark.parametrize("var", ["DDLIB_CACHE", "DDLIB_RESULTS"])
def test_a_root_that_is_a_file_is_one_line_before_compute(var, isolated, capsys, monkeypatch):
    afile = isolated["tmp"] / "afile"
    afile.write_text("")
    monkeypatch.setenv(var, str(afile / "sub"))
    before = set(isolated["tmp"].rglob("*"))
    rc = cli.main([*TRAIN, "--budget", "64"])
    cap = capsys.readouterr()
    assert rc == 2 and cap.err.count("\n") == 1 and f"error: {var}: {afile} is a file" in cap.err, cap.err
    assert cap.out == "" and set(isolated["tmp"].rglob("*")) == before


def test_a_read_only_root_is_one_line_before_compute(isolated, capsys, monkeypatch):
    ro = isolated["tmp"] / "ro"
    ro.mkdir(mode=0o555)
    real = os.access      # root may write into read-only folders: answer for ``ro`` as for any other user
    monkeypatch.setattr(paths.os, "access", lambda p, mode: Path(p) != ro and real(p, mode))
    monkeypatch.setenv("DDLIB_RESULTS", str(ro / "results"))
    rc = cli.main([*TRAIN, "--budget", "64"])
    cap = capsys.readouterr()
    assert rc == 2 and cap.err.count("\n") == 1 and f"error: DDLIB_RESULTS: {ro} is not writable" in cap.err, cap.err
    assert not isolated["cache"].exists() and not list(ro.iterdir())


@pytest.mark.parametrize("command", ["findings-table", "reproducibility-table", "recheck", "keep-artefacts",
                                     "restore-artefacts"])
@pytest.mark.parametrize("name", ["../escape", "/etc", "a/b", ".."])
def test_profile_flags_are_confined_to_the_results_root(command, name, isolated, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--profile", name])
    cap = capsys.readouterr()
    assert e.value.code == 2 and cap.err.count("\n") == 1 and "names a folder under the results" in cap.err, cap.err
    assert cap.out == "" and not isolated["results"].exists()
