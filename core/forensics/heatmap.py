"""Turn detector maps into displayable RGB images (GUI views and the PDF report use these; no Qt here).

All outputs are H x W x 3 uint8 RGB arrays.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

COLORMAP = cv2.COLORMAP_INFERNO  # perceptually uniform, readable in greyscale print


def _as_numpy(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().float().cpu().numpy()
    return np.asarray(array)


def colorize(heatmap, colormap: int = COLORMAP) -> np.ndarray:
    """H x W map with values in [0, 1] (clipped; NaN -> 0) -> H x W x 3 uint8 RGB through a perceptual colormap."""
    values = _as_numpy(heatmap).astype(np.float32)
    if values.ndim != 2:
        raise ValueError(f"heatmap must be H x W, got shape {values.shape}")
    values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    grey = np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(grey, colormap)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def overlay(image_rgb, heatmap, alpha: float = 0.45, colormap: int = COLORMAP) -> np.ndarray:
    """Blend the colorized heatmap over an H x W x 3 uint8 RGB image; the heatmap is resized (bilinear) to the image."""
    image = _as_numpy(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H x W x 3 uint8 RGB, got {image.dtype} {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    values = _as_numpy(heatmap).astype(np.float32)
    height, width = image.shape[:2]
    if values.shape != (height, width):
        values = cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
    colours = colorize(values, colormap)
    blended = image.astype(np.float32) * (1.0 - alpha) + colours.astype(np.float32) * alpha
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def noise_to_image(srm_map, percentile: float = 99.0) -> np.ndarray:
    """3 x H x W SRM residual -> H x W x 3 uint8 for display (the three kernel maps become R, G and B).

    Robust, symmetric normalisation: values are divided by the `percentile`-th percentile of |residual| over the whole
    map (so a few saturated pixels do not wash out the rest), clipped to [-1, 1] and mapped to 0..255 with zero
    residual at mid-grey (128). An all-zero map gives a uniform mid-grey image.
    """
    values = _as_numpy(srm_map).astype(np.float32)
    if values.ndim != 3 or values.shape[0] != 3:
        raise ValueError(f"SRM map must be 3 x H x W, got shape {values.shape}")
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.percentile(np.abs(values), percentile))
    if scale <= 1e-12:
        scale = float(np.abs(values).max())
    normalised = values / scale if scale > 1e-12 else np.zeros_like(values)
    image = (np.clip(normalised, -1.0, 1.0) + 1.0) * 127.5
    return np.ascontiguousarray(np.round(image).astype(np.uint8).transpose(1, 2, 0))
