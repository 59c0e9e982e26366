"""SHA-256 of a file: evidence, weights and checkpoints are all identified by it."""

from __future__ import annotations

import functools
import hashlib
import os


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file's bytes, streamed (constant memory at any size); the file is only read."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def cached_sha256(path: str | os.PathLike) -> str:
    """sha256_file, remembered per file version (path, size, mtime): weights are hashed when a model folder is
    checked and again when it loads, and a batch identifies its model once per run; gigabyte files take seconds."""
    stat = os.stat(path)
    return _sha256_cached(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)
