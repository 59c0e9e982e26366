"""Image plumbing between the engine (numpy RGB, encoded JPEG/PNG bytes) and Qt (QImage/QPixmap).

Heatmap maths comes from core (colorize/overlay/paste_heatmap) so the GUI and the PDF report show the same thing.
core.forensics.heatmap imports torch, so it is imported on first use rather than at startup.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage, QPixmap


def decode(data: bytes | None, grey: bool = False) -> np.ndarray | None:
    """Encoded JPEG/PNG bytes -> RGB (or single-channel when `grey`) uint8 array; None when missing/undecodable."""
    if not data:
        return None
    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        return None
    return image if grey else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


def downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def to_qimage(rgb: np.ndarray) -> QImage:
    """Deep-copied QImage (the numpy buffer may go away)."""
    array = np.ascontiguousarray(rgb)
    if array.ndim == 2:
        h, w = array.shape
        return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_Grayscale8).copy()
    h, w = array.shape[:2]
    return QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGB888).copy()


def to_pixmap(rgb: np.ndarray | None) -> QPixmap:
    return QPixmap() if rgb is None else QPixmap.fromImage(to_qimage(rgb))


def crop_overlay(crop: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Attention (grey, any size) blended over the face crop."""
    from core.forensics.heatmap import overlay

    return overlay(crop, attention.astype(np.float32) / 255.0)


def frame_overlay(frame: np.ndarray, maps: list[tuple[list[list[float]], np.ndarray, int]],
                  scale: float) -> np.ndarray:
    """Paste each face's crop-space attention back onto the (possibly downscaled) frame and blend it.

    `maps` holds (frame->crop matrix in original frame pixels, grey attention, crop side); `scale` is displayed
    pixels per original pixel, folded into the matrix so the paste happens at display resolution.
    """
    from core.faces.align import paste_heatmap
    from core.forensics.heatmap import overlay

    heat = np.zeros(frame.shape[:2], np.float32)
    inside = np.zeros(frame.shape[:2], np.float32)
    for matrix, attention, side in maps:
        m = np.asarray(matrix, np.float64).copy()
        m[:, :2] /= scale
        heat = np.maximum(heat, paste_heatmap(frame.shape, m, attention.astype(np.float32) / 255.0, crop_size=side))
        inside = np.maximum(inside, paste_heatmap(frame.shape, m, np.ones((8, 8), np.float32), crop_size=side))
    blended = overlay(frame, heat, alpha=0.5)
    return np.where(inside[..., None] > 0.5, blended, frame)   # colour the face crops only, not the whole frame


def placeholder(width: int = 640, height: int = 360, text_rgb=(60, 64, 70)) -> np.ndarray:
    """A neutral dark frame for when neither the evidence nor a stored thumbnail is available."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = text_rgb
    return image
