"""468-point face meshes and face-hull masks (used by the trainer for self-blended pseudo-fakes).

Wraps ``mp.solutions.face_mesh`` in static-image mode (every frame independent: sampled frames are far
apart, and temporal smoothing would leak one frame's geometry into the next) without iris refinement
(468 points, which is all a hull mask needs). Landmarks are (468, 2) float continuous pixel coordinates of
the full frame, like ``FaceDetection``.

Given detections, each face is meshed on its own eye-levelled crop (``align_crop`` with a wide margin) and
mapped back: more robust for small faces in HD frames than MediaPipe's own internal face search. Not
thread-safe: one ``FaceMesher`` per thread (see ``core.faces._solution``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.faces._solution import MediaPipeSolution, as_rgb_uint8, downscale
from core.faces.align import align_crop, invert_points
from core.faces.detect import FaceDetection

N_LANDMARKS = 468
_CROP_SIZE = 256
_CROP_MARGIN = 2.0


class FaceMesher(MediaPipeSolution):
    """Face-mesh landmarks per face. Context manager; one instance per thread."""

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5, max_side: int = 1280):
        super().__init__()
        self.max_faces = int(max_faces)
        self.min_confidence = float(min_confidence)
        self.max_side = int(max_side)

    def _create_graph(self, key: int):
        from mediapipe.python.solutions import face_mesh  # deferred: importing mediapipe takes ~1 s

        return face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=key,
            refine_landmarks=False,
            min_detection_confidence=self.min_confidence,
        )

    def _mesh(self, image: np.ndarray, max_faces: int) -> list[np.ndarray]:
        h, w = image.shape[:2]
        result = self._process(max_faces, downscale(image, self.max_side))
        out = []
        for face in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h) for p in face.landmark[:N_LANDMARKS]], dtype=np.float64)
            if pts.shape == (N_LANDMARKS, 2):
                out.append(pts)
        return out

    def landmarks(
        self, image_rgb: np.ndarray, detections: Sequence[FaceDetection] | None = None
    ) -> list[np.ndarray | None]:
        """(468, 2) landmarks per face.

        Without ``detections``: every face MediaPipe finds itself (up to ``max_faces``). With them: one
        entry per detection, in order, ``None`` where the mesh failed on that face.
        """
        image = as_rgb_uint8(image_rgb)
        if detections is None:
            return list(self._mesh(image, self.max_faces))
        out: list[np.ndarray | None] = []
        for det in detections:
            aligned = align_crop(image, det, _CROP_SIZE, margin=_CROP_MARGIN)
            found = self._mesh(aligned.crop, 1)
            out.append(invert_points(aligned.matrix, found[0]) if found else None)
        return out


def face_hull_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """HxW uint8 mask, 255 inside the convex hull of ``landmarks`` ((N, 2) pixels), 0 elsewhere."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.uint8)
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return mask
    # fillConvexPoly works on integer pixel centres; continuous coordinates are shifted by half a pixel.
    hull = cv2.convexHull(np.round(pts - 0.5).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8)
    return mask
