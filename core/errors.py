"""Errors a user can act on. Each carries the CLI exit code and a message that names the file and the problem."""

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
    """The media decoded fine but no face was found in any sampled frame."""

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
