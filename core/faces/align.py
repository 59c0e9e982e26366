"""Eye-levelled square face crops for the detectors, and the way back from crop to frame.

Convention (DeepfakeBench): a square of side ``margin * max(box w, h)`` (1.3 by default) centred on the
detection box, rotated about that centre so the eyes are level, resized to ``size``. The returned 2x3
``matrix`` maps continuous frame pixel coordinates to crop pixel coordinates (frame spans [0, W] x [0, H],
crop spans [0, size]^2), so the box centre lands exactly on (size / 2, size / 2). ``invert_points`` and
``paste_heatmap`` use it to bring crop-space results (landmarks, attention maps) back onto the frame.

Outside the frame the crop is filled with black (BORDER_CONSTANT), not mirrored: reflection would invent
face-like structure and hard mirror seams, exactly the kind of blending artefact a forgery detector looks
for, and would make a face at the frame edge look doubled. Black is plainly "no data" and is what
DeepfakeBench's own warpAffine crops produce.

Quality: when the face is shrunk below 0.75x (the usual case for HD video), the needed frame region is
first downscaled with INTER_AREA (cv2.warpAffine has no area filter and would alias fine texture, which
carries the forgery traces), then rotated bilinearly; milder shrinks warp bilinearly in one step;
enlargement uses INTER_CUBIC.

Recompression (``jpeg=(side, quality)``): a model trained on faces that were saved as JPEG reads compression
traces, so a face that never went through JPEG looks foreign to it. Such a model names the way its faces were
stored; the crop is then cut at ``side``, JPEG-encoded at ``quality`` and decoded, and only then resized to
``size``, the path its training faces took. The shipped default model needs it: its training crops are 299 px
JPEG quality 95 (FaceForensics++ crops), and without it the real FF++ clip 004.mp4 scored 0.99 fake, with it 0.57.
With ``fit="centre"`` the stored face is not resized at all: the model reads its middle ``size`` pixels, cut on
the JPEG's 8 px block grid (``fit_face``), so compression blocks and the finest texture reach it untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # align only reads .box/.center/.eye_angle_deg; detect imports align at runtime
    from core.faces.detect import FaceDetection

Box = tuple[float, float, float, float]

# Below this scale the frame region is area-filtered first; between it and 1 bilinear aliasing is slight and
# a second resampling would only blur.
_PRESHRINK_BELOW = 0.75


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """A ``size`` x ``size`` x 3 uint8 RGB crop, the 2x3 frame->crop ``matrix``, the source box (frame
    pixels), the tracker identity if known, and the rotation applied (degrees, = the eye angle)."""

    crop: np.ndarray
    matrix: np.ndarray
    box: Box
    identity: int | None = None
    angle_deg: float = 0.0


def crop_matrix(detection: FaceDetection, size: int, margin: float = 1.3) -> np.ndarray:
    """The 2x3 affine (continuous coordinates) taking the frame to the aligned ``size`` crop."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    side = margin * max(detection.width, detection.height)
    if not side > 0:
        raise ValueError(f"degenerate detection box {detection.box}")
    cx, cy = detection.center
    theta = math.radians(detection.eye_angle_deg)
    s = size / side
    # Rotate by -theta (undo the tilt) and scale about the face centre, then move it to the crop centre.
    c, si = s * math.cos(theta), s * math.sin(theta)
    a = np.array([[c, si], [-si, c]])
    t = np.array([size / 2.0, size / 2.0]) - a @ np.array([cx, cy])
    return np.hstack([a, t[:, None]])


def transform_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (N, 2) points (frame -> crop with an AlignedFace.matrix)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine (crop -> frame for an AlignedFace.matrix)."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def invert_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map (N, 2) crop-space points back to frame pixels."""
    return transform_points(invert_matrix(matrix), pts)


def _to_index_coords(m: np.ndarray) -> np.ndarray:
    """Convert an affine in continuous coordinates to OpenCV's pixel-index convention (centres on
    integers), which is what cv2.warpAffine interprets: u_idx = A (x_idx + 0.5) + t - 0.5."""
    out = np.array(m, dtype=np.float64)
    out[:, 2] = m[:, 2] + m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return out


def align_crop(
    image_rgb: np.ndarray,
    detection: FaceDetection,
    size: int,
    margin: float = 1.3,
    identity: int | None = None,
    jpeg: tuple[int, int] | None = None,
    fit: str = "resize",
) -> AlignedFace:
    """Cut the eye-levelled square crop of ``detection`` out of ``image_rgb`` (see module docstring); with
    ``jpeg=(side, quality)`` the crop is cut at ``side``, passed through JPEG and brought to ``size`` by ``fit``
    ("resize", or "centre": its middle ``size`` pixels)."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if jpeg is not None:
        side, quality = jpeg
        face = align_crop(image_rgb, detection, side, margin, identity)
        stored = jpeg_round_trip(face.crop, quality)
        crop = fit_face(stored, size, fit)
        if fit == "centre" and side > size:
            matrix = face.matrix.copy()
            matrix[:, 2] -= centre_offset(side, size)
        else:
            matrix = np.diag([size / side, size / side]) @ face.matrix
        return AlignedFace(crop, matrix, face.box, identity, face.angle_deg)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image_rgb.shape} {image_rgb.dtype}")
    m = crop_matrix(detection, size, margin)
    scale = math.hypot(m[0, 0], m[0, 1])
    h, w = image_rgb.shape[:2]

    src, m_src = image_rgb, m
    interp = cv2.INTER_CUBIC if scale >= 1.0 else cv2.INTER_LINEAR
    if scale < _PRESHRINK_BELOW:
        # Region of the frame the crop covers, padded for the interpolation kernel, clipped to the frame
        # (beyond the frame, black either way).
        corners = invert_points(m, np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64))
        x0 = max(0, math.floor(corners[:, 0].min()) - 2)
        y0 = max(0, math.floor(corners[:, 1].min()) - 2)
        x1 = min(w, math.ceil(corners[:, 0].max()) + 2)
        y1 = min(h, math.ceil(corners[:, 1].max()) + 2)
        if x1 <= x0 or y1 <= y0:  # face entirely outside the frame: nothing to sample
            crop = np.zeros((size, size, 3), np.uint8)
            return AlignedFace(crop, m, detection.box, identity, detection.eye_angle_deg)
        rw, rh = x1 - x0, y1 - y0
        nw, nh = max(1, round(rw * scale)), max(1, round(rh * scale))
        src = cv2.resize(image_rgb[y0:y1, x0:x1], (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / rw, nh / rh
        # frame -> small region: x_small = (x - x0) * sx; compose m with its inverse.
        back = np.array([[1 / sx, 0, x0], [0, 1 / sy, y0]], dtype=np.float64)
        m_src = m[:, :2] @ back[:, :2]
        m_src = np.hstack([m_src, (m[:, :2] @ back[:, 2] + m[:, 2])[:, None]])
        interp = cv2.INTER_LINEAR

    crop = cv2.warpAffine(
        src,
        _to_index_coords(m_src),
        (size, size),
        flags=interp,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return AlignedFace(crop, m, detection.box, identity, detection.eye_angle_deg)


FITS = ("resize", "centre")


def centre_offset(side: int, size: int) -> int:
    """Where the middle ``size`` pixels of a ``side`` px face start, rounded down to the 8 px JPEG block grid."""
    return (side - size) // 2 // 8 * 8


def fit_face(face: np.ndarray, size: int, fit: str = "resize") -> np.ndarray:
    """A square face brought to ``size`` px: resized (area filter down, cubic up), or with ``fit="centre"`` its
    middle ``size`` px cut out unresampled (a face no larger than ``size`` is resized either way)."""
    side = face.shape[0]
    if side == size:
        return face
    if fit == "centre" and side > size:
        at = centre_offset(side, size)
        return np.ascontiguousarray(face[at:at + size, at:at + size])
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def jpeg_round_trip(image_rgb: np.ndarray, quality: int) -> np.ndarray:
    """The RGB image as a JPEG decoder returns it after encoding at ``quality`` (OpenCV's libjpeg, 4:2:0)."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def paste_heatmap(
    frame_shape: tuple[int, ...],
    matrix: np.ndarray,
    heatmap: np.ndarray,
    crop_size: int | None = None,
) -> np.ndarray:
    """Map a crop-space heatmap back onto the frame: HxW float32, 0 outside the crop.

    ``heatmap`` may be at any resolution (e.g. a 14x14 ViT attention grid); it is taken to span the whole
    crop of side ``crop_size`` (default: the heatmap's own size, i.e. a crop-resolution map). Sampling is
    bilinear; edge values are held up to the crop border instead of fading into the black fill. Combine
    several faces with ``np.maximum``.
    """
    H, W = int(frame_shape[0]), int(frame_shape[1])
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"heatmap must be a non-empty 2-D array, got shape {heat.shape}")
    hh, hw = heat.shape
    side = float(crop_size) if crop_size is not None else float(max(hh, hw))
    # frame -> heatmap grid = (crop -> heatmap scaling) o (frame -> crop)
    to_grid = np.diag([hw / side, hh / side]) @ np.asarray(matrix, dtype=np.float64)
    fwd = _to_index_coords(to_grid)  # WARP_INVERSE_MAP: each frame pixel samples the grid at fwd(pixel)
    values = cv2.warpAffine(
        heat, fwd, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    inside = cv2.warpAffine(
        np.ones((hh, hw), np.uint8),
        fwd,
        (W, H),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return values * inside
