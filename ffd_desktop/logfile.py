"""The desktop app's log file: ``<data dir>/logs/ffd-desktop.log``, rotated at 1 MB with 3 older files kept.

Why a file: the app usually has no terminal, and when a banner says "internal error" the details (the traceback)
must be somewhere an investigator can find and send with a bug report; the banner names this file.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from core.paths import data_dir

LOG_NAME = "ffd-desktop.log"
MAX_BYTES = 1 << 20
BACKUPS = 3
_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def log_path() -> Path:
    return data_dir() / "logs" / LOG_NAME


def install() -> Path | None:
    """Send the root logger's records to the rotating log file (once per file: idempotent). Returns the log's path,
    or None when the data dir cannot hold it (read-only): the app still runs, logging to stderr only."""
    path = log_path()
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            if handler.baseFilename == str(path.absolute()):
                return path
            root.removeHandler(handler)       # the data dir changed (tests, FFD_DATA_DIR): follow it
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    return path
