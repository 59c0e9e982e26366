"""Convolutional patch-embedding stems: the one place an architecture departs from open_clip's plain ViT.

A ViT's patch embedding is a single stride-P convolution: from random weights it sees each 16x16 patch once, as
raw pixels, and learns the faces it is shown rather than the faint high-frequency statistics that give a forgery
away (the 6x256 ViT of the first default model memorised ~2,900 training faces; validation AUC stayed at 0.59).
Detectors that generalise without pretraining read noise residuals with convolutional early layers (NPR, CVPR 2024;
the SRM noise stream of RGB-N and MFCLIP). A stem replaces ``visual.conv1`` of an open_clip ``VisionTransformer``
with such a network, keeping its contract (N x 3 x H x W, CLIP-normalised -> N x width x H/P x W/P), so the
transformer blocks, ``forward_intermediates`` (HAMLET-FFD's taps) and ``encode_image`` stay open_clip's own.

Architectures as data: ``resources/model_configs/<arch>.json`` is a plain open_clip config and
``resources/model_configs/stems/<arch>.json`` names a registered stem and its options; `apply_stem` builds it.

``forensic`` stem (`ForensicStem`):
1. fixed, parameter-free residual channels beside the RGB input, on the 0..255 scale divided by the SRM truncation
   T = 3 (so they lie in [-1, 1] like the normalised RGB):
   - SRM: the three RGB-N / MFCLIP kernels (`core.forensics.srm`), summed over colour channels, truncated to [-T, T];
   - NPR: ``x - up(down(x))`` per colour channel, nearest 2x down/up-sampling (Tan et al., "Rethinking the
     Up-Sampling Operations in CNN-based Generative Network for Generalizable Deepfake Detection", CVPR 2024): the
     local correlation that generators' up-sampling layers leave between neighbouring pixels; truncated the same way;
2. a small CNN: ``log2(P)`` stages of 3x3 convolutions (``depth`` per stage, the first of each with stride 2),
   widths doubling from ``channels``, each followed by a norm and GELU, then a 1x1 convolution to the ViT width
   (the ViT's ln_pre follows). The norm is BatchNorm by default: on FFHQ-vs-StyleGAN faces (2 epochs, 192 px) a
   GroupNorm stem reached validation AUC 0.63 and a BatchNorm stem 0.74 (a plain BatchNorm CNN: 0.80; the earlier
   one-convolution-per-stage GroupNorm stem: 0.59). In a frozen backbone BatchNorm is in eval mode and uses its
   stored statistics, so any batch size, 1 included, gives the same scores.
"""

from __future__ import annotations

import functools
import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ModelError
from core.forensics.srm import TRUNCATION, srm_kernels
from core.paths import resources_dir

_STEMS: dict[str, type[nn.Module]] = {}

# open_clip's normalisation (OPENAI_DATASET_MEAN / STD): the stem undoes it to compute residuals in pixel units.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def register_stem(name: str):
    def wrap(cls):
        _STEMS[name] = cls
        return cls
    return wrap


@functools.cache
def stem_config(arch: str) -> dict | None:
    """The stem spec shipped for `arch`, or None for a plain open_clip architecture."""
    path = resources_dir() / "model_configs" / "stems" / f"{arch}.json"
    if not path.is_file():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("type") not in _STEMS:
        raise ModelError(f"stem config names unknown stem type {spec.get('type')!r}; known: {sorted(_STEMS)}",
                         path=str(path))
    return spec


def apply_stem(model: nn.Module, arch: str) -> nn.Module:
    """Replace the patch embedding of `model.visual` with the stem `arch` declares (no-op for plain archs)."""
    spec = stem_config(arch)
    if spec is None:
        return model
    visual = model.visual
    conv = visual.conv1
    options = {k: v for k, v in spec.items() if k != "type"}
    visual.conv1 = _STEMS[spec["type"]](width=conv.out_channels, patch_size=conv.stride[0], **options)
    return model


@register_stem("forensic")
class ForensicStem(nn.Module):
    """Fixed SRM + NPR residuals beside RGB, then a strided convolution stack to the ViT width (see module doc)."""

    def __init__(self, width: int, patch_size: int, channels: int = 32, groups: int = 8, depth: int = 2,
                 norm: str = "group"):
        super().__init__()
        stages = int(round(math.log2(patch_size)))
        if 2 ** stages != patch_size or stages < 1:
            raise ModelError(f"forensic stem needs a power-of-two patch size, got {patch_size}")
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("srm", srm_kernels(), persistent=False)
        layers: list[nn.Module] = []
        in_ch = 3 + 3 + 3  # RGB, SRM, NPR
        for i in range(stages):
            out_ch = min(channels * 2 ** i, width)
            for j in range(1 if i == 0 else depth):
                layers += [nn.Conv2d(in_ch, out_ch, 3, stride=2 if j == 0 else 1, padding=1, bias=False),
                           nn.GroupNorm(min(groups, out_ch), out_ch) if norm == "group" else nn.BatchNorm2d(out_ch),
                           nn.GELU()]
                in_ch = out_ch
        layers.append(nn.Conv2d(in_ch, width, 1))  # to the transformer width (the ViT's ln_pre follows)
        self.body = nn.Sequential(*layers)

    def residuals(self, x: torch.Tensor) -> torch.Tensor:
        """SRM and NPR residuals (N x 6 x H x W, in [-1, 1]) of CLIP-normalised images."""
        pixels = (x * self.std.to(x.dtype) + self.mean.to(x.dtype)) * 255.0
        srm = F.conv2d(F.pad(pixels, (2, 2, 2, 2), mode="reflect"), self.srm.to(x.dtype))
        h, w = pixels.shape[-2:]
        down = pixels[..., : h - h % 2 : 2, : w - w % 2 : 2]
        up = F.interpolate(down, size=(h - h % 2, w - w % 2), mode="nearest")
        npr = F.pad(pixels[..., : h - h % 2, : w - w % 2] - up, (0, w % 2, 0, h % 2))
        return torch.cat([srm, npr], dim=1).clamp(-TRUNCATION, TRUNCATION) / TRUNCATION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([x, self.residuals(x)], dim=1))
