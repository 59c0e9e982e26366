"""Where the app keeps its files: per-user data (appdirs) and the shipped resources folder."""

from __future__ import annotations

import os
from pathlib import Path

import appdirs

APP_NAME = "ffd-desktop"
APP_AUTHOR = "FFD"


def data_dir() -> Path:
    """Per-user data directory (case store, imported weights). FFD_DATA_DIR overrides it (tests, portable use)."""
    override = os.environ.get("FFD_DATA_DIR")
    path = Path(override) if override else Path(appdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """The shipped resources folder (model configs, bundled checkpoints, report assets)."""
    override = os.environ.get("FFD_RESOURCES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "resources"
