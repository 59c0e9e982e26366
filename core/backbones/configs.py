"""Architectures as data: register the JSON configs shipped in resources/model_configs with open_clip."""

from __future__ import annotations

import functools

import open_clip

from core.paths import resources_dir


@functools.cache
def register_shipped_configs() -> list[str]:
    """Make open_clip aware of our JSON configs (idempotent). Returns the names that were added."""
    folder = resources_dir() / "model_configs"
    if folder.is_dir():
        open_clip.add_model_config(folder)
    return sorted(p.stem for p in folder.glob("*.json"))


def list_architectures() -> list[str]:
    register_shipped_configs()
    return open_clip.list_models()


def architecture_config(arch: str) -> dict:
    register_shipped_configs()
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        from core.errors import ModelError

        raise ModelError(f"unknown backbone architecture {arch!r}; see `ffd models list --archs`")
    return cfg
