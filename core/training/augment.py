"""Training-time image augmentation: the degradations evidence really goes through, drawn fresh every epoch.

A from-scratch detector on a few thousand faces otherwise learns the exact pixels of each training face; and the
cheap cue that separates a training set's reals from its fakes (one JPEG quality, one resize chain) is rarely the
one that holds on an investigator's file. Each crop gets, independently (probabilities in ``AugmentConfig``):

- a zoom: a random square cut of 90-100 % of the side, resized back (face crops from other detectors and
  margins are tighter or looser than ours);
- photometric jitter: brightness, contrast and saturation;
- one quality change: Gaussian blur, unsharp-mask sharpening, or down-scaling and back (SBI's source jitter, here
  applied to whole images so it cannot become a label cue);
- JPEG re-compression at quality 70-100 (social-media copies sit at 70-85);
- optionally (``p_sharpness``, off by default) sharpness matching: the face centre's Laplacian variance is moved
  to a target drawn log-uniformly from ``sharpness`` (blur or unsharp mask), whatever the label. FaceForensics++
  fakes differ from reals in sharpness (``benchmarks/sharpness.py``: Deepfakes blurrier, FaceSwap sharper), so
  "blurry = fake" is a cue that reverses on an unseen method; a matched crop's sharpness says nothing of its label.

How strong: on FaceForensics++ training crops (scene-grouped validation, block-DCT model, 4 epochs) no
augmentation reached AUC 0.70, SBI's full range (JPEG 40-100 with p 0.7, zoom 80-100 % with p 0.5, quality
changes with p 0.3) 0.62, and these defaults 0.67 with the training loss still falling: a from-scratch model on a
few thousand faces cannot afford to have most of its forgery cues erased from most of its examples.

All random choices come from the caller's ``numpy.random.Generator`` (one seed per image drawn from it), so an
epoch is reproducible from its seed, whether its images are augmented one after another or on a thread pool.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class AugmentConfig:
    p_zoom: float = 0.2
    min_zoom: float = 0.9
    p_colour: float = 0.5
    brightness: float = 0.15      # +- fraction of full scale
    contrast: float = 0.2         # factor in 1 +- this
    saturation: float = 0.2
    p_quality: float = 0.15
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (70, 100)
    p_sharpness: float = 0.0
    sharpness: tuple[float, float] = (10.0, 120.0)   # target centre Laplacian variance (log-uniform): FF++ real
    #                                                  training crops at 192 px span 13-114 (10th-90th percentile)


def augment_batch(crops: torch.Tensor, rng: np.random.Generator, config: AugmentConfig = AugmentConfig(),
                  pool: Executor | None = None) -> torch.Tensor:
    """N x 3 x S x S uint8 -> augmented copy (same shape and dtype); `pool` spreads the images over threads (OpenCV
    and NumPy release the GIL), which keeps a GPU fed, with the same result as without it."""
    images = crops.permute(0, 2, 3, 1).numpy()
    seeds = rng.integers(0, 2**63, size=len(images))

    def one(i: int) -> np.ndarray:
        return augment_image(np.ascontiguousarray(images[i]), np.random.default_rng(seeds[i]), config)

    out = np.stack(list((pool.map if pool is not None else map)(one, range(len(images)))))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def augment_image(img: np.ndarray, rng: np.random.Generator, c: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One H x W x 3 uint8 RGB image -> augmented image of the same size."""
    size = img.shape[0]
    if rng.random() < c.p_zoom:
        side = int(round(size * rng.uniform(c.min_zoom, 1.0)))
        y, x = rng.integers(0, size - side + 1, size=2)
        img = cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < c.p_colour:
        img = _colour(img, rng, c)
    if rng.random() < c.p_quality:
        img = _quality(img, rng)
    if rng.random() < c.p_sharpness:
        img = match_sharpness(img, float(np.exp(rng.uniform(*np.log(c.sharpness)))))
    if rng.random() < c.p_jpeg:
        quality = int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
        ok, data = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            img = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(img)


def _colour(img: np.ndarray, rng: np.random.Generator, c: AugmentConfig) -> np.ndarray:
    x = img.astype(np.float32)
    x = (x - x.mean()) * rng.uniform(1 - c.contrast, 1 + c.contrast) + x.mean()
    x += rng.uniform(-c.brightness, c.brightness) * 255.0
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(1 - c.saturation, 1 + c.saturation)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _quality(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = img.shape[0]
    choice = rng.integers(3)
    if choice == 0:
        return cv2.GaussianBlur(img, (0, 0), sigmaX=float(rng.uniform(0.3, 1.2)))
    if choice == 1:
        blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=1.0)
        amount = float(rng.uniform(0.3, 1.0))
        return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)
    small = max(8, int(round(size * rng.uniform(0.5, 0.9))))
    down = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR)


def centre_sharpness(img: np.ndarray) -> float:
    """Laplacian variance of the middle half of an RGB image: the face itself, not the untouched background."""
    h, w = img.shape[:2]
    grey = cv2.cvtColor(np.ascontiguousarray(img[h // 4: 3 * h // 4, w // 4: 3 * w // 4]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def match_sharpness(img: np.ndarray, target: float, steps: int = 6) -> np.ndarray:
    """Blur or unsharp-mask `img` so its centre Laplacian variance lands near `target` (bisection on the strength)."""
    current = centre_sharpness(img)
    if current <= 1e-6 or abs(np.log(target / current)) < 0.05:
        return img
    rising = target > current   # sharpen (strength raises the variance) or blur (strength lowers it)
    if not rising:
        def make(t: float) -> np.ndarray:   # t in [0, 1] -> Gaussian sigma 0.1-3
            return cv2.GaussianBlur(img, (0, 0), sigmaX=0.1 + 2.9 * t)
    else:
        soft = cv2.GaussianBlur(img, (0, 0), sigmaX=1.0)

        def make(t: float) -> np.ndarray:   # t in [0, 1] -> unsharp amount 0-4
            return cv2.addWeighted(img, 1 + 4 * t, soft, -4 * t, 0)
    lo, hi, out = 0.0, 1.0, img
    for _ in range(steps):
        mid = (lo + hi) / 2
        out = make(mid)
        if (centre_sharpness(out) < target) == rising:
            lo = mid
        else:
            hi = mid
    return out
