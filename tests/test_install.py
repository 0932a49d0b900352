"""[issue 38] An installed ddlib runs its own profiles from any folder: the package, copied out of the checkout, is
installed non-editable into a fresh venv (its dependencies read from this venv's site-packages, nothing downloaded),
and ``python -m ddlib train --params tiny --ipc 5 --json`` in an empty folder prints one JSON object. About 25 s on
2 busy cores (8 s to install, the rest one tiny run)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from conftest import PYTHON, REPO, subprocess_env


def test_an_installed_ddlib_trains_on_a_shipped_profile_from_any_folder(tmp_path):
    src, venv, anywhere = tmp_path / "src", tmp_path / "venv", tmp_path / "anywhere"
    shutil.copytree(REPO / "ddlib", src / "ddlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], check=True,
                          capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")   # torch & co, not ddlib
    done = subprocess.run([PYTHON, "-m", "pip", "--python", python, "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--quiet", str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(src)                                               # nothing left to import from but the venv
    anywhere.mkdir()
    env = subprocess_env(tmp_path / "cache", tmp_path / "results")
    env.pop("PYTHONPATH", None)
    where = subprocess.run([python, "-c", "import ddlib; print(ddlib.__file__)"], cwd=anywhere, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where == os.path.join(site, "ddlib", "__init__.py")
    done = subprocess.run([python, "-m", "ddlib", "train", "--params", "tiny", "--ipc", "5", "--json"], cwd=anywhere,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout)
    assert (r["dataset"], r["ipc"], r["model"], r["budget"]) == ("digits", 5, "convnet2-w32-instancenorm", 1600)
    assert 0 <= r["test_acc"] <= 1 and not any(anywhere.iterdir())   # the run wrote nowhere but its cache
