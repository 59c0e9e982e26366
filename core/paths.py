"""Where the app keeps its files: per-user data (appdirs) and the shipped resources folder."""

from __future__ import annotations

import importlib.resources
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
    """The shipped resources (model configs, the default model, fonts, icons): the package `ffd_resources`, which
    is the checkout's resources/ folder in an editable install and package data in a wheel or a bundle, so every
    caller finds it the same way. FFD_RESOURCES overrides it (tests, a resources folder kept elsewhere)."""
    override = os.environ.get("FFD_RESOURCES")
    return Path(override) if override else Path(str(importlib.resources.files("ffd_resources")))
