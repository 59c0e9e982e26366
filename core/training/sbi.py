"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022): pseudo-fakes made from one real face.

A copy of the face (the *source*) is altered slightly (colour, frequency content, a small shift/scale) and
pasted back over the untouched face (the *target*) through a soft mask on the face region:

    fake = source * mask + target * (1 - mask)

The result has the generic traces of face forgery (a blending boundary, colour and sharpness mismatch,
slightly misplaced landmarks) without any particular generator's fingerprint, which is why detectors trained on
it generalise to unseen manipulations.

Steps (``self_blend``), all random choices drawn from the caller's ``numpy.random.Generator`` (same seed, same
output; OpenCV operations are deterministic):

1. Landmarks: MediaPipe's 468-point face mesh (``core.faces.FaceMesher``) unless given. Mask = convex hull of
   the landmarks (``core.faces.face_hull_mask``); with probability ``p_no_forehead`` the hull stops at the
   eyebrows (the paper's 68-point dlib hull, which has no forehead, plays the same role).
2. Source: colour jitter (RGB shift, HSV, brightness/contrast), then one frequency jitter, as in the paper's code:
   down-/up-scaling (a compression-like loss of detail) or sharpening. Gaussian blur, once a third choice here,
   made the pasted face the blurrier one in three blends of four and taught "blurry = fake" (``SBIConfig.frequency``).
3. Source and mask: one small random affine (translation up to 3 % / 1.5 % of the width / height, scale
   0.95..1/0.95) so the pasted face is slightly misaligned.
4. Mask deformation: elastic warp (smoothed random displacement field), binarised, then a random erosion or
   dilation, then a Gaussian blur for a soft boundary, normalised to a peak of 1 and scaled by a blend ratio
   drawn from (0.25, 0.5, 0.75, 1, 1, 1).

Deviation from the paper's code: there, half of the time the colour/frequency jitter is applied to the target
instead of the source, and the (jittered) target is returned as the paired real. Here the target is always the
untouched input, so a pseudo-fake differs from its real face *only* where the mask is non-zero and a detector
cannot learn a global colour shift as the cue. Sizes (kernels, displacements) are defined for a 256 px face and
scale with the face size.

The mask returned is the float32 H x W blend weight in [0, 1] (0 exactly wherever the fake equals the input).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import NoFaceError
from core.faces import FaceMesher, face_hull_mask

METHOD = "sbi"
LABEL = 1  # self-blended images are fakes

_REF = 256.0  # sizes below are for a 256 px face
# MediaPipe face-mesh indices: outer eye corners (subject's right, left) and the upper eyebrow arcs.
_EYE_OUTER = (33, 263)
_BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)


@dataclass(frozen=True)
class SBIConfig:
    p_no_forehead: float = 0.25
    p_rgb_shift: float = 0.3
    rgb_shift: float = 20.0  # +- per channel, 0..255 scale
    hue_shift: float = 3.0  # +- OpenCV hue units (0..180), i.e. +-6 degrees
    sat_scale: float = 0.1  # saturation multiplied by 1 +- this
    val_scale: float = 0.1  # value multiplied by 1 +- this
    brightness: float = 0.1  # +- fraction of 255 added
    contrast: float = 0.1  # contrast multiplied by 1 +- this
    frequency: tuple[str, ...] = ("downscale", "sharpen")  # one drawn per blend: the paper's OneOf (also "blur")
    downscale: tuple[float, float] = (2.0, 4.0)  # frequency jitter: shrink by this factor and enlarge back
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    shift: tuple[float, float] = (0.03, 0.015)  # +- fraction of width, height
    scale: tuple[float, float] = (0.95, 1 / 0.95)
    elastic_alpha: float = 50.0  # displacement magnitude (px at 256)
    elastic_sigma: float = 7.0  # smoothness of the displacement field (px at 256)
    morph_radius: int = 8  # erosion/dilation radius drawn from -this..+this (px at 256)
    blur_kernel: tuple[int, int] = (5, 25)  # odd Gaussian kernel sizes for the soft boundary (px at 256)
    blur_mask_sigma: tuple[float, float] = (5.0, 45.0)
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:   # a misspelt jitter would otherwise fall through to sharpening unnoticed
        unknown = set(self.frequency) - {"downscale", "blur", "sharpen"}
        if unknown or not self.frequency:
            raise ValueError(f"SBIConfig.frequency: expected names from downscale, blur, sharpen, got {self.frequency}")


DEFAULT_CONFIG = SBIConfig()
_local = threading.local()


def _default_mesher() -> FaceMesher:
    """One FaceMesher per thread (MediaPipe graphs are bound to the thread that first uses them)."""
    mesher = getattr(_local, "mesher", None)
    if mesher is None or mesher.closed:
        mesher = _local.mesher = FaceMesher(max_faces=1)
    return mesher


def face_landmarks(face_rgb: np.ndarray, mesher: FaceMesher | None = None) -> np.ndarray | None:
    """(468, 2) face-mesh landmarks of the face filling ``face_rgb`` (a face crop), or None if none is found."""
    found = (mesher or _default_mesher()).landmarks(face_rgb)
    if not found:
        return None
    if len(found) > 1:  # keep the face nearest the crop centre
        centre = np.array([face_rgb.shape[1], face_rgb.shape[0]]) / 2.0
        found = sorted(found, key=lambda p: float(np.hypot(*(p.mean(axis=0) - centre))))
    return found[0]


def hull_points(landmarks: np.ndarray, no_forehead: bool = False) -> np.ndarray:
    """The landmarks whose convex hull is the blend region; without forehead: those at or below the brows."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if not no_forehead or len(pts) <= max(_BROWS):
        return pts
    eye_line = pts[_EYE_OUTER[1]] - pts[_EYE_OUTER[0]]
    norm = float(np.hypot(*eye_line))
    if norm == 0:
        return pts
    down = np.array([-eye_line[1], eye_line[0]]) / norm  # perpendicular to the eye line, pointing chin-wards
    depth = pts @ down
    keep = depth >= depth[list(_BROWS)].mean()
    return pts[keep] if keep.sum() >= 3 else pts


def self_blend(
    face_rgb: np.ndarray,
    landmarks: np.ndarray | None,
    rng: np.random.Generator | int | None,
    *,
    mesher: FaceMesher | None = None,
    config: SBIConfig = DEFAULT_CONFIG,
) -> tuple[np.ndarray, np.ndarray]:
    """(pseudo-fake H x W x 3 uint8 RGB, blend mask H x W float32 in [0, 1]) from a real face crop.

    ``landmarks``: (N, 2) face landmarks in crop pixels (e.g. cached); None to run the face mesh (``mesher``,
    or a per-thread default). Raises NoFaceError when the mesh finds no face, ValueError for a bad array.
    Label of the result: fake (``LABEL``), method ``METHOD`` ("sbi").
    """
    face = _check_face(face_rgb)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if landmarks is None:
        landmarks = face_landmarks(face, mesher)
        if landmarks is None:
            raise NoFaceError("face mesh found no face in the crop: cannot make a self-blended image")
    h, w = face.shape[:2]
    k = max(h, w) / _REF

    hull = face_hull_mask(face.shape, hull_points(landmarks, rng.random() < config.p_no_forehead))
    if not hull.any():
        raise NoFaceError("the face landmarks enclose no pixels of the crop")
    mask = (hull > 0).astype(np.float32)

    source = _frequency_jitter(_colour_jitter(face, rng, config), rng, config, k)
    source, mask = _random_affine(source, mask, rng, config)
    mask = _deform_mask(mask, rng, config, k)
    mask *= np.float32(config.blend_ratios[int(rng.integers(len(config.blend_ratios)))])

    m = mask[:, :, None]
    fake = source.astype(np.float32) * m + face.astype(np.float32) * (1.0 - m)
    return np.clip(np.rint(fake), 0, 255).astype(np.uint8), mask


def _check_face(face_rgb: np.ndarray) -> np.ndarray:
    if not isinstance(face_rgb, np.ndarray) or face_rgb.dtype != np.uint8:
        raise ValueError("expected a uint8 numpy face image")
    if face_rgb.ndim != 3 or face_rgb.shape[2] != 3 or min(face_rgb.shape[:2]) < 16:
        raise ValueError(f"expected an H x W x 3 RGB face of at least 16 px, got shape {face_rgb.shape}")
    return np.ascontiguousarray(face_rgb)


# ------------------------------------------------------------------------------------------- source jitter


def _colour_jitter(img: np.ndarray, rng: np.random.Generator, c: SBIConfig) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < c.p_rgb_shift:
        out += rng.uniform(-c.rgb_shift, c.rgb_shift, size=3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.uniform(-c.hue_shift, c.hue_shift), 180.0)
    hsv[..., 1] *= 1.0 + rng.uniform(-c.sat_scale, c.sat_scale)
    hsv[..., 2] *= 1.0 + rng.uniform(-c.val_scale, c.val_scale)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    alpha = 1.0 + rng.uniform(-c.contrast, c.contrast)
    beta = 255.0 * rng.uniform(-c.brightness, c.brightness)
    mean = out.mean()
    out = (out - mean) * alpha + mean + beta
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _frequency_jitter(img: np.ndarray, rng: np.random.Generator, c: SBIConfig, k: float) -> np.ndarray:
    h, w = img.shape[:2]
    choice = c.frequency[int(rng.integers(len(c.frequency)))]
    if choice == "downscale":  # lose detail like a heavier compression: shrink (nearest) and enlarge back (bilinear)
        r = rng.uniform(*c.downscale)
        small = cv2.resize(img, (max(1, round(w / r)), max(1, round(h / r))), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if choice == "blur":
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(*c.blur_sigma) * k)
    alpha = rng.uniform(*c.sharpen_alpha)
    lightness = rng.uniform(*c.sharpen_lightness)
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1
    effect = np.array([[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], np.float32)
    kernel = (1 - alpha) * identity + alpha * effect
    kernel /= kernel.sum()
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _random_affine(
    img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, c: SBIConfig
) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    tx = rng.uniform(-c.shift[0], c.shift[0]) * w
    ty = rng.uniform(-c.shift[1], c.shift[1]) * h
    s = rng.uniform(*c.scale)
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), 0.0, s)
    m[:, 2] += (tx, ty)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, mask


# ------------------------------------------------------------------------------------------ mask deformation


def _odd(n: float) -> int:
    n = max(1, int(round(n)))
    return n if n % 2 else n + 1


def _deform_mask(mask: np.ndarray, rng: np.random.Generator, c: SBIConfig, k: float) -> np.ndarray:
    h, w = mask.shape
    # Elastic warp: a smooth random displacement field (as albumentations' ElasticTransform).
    sigma = c.elastic_sigma * k
    field = rng.uniform(-1.0, 1.0, size=(2, h, w)).astype(np.float32)
    dx = cv2.GaussianBlur(field[0], (0, 0), sigma) * (c.elastic_alpha * k)
    dy = cv2.GaussianBlur(field[1], (0, 0), sigma) * (c.elastic_alpha * k)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    binary = (mask >= 0.5).astype(np.uint8)
    if not binary.any():  # degenerate (tiny hull): keep the undeformed support
        binary = (mask > 0).astype(np.uint8)
    # Erode or dilate the boundary by a random radius.
    radius = int(round(rng.integers(-c.morph_radius, c.morph_radius + 1) * k))
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1, 2 * abs(radius) + 1))
        changed = cv2.erode(binary, kernel) if radius < 0 else cv2.dilate(binary, kernel)
        if changed.any():
            binary = changed
    # Soft boundary.
    ksize = _odd(int(rng.integers(c.blur_kernel[0] // 2, c.blur_kernel[1] // 2 + 1)) * 2 * k + 1)
    soft = cv2.GaussianBlur(binary.astype(np.float32), (ksize, ksize), rng.uniform(*c.blur_mask_sigma) * k)
    peak = float(soft.max())
    soft = soft / peak if peak > 0 else soft
    return soft.astype(np.float32)
