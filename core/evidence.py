"""Guard outputs against evidence: no result, report or batch file may ever replace an input file.

The atomic writers rename a temporary file over their target, which would silently replace evidence (and reset a
read-only file's mode) if an output path named an input. Callers check every output path here first, before any
analysis or model loading, so a mistyped path costs nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from core.errors import UnsafeOutputError


def check_output_path(output: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                      input_dirs: Iterable[str | os.PathLike] = ()) -> None:
    """Raise UnsafeOutputError (exit 2) if writing `output` could replace an input or a read-only file.

    Refused: the same file as an input (same path, through a symlink, or a hard link: same device and inode), a
    path inside (or equal to) one of `input_dirs`, and an existing regular file without write permission. The mode
    bits are checked as well as os.access, because os.access grants root everything. Special files (/dev/null,
    pipes) are written through, never replaced, so they pass.
    """
    output = Path(output)
    resolved = output.resolve()
    out_stat = _stat(output)
    for source in inputs:
        source_stat = _stat(source)
        same_file = (out_stat is not None and source_stat is not None
                     and (out_stat.st_dev, out_stat.st_ino) == (source_stat.st_dev, source_stat.st_ino))
        if same_file or resolved == Path(source).resolve():
            raise UnsafeOutputError(f"refusing to write here: it is the evidence file {source}", path=str(output))
    folders = {_identity(d): d for d in input_dirs if _stat(d) is not None}
    for place in (resolved, *resolved.parents):
        folder = folders.get(_identity(place))
        if folder is not None:
            raise UnsafeOutputError(f"refusing to write here: it lies inside the evidence folder {folder}",
                                    path=str(output))
    if out_stat is not None and stat.S_ISREG(out_stat.st_mode) and (
            not out_stat.st_mode & 0o222 or not os.access(output, os.W_OK)):
        raise UnsafeOutputError("refusing to replace a read-only file", path=str(output))


def _stat(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    st = _stat(path)
    return (st.st_dev, st.st_ino) if st is not None else None
