"""Where a detector checkpoint's sidecar model card lives (no torch: model folders are checked before it loads)."""

from __future__ import annotations

from pathlib import Path


def card_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")
