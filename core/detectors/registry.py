"""Detectors registered by name and built from a config: callers never branch on detector type."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import ModelError

_REGISTRY: dict[str, type] = {}


def register_detector(name: str) -> Callable[[type], type]:
    def decorator(cls: type) -> type:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _ensure_builtin() -> None:
    # Importing the modules runs their @register_detector decorators.
    from core.detectors import clip_prompts, hamlet, mfclip  # noqa: F401


def available_detectors() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def detector_class(name: str) -> type:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise ModelError(f"unknown detector {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build_detector(name: str, backbone, config: dict | None = None):
    cls = detector_class(name)
    merged = {**getattr(cls, "default_config", {}), **(config or {})}
    unknown = set(merged) - set(getattr(cls, "default_config", {}))
    if unknown:
        raise ModelError(f"detector {name}: unknown config keys {sorted(unknown)}")
    return cls(backbone, merged)
