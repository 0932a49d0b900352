"""The profiles shipped inside the package [issue 38]: ``tiny`` (the tests'), ``quick`` (the default, CPU) and
``paper`` (a GPU), one YAML file each, so an installed ddlib runs its own profiles from any folder. Wherever a profile
is read (``--params``, ``ddlib.profile.load``), one of these names or the path of a YAML file of one's own is
accepted. Nothing here imports torch: the command line's help lists the names."""
from __future__ import annotations

from pathlib import Path

from ..errors import DDLibError

DIR = Path(__file__).resolve().parent
NAMES = tuple(sorted(f.stem for f in DIR.glob("*.yaml")))


def path(name_or_file) -> Path:
    """The file of a shipped profile's name, else ``name_or_file`` as a path; a bare word that is neither is a
    one-line DDLibError naming the profiles."""
    text = str(name_or_file)
    if text in NAMES:
        return DIR / f"{text}.yaml"
    given = Path(name_or_file)
    if not given.exists() and given.suffix == "" and len(given.parts) == 1:
        raise DDLibError(f"unknown profile {text!r}; give one of {', '.join(NAMES)} or a YAML file's path")
    return given
