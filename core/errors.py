"""Errors a user can act on. Each carries the CLI exit code and a message that names the file and the problem.

Exit codes: 1 internal error (a bug), 2 BadInputError (and output problems), 3 NoFaceError, 4 ModelError,
5 core.cases.CaseStoreError, 130 CancelledError. README.md documents them; keep the two in step.
"""

from __future__ import annotations


class FFDError(Exception):
    """Base class: a problem we can explain to the user (never shown as a bare traceback)."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class BadInputError(FFDError):
    """The evidence file cannot be used: unreadable, not media, corrupt, truncated beyond use, too large."""

    exit_code = 2


class NoFaceError(FFDError):
    """The media decoded but no face was found in any sampled frame, or none reliable enough to score (too small,
    or seen in too few sampled frames: MediaPipe "finds" faces in noise)."""

    exit_code = 3


class ModelError(FFDError):
    """A backbone or detector checkpoint is missing, unreachable, mismatched or tampered with."""

    exit_code = 4


class CancelledError(FFDError):
    """The user cancelled a long-running operation."""

    exit_code = 130


class UnsafeOutputError(BadInputError):
    """An output path would replace evidence (an input, a link to one, a file in a batched folder) or a read-only
    file. Exit 2, raised before any analysis: a forensic tool must never write onto what it examines."""


class OutputError(BadInputError):
    """An output file cannot be written: its folder is missing, not a folder or not writable, the path is a folder,
    or the disk is full. Exit 2; checked before any analysis where possible (core.atomic.check_writable)."""
