"""CLIP backbones: architecture configs, weights resolution and the frozen model the detectors share."""

from core.backbones.backbone import Backbone, BackboneSpec, encode_text_embeddings, load_backbone
from core.backbones.configs import list_architectures, register_shipped_configs

__all__ = ["Backbone", "BackboneSpec", "encode_text_embeddings", "list_architectures", "load_backbone",
           "register_shipped_configs"]
