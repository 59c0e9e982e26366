"""Face detection: every face in an RGB frame, as boxes + six keypoints in full-frame pixels.

Wraps MediaPipe's BlazeFace detectors (``mp.solutions.face_detection``; the models ship inside the wheel,
so nothing is downloaded). Two models exist: 0 = short range (128 px input, made for faces filling a
selfie), 1 = full range (192 px input, faces anywhere in a scene). Measured on the FF++ c23 clips sampled
at 1 fps, both find a face in 100 % of frames, but short range also fires on a non-human face in an inset
(clip 004: a Wookiee, 14/62 frames at 5-frame steps, scores 0.63-0.70), which would add a bogus identity;
full range never does. Full range, however, misses tight portraits: 24/400 FFHQ 256 px stills, all of
which short range finds with scores >= 0.82 (so one of two faces side by side went missing, 2/40 pairs).
Hence the default ``model_selection=None`` ("auto"): full range, plus short-range faces that overlap no
full-range face and score >= 0.75 (``AUTO_SHORT_RANGE_MIN_SCORE``; short range on real faces scored
>= 0.74 on FF++ and >= 0.82 on FFHQ, on noise and background crops <= 0.64, on the inset 0.70).

Keypoints are then refined (``refine=True``): BlazeFace's eye points on a whole frame are coarse (the face
spans a few dozen pixels of the model input), giving eye-line angles off by 3.5 deg on average and up to
14 deg against face-mesh eye corners on these clips. Re-running the short-range model on an eye-levelled
crop of each face (1.6x margin) and mapping its keypoints back cuts that to 1.4 deg mean / 5.7 deg worst
for one extra ~2 ms detector call per face. (On tight crops the short-range model is the more precise
one: its keypoints on level crops scatter 2x less than full range's.)

Coordinates are continuous pixel coordinates of the full, original frame: the frame spans [0, W] x [0, H]
and pixel (i, j) covers [i, i+1) x [j, j+1). Boxes may reach slightly beyond the frame for faces cut by
the border; they are not clipped, so the face geometry (centre, size) stays true.

Not thread-safe (MediaPipe graphs are not): use one ``FaceDetector`` per thread. An instance binds to the
first thread that calls ``detect`` and raises ``RuntimeError`` if another thread uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.faces._solution import MediaPipeSolution, as_rgb_uint8, downscale
from core.faces.align import align_crop, invert_points

SHORT_RANGE = 0
FULL_RANGE = 1

AUTO_SHORT_RANGE_MIN_SCORE = 0.75
_REFINE_SIZE = 192
_REFINE_MARGIN = 1.6
_REFINE_MAX_TURN_DEG = 30.0  # a bigger correction means the crop caught something else: keep the first pass

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")


@dataclass(frozen=True, eq=False)
class FaceDetection:
    """One face. ``keypoints`` is (6, 2) float pixels in MediaPipe order, see ``KEYPOINT_NAMES``.

    "right" is the subject's right, i.e. the eye on the image's left for a face looking at the camera.
    """

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @property
    def right_eye(self) -> np.ndarray:
        return self.keypoints[0]

    @property
    def left_eye(self) -> np.ndarray:
        return self.keypoints[1]

    @property
    def eye_angle_deg(self) -> float:
        """Tilt of the line from right eye to left eye, in degrees; 0 = level, positive = clockwise on screen
        (image y points down), i.e. the subject's left eye lower than the right."""
        dx, dy = self.left_eye - self.right_eye
        return math.degrees(math.atan2(float(dy), float(dx)))


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _containment(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box: 1.0 when one box lies inside the other."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], iou: float, containment: float) -> bool:
    return box_iou(a, b) > iou or _containment(a, b) > containment


def nms(detections: list[FaceDetection], iou: float = 0.5, containment: float = 0.8) -> list[FaceDetection]:
    """Greedy non-maximum suppression, best score first.

    Besides plain IoU, a box lying mostly inside a better one (a face-within-a-face double hit) is dropped.
    """
    kept: list[FaceDetection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(_overlaps(d.box, k.box, iou, containment) for k in kept):
            kept.append(d)
    return kept


class FaceDetector(MediaPipeSolution):
    """Find all faces in RGB frames. Context manager; one instance per thread (see module docstring).

    ``model_selection``: 0 short range, 1 full range, ``None`` auto (full range plus confident short-range
    faces that full range missed; see module docstring).
    ``max_side``: frames whose longer side exceeds it are downscaled before detection, purely for speed;
    coordinates are always returned in pixels of the original frame.
    ``refine``: re-estimate keypoints on an eye-levelled crop of each face (see module docstring).
    """

    def __init__(
        self,
        min_confidence: float = 0.5,
        model_selection: int | None = None,
        max_side: int = 1280,
        refine: bool = True,
    ):
        super().__init__()
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if model_selection not in (None, SHORT_RANGE, FULL_RANGE):
            raise ValueError(f"model_selection must be 0, 1 or None, got {model_selection!r}")
        self.min_confidence = float(min_confidence)
        self.model_selection = model_selection
        self.max_side = int(max_side)
        self.refine = bool(refine)

    def _create_graph(self, key: int):
        from mediapipe.python.solutions import face_detection  # deferred: importing mediapipe takes ~1 s

        return face_detection.FaceDetection(min_detection_confidence=self.min_confidence, model_selection=key)

    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        """All faces in ``image_rgb`` (HxWx3 uint8 RGB), best score first; [] when there is none."""
        image = as_rgb_uint8(image_rgb)
        h, w = image.shape[:2]
        small = downscale(image, self.max_side)
        if self.model_selection is None:
            full = nms(self._run(FULL_RANGE, small, w, h))
            floor = max(self.min_confidence, AUTO_SHORT_RANGE_MIN_SCORE)
            short = [d for d in self._run(SHORT_RANGE, small, w, h) if d.score >= floor]
            # Same face seen by both models: keep the full-range one (boxes stay in one convention
            # across frames, so crops do not jitter). The two box styles differ, hence the loose overlap.
            extra = [d for d in nms(short) if not any(_overlaps(d.box, f.box, 0.3, 0.5) for f in full)]
            found = sorted(full + extra, key=lambda d: -d.score)
        else:
            found = nms(self._run(self.model_selection, small, w, h))
        if self.refine:
            found = [self._refine(image, d) for d in found]
        return found

    def _refine(self, image: np.ndarray, det: FaceDetection) -> FaceDetection:
        """Same box and score, keypoints re-measured on an eye-levelled crop at full frame resolution."""
        aligned = align_crop(image, det, _REFINE_SIZE, margin=_REFINE_MARGIN)
        hits = self._run(SHORT_RANGE, aligned.crop, _REFINE_SIZE, _REFINE_SIZE)
        centre = np.array([_REFINE_SIZE / 2.0, _REFINE_SIZE / 2.0])
        hits = [d for d in hits if np.hypot(*(np.array(d.center) - centre)) < 0.25 * _REFINE_SIZE]
        if not hits:
            return det
        best = min(hits, key=lambda d: np.hypot(*(np.array(d.center) - centre)))
        if abs(best.eye_angle_deg) > _REFINE_MAX_TURN_DEG:
            return det
        return FaceDetection(det.box, det.score, invert_points(aligned.matrix, best.keypoints))

    def _run(self, model: int, image: np.ndarray, w: int, h: int) -> list[FaceDetection]:
        """One MediaPipe pass; relative coordinates scaled by the ORIGINAL frame size ``w`` x ``h``."""
        result = self._process(model, image)
        out: list[FaceDetection] = []
        for det in result.detections or []:
            loc = det.location_data
            rb = loc.relative_bounding_box
            if rb.width <= 0 or rb.height <= 0:
                continue
            box = (rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h)
            kps = np.array([(kp.x * w, kp.y * h) for kp in loc.relative_keypoints], dtype=np.float64)
            if kps.shape != (6, 2):
                continue
            out.append(
                FaceDetection(box=tuple(float(v) for v in box), score=float(det.score[0]), keypoints=kps)
            )
        return out
