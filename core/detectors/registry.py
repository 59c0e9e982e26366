"""Detectors registered by name and built from a config: callers never branch on detector type."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from core.errors import ModelError

_REGISTRY: dict[str, type] = {}


def register_detector(name: str) -> Callable[[type], type]:
    def decorator(cls: type) -> type:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


# name -> module that registers it: imported on first use, so this module never imports its plugins at load time
_BUILTIN = {"clip": "core.detectors.clip_prompts", "cnn": "core.detectors.cnn", "hamlet": "core.detectors.hamlet",
            "mfclip": "core.detectors.mfclip"}


def _load(name: str) -> None:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # runs its @register_detector


def available_detectors() -> list[str]:
    """Names only: nothing is imported (the CLI checks a request against them before torch loads)."""
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def detector_class(name: str) -> type:
    _load(name)
    if name not in _REGISTRY:
        raise ModelError(f"unknown detector {name!r}; available: {', '.join(available_detectors())}")
    return _REGISTRY[name]


def build_detector(name: str, backbone, config: dict | None = None):
    cls = detector_class(name)
    merged = {**getattr(cls, "default_config", {}), **(config or {})}
    unknown = set(merged) - set(getattr(cls, "default_config", {}))
    if unknown:
        raise ModelError(f"detector {name}: unknown config keys {sorted(unknown)}")
    return cls(backbone, merged)
