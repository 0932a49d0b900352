"""ddlib's version: part of every cache key, so results of another version are never read as this one's."""
__version__ = "0.2.0"
