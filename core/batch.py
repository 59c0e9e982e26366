"""Durable, resumable batch results: one JSON line per input file, written as each file finishes.

A batch over thousands of files must not lose finished work to a kill, a crash or one hostile file. So every line is
appended with a single os.write of the whole line and fsynced before the next file starts; a kill leaves at most an
unfinished last line, which the next run cuts off. Each line carries a `batch` header, {"key", "status"}: the key
is a hash of the settings and model identity that shape the result, so re-running with the same output skips a
file whose last line has the same path, evidence SHA-256 and key, and analyses it again when any of them changed.

The execution is pluggable: `run_batch` takes the paths, a per-file `analyse` callable and an `executor` that
yields (path, result dict or exception) as files finish, in any order. `sequential` runs them one after another
here; a cluster driver can pass its own executor and keep the same durability, resume and accounting.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import atomic_path, write_error
from core.errors import CancelledError, FFDError, ModelError, OutputError

log = logging.getLogger(__name__)

AnalyseFn = Callable[[str], dict]
Outcome = tuple[str, "dict | Exception"]
Executor = Callable[[AnalyseFn, list[str]], Iterator[Outcome]]
_HEADER = b'{"batch": '     # every line starts so: how an unfinished last line is told from a foreign file


def result_key(identity: dict) -> str:
    """A short, stable hash of whatever shapes a result (settings, model identity)."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Entry:
    sha256: str | None
    key: str | None
    status: str
    line: int           # its line number (0-based) in the file


class ResultsFile:
    """The JSON Lines results file of a batch, opened for appending (and locked) until `close`.

    Opening checks that an existing file is a batch results file (anything else is refused, never overwritten),
    cuts off an unfinished last line left by a kill, and indexes the last line of each path. A file analysed again
    appends a new line; `close` then rewrites the file atomically with only the last line per path, so every file
    keeps exactly one line (until then readers take the last one). Pipes and devices are written through.
    """

    def __init__(self, path: str | os.PathLike, key: str):
        self.path, self.key = Path(path), key
        self.index: dict[str, _Entry] = {}
        self.lines = self.superseded = 0
        self.cut_fragment = False
        self._regular = not (self.path.exists() and not self.path.is_file())
        self._created = not self.path.exists()
        try:
            if self._regular:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        try:
            if self._regular:
                self._lock()
                self._load()
        except BaseException:
            self.close(compact=False)
            raise

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(compact=exc_type is None)

    def _lock(self) -> None:
        with contextlib.suppress(ImportError):   # no fcntl on Windows: no lock
            import fcntl

            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError("another ffd batch is writing to this file", path=str(self.path)) from None

    def _load(self) -> None:
        end = 0
        with open(self.path, "rb") as fh:       # streamed: a results file may hold thousands of long lines
            for raw in fh:
                if not raw.endswith(b"\n"):
                    if not (raw.startswith(_HEADER) or _HEADER.startswith(raw)):
                        raise self._foreign("its last line")
                    os.truncate(self.path, end)  # a killed run's unfinished line: its file is analysed again
                    os.fsync(self._fd)
                    self.cut_fragment = True
                    break
                try:
                    line = json.loads(raw)
                    self._index(line["file"]["path"], line)
                except (ValueError, TypeError, KeyError, AttributeError):
                    raise self._foreign(f"line {self.lines + 1}") from None
                end += len(raw)

    def _foreign(self, where: str) -> OutputError:
        return OutputError(f"not a batch results file ({where} is not a result line); it is never overwritten: "
                           "choose another --out", path=str(self.path))

    def _index(self, path: str, line: dict) -> None:
        header = line.get("batch") or {}
        status = header.get("status", "error" if line.get("errors") else "ok")
        self.superseded += path in self.index
        self.index[path] = _Entry(line["file"].get("sha256"), header.get("key"), status, self.lines)
        self.lines += 1

    def finished(self, path: str, retry_errors: bool = False) -> _Entry | None:
        """The entry of `path` if it needs no analysis: same key and same evidence bytes (hashed now)."""
        entry = self.index.get(path)
        if entry is None or entry.key != self.key or (retry_errors and entry.status != "ok"):
            return None
        return entry if sha256_or_none(path) == entry.sha256 else None   # None == None: still unreadable

    def append(self, line: dict) -> None:
        """Write one line with a single os.write and fsync it: after a kill it is either whole or cut off."""
        data = (json.dumps(line) + "\n").encode("utf-8")
        try:
            start = os.lseek(self._fd, 0, os.SEEK_END) if self._regular else 0
            if os.write(self._fd, data) != len(data):
                if self._regular:
                    os.ftruncate(self._fd, start)
                raise OSError(errno.ENOSPC, "short write: the disk is full")
            if self._regular:       # pipes and devices cannot be fsynced
                os.fsync(self._fd)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        self._index(line["file"]["path"], line)

    def close(self, compact: bool = True) -> None:
        """Release the file; rewrite it without superseded lines (not after an error: the next run does it)."""
        if self._fd < 0:
            return
        try:
            if compact and self._regular and self.superseded:
                self._compact()
            if self._created and self.lines == 0:
                self.path.unlink(missing_ok=True)     # nothing was written: leave no empty file behind
        finally:
            os.close(self._fd)
            self._fd = -1

    def _compact(self) -> None:
        keep = {entry.line for entry in self.index.values()}
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        with atomic_path(self.path) as tmp, open(self.path, "rb") as src, open(tmp, "wb") as dst:
            dst.writelines(raw for n, raw in enumerate(src) if n in keep)
        os.chmod(self.path, mode)
        for n, entry in enumerate(sorted(self.index.values(), key=lambda e: e.line)):
            entry.line = n
        self.lines, self.superseded = len(self.index), 0


@dataclass
class BatchProgress:
    """Sent once before the first file (done == 0) and after each file."""

    total: int                  # files to analyse in this run
    done: int = 0
    failed: int = 0
    skipped: int = 0            # already finished in an earlier run
    path: str | None = None     # the file just finished
    error: str | None = None    # its error, "Type: message"


@dataclass
class BatchSummary:
    inputs: int = 0
    skipped: int = 0            # finished in an earlier run (ok or, without retry_errors, error)
    analysed: int = 0
    failed_now: int = 0
    failed_before: int = 0      # skipped files whose kept line is an error
    failed_paths: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.failed_now + self.failed_before


def sequential(analyse: AnalyseFn, paths: list[str]) -> Iterator[Outcome]:
    """One file after another, here. An exception in one file is that file's outcome; cancelling, or a model that
    cannot be used (it would fail every file), stops the batch with the finished lines kept."""
    for path in paths:
        try:
            outcome = analyse(path)
        except (CancelledError, ModelError):
            raise
        except Exception as exc:        # MemoryError, a bug in one file: recorded, the batch goes on
            outcome = exc
        yield path, outcome


def error_line(path: str, exc: BaseException, key: str, sha256: str | None = None) -> dict:
    """The line of a file that could not be analysed: error type and message; the traceback goes to the log."""
    code = exc.exit_code if isinstance(exc, FFDError) else 1
    message = str(exc) or type(exc).__name__
    return {"batch": {"key": key, "status": "error"}, "schema": 1, "file": {"path": path, "sha256": sha256},
            "errors": [{"code": code, "type": type(exc).__name__, "message": message}]}


def run_batch(paths: Iterable[str | os.PathLike], analyse: AnalyseFn, results: ResultsFile, *,
              retry_errors: bool = False, executor: Executor = sequential,
              progress: Callable[[BatchProgress], None] | None = None) -> BatchSummary:
    """Analyse every path not already finished in `results`, appending one durable line per file."""
    summary = BatchSummary()
    todo = []
    for path in dict.fromkeys(os.fspath(p) for p in paths):    # a path given twice is analysed once
        summary.inputs += 1
        entry = results.finished(path, retry_errors)
        if entry is None:
            todo.append(path)
            continue
        summary.skipped += 1
        if entry.status != "ok":
            summary.failed_before += 1
            summary.failed_paths.append(path)
    report = progress or (lambda p: None)
    state = BatchProgress(total=len(todo), skipped=summary.skipped)
    report(state)
    for path, outcome in executor(analyse, todo):
        if isinstance(outcome, Exception):
            log.debug("batch: %s failed", path, exc_info=outcome)
            line = error_line(path, outcome, results.key, sha256_or_none(path))
            summary.failed_now += 1
            summary.failed_paths.append(path)
            state.error = f"{type(outcome).__name__}: {line['errors'][0]['message']}"
        else:
            line = {"batch": {"key": results.key, "status": "ok"}, **outcome}
            state.error = None
        results.append(line)
        summary.analysed += 1
        state.done, state.failed, state.path = summary.analysed, summary.failed_now, path
        report(state)
    return summary


def sha256_or_none(path: str) -> str | None:
    """The evidence hash, or None for a dangling link or an unreadable file."""
    from core.digest import sha256_file

    try:
        return sha256_file(path)
    except OSError:
        return None
