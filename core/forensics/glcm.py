"""Richest-patch selection by GLCM homogeneity (MFCLIP's patch selector), vectorised over crops and patches.

Each crop is cut into a grid of non-overlapping p x p patches (floor grid: when the crop size is not a multiple of p,
the right / bottom remainder is ignored). For every patch the grey-level co-occurrence matrix homogeneity is computed
with scikit-image semantics, ``graycomatrix(patch, distances=[1], angles=[0, pi/4, pi/2, 3pi/4], levels=256,
symmetric=True, normed=True)`` then ``graycoprops(glcm, "homogeneity")`` averaged over the four angles, and the patch
with the LOWEST homogeneity (the richest texture) is selected; ties go to the first patch in row-major order.

No co-occurrence matrix is ever built: for a symmetric, normalised GLCM the homogeneity
``sum_ij P_ij / (1 + (i - j)^2)`` is exactly the mean over all neighbour pairs (a, b) of ``1 / (1 + (a - b)^2)``, so
the whole batch is four shifted differences and a per-patch mean (float64; equal to scikit-image to ~1e-15).

Grey levels: float input in [0, 1] is first quantised per channel to 0..255 (``round(x * 255)``); integer input is
taken as 0..255. Colour is converted with the ITU-R BT.601 weights in exact integer arithmetic,
``grey = (299 R + 587 G + 114 B + 500) // 1000`` (what PIL's "L" conversion and OpenCV approximate).
"""

from __future__ import annotations

import numpy as np
import torch


def to_grey_levels(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """N x 3 x H x W (RGB), N x 1 x H x W or N x H x W images -> N x H x W grey levels 0..255.

    The result is float32 holding exact integers (every intermediate stays below 2**24, and IEEE division of exact
    integers rounds a whole quotient to itself, so the floor is exact): float arithmetic is much faster here than
    integer division on the CPU.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected N x 3 x H x W, N x 1 x H x W or N x H x W images, got shape {tuple(x.shape)}")
    if x.is_floating_point():
        levels = torch.round(x.float().clamp(0.0, 1.0) * 255.0)
    else:
        levels = x.clamp(0, 255).float()
    if levels.shape[1] == 1:
        return levels[:, 0]
    weighted = levels[:, 0] * 299.0 + levels[:, 1] * 587.0 + levels[:, 2] * 114.0 + 500.0
    return torch.floor(weighted / 1000.0)


def patch_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    """(rows, cols) of the floor grid of p x p patches; raises when not even one patch fits."""
    if patch < 2:
        raise ValueError(f"patch size must be at least 2, got {patch}")
    rows, cols = height // patch, width // patch
    if rows == 0 or cols == 0:
        raise ValueError(f"patch size {patch} does not fit a {height} x {width} image")
    return rows, cols


def patch_homogeneity(images: torch.Tensor | np.ndarray, patch: int) -> torch.Tensor:
    """GLCM homogeneity of every patch: (N, rows * cols) float64, patches in row-major order."""
    grey = to_grey_levels(images)
    n, height, width = grey.shape
    rows, cols = patch_grid(height, width, patch)
    g = grey[:, :rows * patch, :cols * patch].reshape(n, rows, patch, cols, patch)
    g = g.permute(0, 1, 3, 2, 4).reshape(n, rows * cols, patch, patch)

    def mean_weight(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d = (a - b).to(torch.float64)  # exact integer differences; weights and means in float64
        return (1.0 / (1.0 + d * d)).mean(dim=(-2, -1))

    total = (mean_weight(g[..., :, 1:], g[..., :, :-1])          # angle 0:     (r, c) - (r, c + 1)
             + mean_weight(g[..., 1:, 1:], g[..., :-1, :-1])     # angle pi/4:  (r, c) - (r + 1, c + 1)
             + mean_weight(g[..., 1:, :], g[..., :-1, :])        # angle pi/2:  (r, c) - (r + 1, c)
             + mean_weight(g[..., 1:, :-1], g[..., :-1, 1:]))    # angle 3pi/4: (r, c) - (r + 1, c - 1)
    return total / 4.0


def patch_boxes(height: int, width: int, patch: int) -> torch.Tensor:
    """(rows * cols, 4) int64 boxes x0, y0, x1, y1 (x1, y1 exclusive) of the floor grid, row-major."""
    rows, cols = patch_grid(height, width, patch)
    y0, x0 = torch.meshgrid(torch.arange(rows) * patch, torch.arange(cols) * patch, indexing="ij")
    y0, x0 = y0.reshape(-1), x0.reshape(-1)
    return torch.stack([x0, y0, x0 + patch, y0 + patch], dim=1)


def richest_patch(images: torch.Tensor | np.ndarray, patch: int):
    """Select the lowest-homogeneity p x p patch of every crop.

    Returns ``(boxes, homogeneity)``: boxes (N, 4) int64 x0, y0, x1, y1 in crop pixels (x1, y1 exclusive) and the
    homogeneity of every patch (N, n_patches) float64. Both are torch tensors on the input's device when the input is
    a tensor, numpy arrays when it is a numpy array.
    """
    as_numpy = isinstance(images, np.ndarray)
    homogeneity = patch_homogeneity(images, patch)
    height, width = images.shape[-2:]
    grid = patch_boxes(int(height), int(width), patch).to(homogeneity.device)
    boxes = grid[homogeneity.argmin(dim=1)]
    if as_numpy:
        return boxes.numpy(), homogeneity.numpy()
    return boxes, homogeneity


def crop_patches(images: torch.Tensor, boxes: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut the p x p patch at each box out of N x C x H x W images -> N x C x p x p (no Python loop over N)."""
    n, c = images.shape[:2]
    boxes = boxes.to(images.device)
    offsets = torch.arange(patch, device=images.device)
    rows = (boxes[:, 1, None] + offsets)                     # (N, p)
    cols = (boxes[:, 0, None] + offsets)                     # (N, p)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return images[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
