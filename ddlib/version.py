"""ddlib's version, and the fingerprint of the code that can change a number: part of every cache key and every
stored run's key, so a record made by other code is never read as this code's [issue 12: the results store]."""
import hashlib
from pathlib import Path

__version__ = "0.2.0"

PACKAGE_DIR = Path(__file__).resolve().parent

# The modules a run's numbers depend on: the layers from `version` up to `experiment` (tests/test_layers.py checks
# that this list is exactly those layers). Analysis, reports, plots, chapters and the CLI are not in it: they read
# numbers, they do not make them.
NUMERIC_MODULES = ("version", "errors", "paths", "store", "data", "models", "augment", "budget", "train", "regimes",
                   "teacher", "rules", "scores", "cad", "select", "synset", "distill", "experiment")


def numeric_files() -> list:
    """The source files of NUMERIC_MODULES (a package: every .py under it), sorted by path."""
    files = []
    for name in NUMERIC_MODULES:
        folder = PACKAGE_DIR / name
        files += sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE_DIR / f"{name}.py"]
    return sorted(files)


def _fingerprint() -> str:
    h = hashlib.sha256()
    for path in numeric_files():
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


CODE_FINGERPRINT = _fingerprint()   # 16 hex characters (store.KEY_LENGTH), of the bytes of numeric_files()
