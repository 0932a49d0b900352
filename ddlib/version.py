"""ddlib's version, and the fingerprints of the code that can change a number: part of every cache key and every
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


# The distillers: only a run on a distilled set (and the set, and MTT's experts) depends on them, so their own
# fingerprint joins those keys alone; editing a distiller leaves every real-subset run's record current.
DISTILL_MODULES = ("distill",)


def numeric_files(modules=NUMERIC_MODULES) -> list:
    """The source files of ``modules`` (a package: every .py under it), sorted by path."""
    files = []
    for name in modules:
        folder = PACKAGE_DIR / name
        files += sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE_DIR / f"{name}.py"]
    return sorted(files)


def _fingerprint(modules) -> str:
    h = hashlib.sha256()
    for path in numeric_files(modules):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


CORE_MODULES = tuple(m for m in NUMERIC_MODULES if m not in DISTILL_MODULES)
CODE_FINGERPRINT = _fingerprint(CORE_MODULES)        # 16 hex characters (store.KEY_LENGTH): every key
DISTILL_FINGERPRINT = _fingerprint(DISTILL_MODULES)  # the keys of distilled sets and of runs on them
