"""CLIP backbones: architecture configs, weights resolution and the frozen model the detectors share.

Everything but BackboneSpec loads on first use (PEP 562): importing the package does not import torch or open_clip,
so a model folder is checked (``core.models.read_bundle``) in milliseconds, before seconds of library imports.
"""

import importlib

from core.backbones.spec import BackboneSpec

_LAZY = {"Backbone": "backbone", "encode_text_embeddings": "backbone", "load_backbone": "backbone",
         "list_architectures": "configs", "register_shipped_configs": "configs"}

__all__ = ["BackboneSpec", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"core.backbones.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
