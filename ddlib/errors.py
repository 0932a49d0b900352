"""User-facing errors: the CLI prints these as one line, without a traceback."""
import math

SEED_MAX = 2 ** 31 - 1   # [ours] the largest seed a run or a profile takes (numpy-style 32-bit seeds stay portable)


class DDLibError(ValueError):
    """Bad input (unknown name, impossible IPC, missing or corrupt data): say what is valid or how to fix it."""


def check_choice(kind: str, value, valid) -> None:
    """Raise a one-line DDLibError unless ``value`` is one of ``valid``."""
    if value not in valid:
        raise DDLibError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")


def check_like(what: str, name: str, value, default):
    """``value`` for knob ``name`` of ``what``, of the kind of its ``default`` (a flag, a whole number, a finite
    number, a name), else a one-line DDLibError; a whole number given for a number is returned as a float, so one
    choice has one spelling (and one cache key). A default of None or of another kind takes anything."""
    kinds = ((bool, "true or false", lambda v: isinstance(v, bool)),
             (int, "a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
             (float, "a finite number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)),
             (str, "a name", lambda v: isinstance(v, str)))
    for kind, words, ok in kinds:
        if isinstance(default, kind):
            if not ok(value):
                raise DDLibError(f"{what} knob {name} takes {words} (default {default!r}), got {value!r}")
            return float(value) if kind is float else value
    return value
