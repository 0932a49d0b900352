"""User-facing errors: the CLI prints these as one line, without a traceback."""


class DDLibError(ValueError):
    """Bad input (unknown name, impossible IPC, missing or corrupt data): say what is valid or how to fix it."""


def check_choice(kind: str, value, valid) -> None:
    """Raise a one-line DDLibError unless ``value`` is one of ``valid``."""
    if value not in valid:
        raise DDLibError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")
