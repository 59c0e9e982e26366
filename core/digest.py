"""SHA-256 of a file: evidence, weights and checkpoints are all identified by it."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file's bytes, streamed (constant memory at any size); the file is only read."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
