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

``dct`` stem (`DCTStem`): the JPEG view of a face. Fixed 8x8 block DCTs of the luma and both chroma planes,
log-magnitude per coefficient (192 channels per block), BatchNorm, a 1x1 and a 3x3 convolution over neighbouring
blocks, then a (P/8 x P/8)-block stride to one token per patch. Compression history, blending and resampling leave
their marks on the block spectra, the face interior differs from its surroundings, and a fixed transform gives a
from-scratch model those statistics on its first step: on FaceForensics++ training crops (scene-grouped
validation, 3 epochs, 192 px) a linear model on block-DCT statistics reached AUC 0.63, this stem with a pooled
linear head 0.70-0.72 in a minute of CPU, while the forensic stem and a plain CNN stayed at 0.48-0.51.
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


class _PixelStem(nn.Module):
    """A stem that reads pixel values: it undoes open_clip's normalisation of its input."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """CLIP-normalised images -> RGB on the 0..255 scale."""
        return (x * self.std.to(x.dtype) + self.mean.to(x.dtype)) * 255.0


@register_stem("forensic")
class ForensicStem(_PixelStem):
    """Fixed SRM + NPR residuals beside RGB, then a strided convolution stack to the ViT width (see module doc)."""

    def __init__(self, width: int, patch_size: int, channels: int = 32, groups: int = 8, depth: int = 2,
                 norm: str = "group"):
        super().__init__()
        stages = int(round(math.log2(patch_size)))
        if 2 ** stages != patch_size or stages < 1:
            raise ModelError(f"forensic stem needs a power-of-two patch size, got {patch_size}")
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
        pixels = self.pixels(x)
        srm = F.conv2d(F.pad(pixels, (2, 2, 2, 2), mode="reflect"), self.srm.to(x.dtype))
        h, w = pixels.shape[-2:]
        down = pixels[..., : h - h % 2 : 2, : w - w % 2 : 2]
        up = F.interpolate(down, size=(h - h % 2, w - w % 2), mode="nearest")
        npr = F.pad(pixels[..., : h - h % 2, : w - w % 2] - up, (0, w % 2, 0, h % 2))
        return torch.cat([srm, npr], dim=1).clamp(-TRUNCATION, TRUNCATION) / TRUNCATION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([x, self.residuals(x)], dim=1))


def dct_basis(n: int = 8) -> torch.Tensor:
    """The n*n orthonormal 2-D DCT-II basis as convolution kernels (n*n x 1 x n x n)."""
    k = torch.arange(n, dtype=torch.float64)
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / n)
    cos = scale[:, None] * torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / (2 * n))  # frequency x position
    return torch.einsum("ui,vj->uvij", cos, cos).reshape(n * n, 1, n, n).float()


@register_stem("dct")
class DCTStem(_PixelStem):
    """Block-DCT log-magnitudes of Y, Cb, Cr, then convolutions over blocks to one token per patch (module doc)."""

    BLOCK = 8

    def __init__(self, width: int, patch_size: int, channels: int = 128):
        super().__init__()
        if patch_size % self.BLOCK:
            raise ModelError(f"dct stem needs a patch size that is a multiple of {self.BLOCK}, got {patch_size}")
        merge = patch_size // self.BLOCK
        self.register_buffer("basis", dct_basis(self.BLOCK), persistent=False)
        # RGB -> YCbCr (JPEG's full-range matrix), rows are Y, Cb, Cr
        self.register_buffer("ycbcr", torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                                                    [0.5, -0.418688, -0.081312]]), persistent=False)
        spectra = 3 * self.BLOCK * self.BLOCK
        self.body = nn.Sequential(
            nn.BatchNorm2d(spectra),
            nn.Conv2d(spectra, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.GELU(),
            nn.Conv2d(channels, width, merge, stride=merge),  # the ViT's ln_pre follows
        )

    def spectra(self, x: torch.Tensor) -> torch.Tensor:
        """log(1 + |DCT|) of every 8x8 block of Y, Cb, Cr on the 0..255 scale: N x 192 x H/8 x W/8."""
        planes = torch.einsum("cd,ndhw->nchw", self.ycbcr.to(x.dtype), self.pixels(x) - 128.0)
        n, c, h, w = planes.shape
        coeffs = F.conv2d(planes.reshape(n * c, 1, h, w), self.basis.to(x.dtype), stride=self.BLOCK)
        return torch.log1p(coeffs.abs()).reshape(n, c * self.BLOCK * self.BLOCK, *coeffs.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.spectra(x))
