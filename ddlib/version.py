"""ddlib's version; part of every key, beside the code fingerprint (``ddlib.fingerprint``)."""

__version__ = "0.2.0"
