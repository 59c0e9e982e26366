"""Atomic file writes: write to a temporary file in the same directory, fsync, then rename over the target.

A crash at any point leaves either the old file or the new one, never a half-written file. A target that exists
and is not a regular file (/dev/null, /dev/stdout, a named pipe) is written through instead: renaming over it would
replace the device with a plain file. New files get the usual permissions (0666 minus the umask), not mkstemp's 0600.

Write failures (disk full, folder missing or read-only) raise OutputError naming the target, not the bare OSError
about a temporary file the user never heard of; `check_writable` finds the folder problems before any work is done.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import OutputError

_UMASK = os.umask(0o022)   # read once, at import (os.umask can only be read by setting it)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` atomically."""
    target = Path(target)
    if target.exists() and not target.is_file():
        with tempfile.TemporaryDirectory(prefix="ffd-write-") as scratch:
            tmp_path = Path(scratch) / target.name
            yield tmp_path
            try:
                with open(tmp_path, "rb") as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except OSError as exc:
                raise write_error(target, exc) from exc
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if exc.errno in _NO_SPACE:   # the caller's writes into tmp_path; other OSErrors may be about its inputs
                raise write_error(target, exc) from exc
            raise
        try:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~_UMASK)
            os.replace(tmp_path, target)
        except OSError as exc:
            raise write_error(target, exc) from exc
        _fsync_dir(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_error(target: str | os.PathLike, exc: OSError) -> OutputError:
    """OutputError naming `target` for an OSError met while writing it."""
    if exc.errno in _NO_SPACE:
        return OutputError(f"cannot write: the disk is full ({exc.strerror})", path=str(target))
    return OutputError(f"cannot write: {exc.strerror or exc}", path=str(target))


def check_writable(target: str | os.PathLike) -> None:
    """Raise OutputError now if `target` clearly cannot be written: it is a folder, or its nearest existing folder is
    not a folder or not writable. Called before an analysis, so a mistyped path costs nothing."""
    target = Path(target)
    if target.is_dir():
        raise OutputError("cannot write: it is a folder; give a file name", path=str(target))
    if target.exists() and not target.is_file():
        return   # a device or pipe: written through
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent    # missing folders are created on writing
    if not folder.is_dir():
        raise OutputError(f"cannot write: {folder} is not a folder", path=str(target))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write: the folder {folder} is not writable", path=str(target))


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform/filesystem
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
