"""SRM (steganalysis rich model) high-pass noise residuals, as used by MFCLIP's noise branch.

The three 5x5 kernels are the ones Zhou et al. use in the noise stream of RGB-N ("Learning Rich Features for Image
Manipulation Detection", CVPR 2018), chosen from Fridrich & Kodovsky's rich model ("Rich Models for Steganalysis of
Digital Images", IEEE TIFS 2012):

- ``KB``: the 3x3 second-order "KB" kernel, divided by 4, zero-padded to 5x5;
- ``KV``: the 5x5 "KV" kernel, divided by 12;
- ``SECOND_ORDER_H``: the 1-D horizontal second-order kernel [1, -2, 1], divided by 2, zero-padded to 5x5.

As in RGB-N, each kernel is applied to all three colour channels and the three responses are summed, giving three
output maps (one per kernel); the maps are truncated to [-T, T] with T = 3 on the 0..255 intensity scale. Every kernel
sums to zero, and padding is by reflection (replication for images smaller than 3 px), so a flat image gives a
zero residual everywhere, borders included; floating-point round-off (about 1e-5 of an intensity level) is snapped
to exactly zero by a dead zone of ``EPSILON`` = 1e-3 levels, far below the 8-bit quantisation step of 1 level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Integer kernel values and their divisors, exactly as published (RGB-N: q = [4, 12, 2]).
KB_INT = (
    (0, 0, 0, 0, 0),
    (0, -1, 2, -1, 0),
    (0, 2, -4, 2, 0),
    (0, -1, 2, -1, 0),
    (0, 0, 0, 0, 0),
)
KV_INT = (
    (-1, 2, -2, 2, -1),
    (2, -6, 8, -6, 2),
    (-2, 8, -12, 8, -2),
    (2, -6, 8, -6, 2),
    (-1, 2, -2, 2, -1),
)
SECOND_ORDER_H_INT = (
    (0, 0, 0, 0, 0),
    (0, 0, 0, 0, 0),
    (0, 1, -2, 1, 0),
    (0, 0, 0, 0, 0),
    (0, 0, 0, 0, 0),
)
SRM_KERNELS_INT = (KB_INT, KV_INT, SECOND_ORDER_H_INT)
SRM_DIVISORS = (4.0, 12.0, 2.0)
TRUNCATION = 3.0  # T, on the 0..255 scale
EPSILON = 1e-3    # |residual| below this (0..255 scale) is round-off: set to exactly 0


def srm_kernels(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The conv weight (3 out, 3 in, 5, 5): kernel k applied to every input channel, summed."""
    base = torch.tensor(SRM_KERNELS_INT, dtype=torch.float64) / torch.tensor(SRM_DIVISORS,
                                                                               dtype=torch.float64).view(3, 1, 1)
    return base[:, None].expand(3, 3, 5, 5).to(dtype=dtype, device=device).contiguous()


def _residual(x: torch.Tensor, weight: torch.Tensor, truncation: float) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"srm_filter expects N x 3 x H x W images, got shape {tuple(x.shape)}")
    mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
    padded = F.pad(x * 255.0, (2, 2, 2, 2), mode=mode)
    out = F.conv2d(padded, weight.to(dtype=x.dtype, device=x.device)).clamp(-truncation, truncation)
    return out.masked_fill(out.abs() < EPSILON, 0.0)


def srm_filter(x: torch.Tensor, truncation: float = TRUNCATION) -> torch.Tensor:
    """SRM residual of RGB images in [0, 1] (N x 3 x H x W) -> N x 3 x H x W, values in [-T, T] (0..255 scale).

    Output channel k is kernel k (KB, KV, horizontal second order) summed over the R, G and B responses.
    """
    return _residual(x, srm_kernels(x.dtype, x.device), truncation)


class SRMFilter(nn.Module):
    """`srm_filter` as a module whose fixed kernels are a non-persistent buffer: `.to(device)` moves them, they get
    no gradient, and checkpoints do not carry them (so a checkpoint cannot alter them)."""

    def __init__(self, truncation: float = TRUNCATION):
        super().__init__()
        self.truncation = float(truncation)
        self.register_buffer("weight", srm_kernels(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual(x, self.weight, self.truncation)
