"""A face file's own JPEG storage, so that a pseudo-fake made from it can be stored exactly as the file was.

A self-blend must differ from its real face only by the blend. Stored at one global setting (say 299 px, quality
95), a blend of a 256 px FFHQ face carries an 8 px JPEG grid aligned to the 299 px crop, while its real face (a
256 px file up-scaled to 299) carries a grid of period 9.3 px: a detector learns "aligned grid = fake" and then
calls every fake without that grid real (the v3b build in ``core.training.default_model``). Here a blend is made
from the file's own pixels, encoded with the file's own quantisation tables and chroma subsampling, decoded as the
face cache decodes files (OpenCV), and only then resized like its real face. Re-encoding a decoded file with its own
tables changes it by 0.02-0.35 grey levels on average (measured on FF++ and FFHQ faces), so a stored blend is, away
from the blend, the file it came from.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError


@dataclass(frozen=True)
class JpegStorage:
    """How one JPEG file was stored: its quantisation tables and chroma subsampling."""

    qtables: tuple[tuple[int, ...], ...]
    subsampling: int  # PIL's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    def store(self, image_rgb: np.ndarray) -> np.ndarray:
        """``image_rgb`` as a decoder returns it after encoding it as this file was encoded."""
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image_rgb)).save(
            buffer, format="JPEG", qtables=[list(t) for t in self.qtables], subsampling=self.subsampling)
        decoded = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(decoded[..., ::-1])


def read_jpeg_face(path: str | Path) -> tuple[np.ndarray, JpegStorage] | None:
    """The file's centre square as the face cache decodes it (RGB) and how it was stored; None for a file that is
    not a 3-channel JPEG, has an EXIF rotation, or whose centre square is off its block grid (then its storage
    cannot be repeated)."""
    data = Path(path).read_bytes()  # read once, read-only: evidence and data files are never written
    try:
        with Image.open(io.BytesIO(data)) as im:
            if not isinstance(im, JpegImagePlugin.JpegImageFile) or im.mode != "RGB":
                return None
            if im.getexif().get(0x0112, 1) != 1:  # orientation: OpenCV would rotate the pixels the tables belong to
                return None
            tables = tuple(tuple(im.quantization[k]) for k in sorted(im.quantization))
            subsampling = JpegImagePlugin.get_sampling(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    if subsampling < 0:
        return None
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    h, w = bgr.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    if (y0 | x0) % 16:  # the square would not sit on the file's JPEG (and 4:2:0 chroma) grid
        return None
    return np.ascontiguousarray(bgr[y0:y0 + side, x0:x0 + side, ::-1]), JpegStorage(tables, subsampling)
