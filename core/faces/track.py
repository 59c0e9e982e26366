"""Face identities across sampled frames, so per-face scores can be pooled per person.

Greedy matching, best pairs first: a detection overlapping a live track (IoU >= ``iou_threshold``) is
matched on IoU. Sparse sampling (1 fps) lets a moving head jump further than its own width, so unmatched
pairs fall back to the distance between box centres divided by the mean box side (``max_center_dist``),
provided the sizes are comparable (``max_size_ratio``). IoU matches always win over distance matches.
A track not matched for more than ``max_missed`` consecutive samples is retired; a face that comes back
later gets a new id. New ids are 0, 1, 2, ... in order of first appearance (left to right within a frame).

Pure Python/numpy, no MediaPipe: safe to use anywhere, but one tracker per video.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.faces.detect import FaceDetection, box_iou

Box = tuple[float, float, float, float]


@dataclass
class Track:
    """What is known about one identity so far."""

    identity: int
    box: Box
    first_frame: int
    last_frame: int
    hits: int = 1
    missed: int = 0
    frames: list[int] = field(default_factory=list)


def _center_distance(a: Box, b: Box) -> float:
    """Distance between box centres in units of the mean box side."""
    ax, ay = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    bx, by = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    side = (a[2] - a[0] + a[3] - a[1] + b[2] - b[0] + b[3] - b[1]) / 4
    return math.hypot(ax - bx, ay - by) / side if side > 0 else math.inf


def _size_ratio(a: Box, b: Box) -> float:
    sa = max(a[2] - a[0], a[3] - a[1])
    sb = max(b[2] - b[0], b[3] - b[1])
    if sa <= 0 or sb <= 0:
        return math.inf
    return max(sa, sb) / min(sa, sb)


class FaceTracker:
    """Assign a stable identity to each detection, one ``update`` call per sampled frame."""

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_center_dist: float = 1.5,
        max_size_ratio: float = 2.0,
        max_missed: int = 5,
    ):
        self.iou_threshold = iou_threshold
        self.max_center_dist = max_center_dist
        self.max_size_ratio = max_size_ratio
        self.max_missed = max_missed
        self._live: list[Track] = []
        self._all: dict[int, Track] = {}
        self._next_id = 0

    @property
    def tracks(self) -> dict[int, Track]:
        """Every identity ever created (live and retired), by id: hits and frame spans for post-filtering,
        e.g. dropping identities seen in a single sample."""
        return dict(self._all)

    def update(self, frame_index: int, detections: Sequence[FaceDetection | Box]) -> list[int]:
        """Identity for each detection of this sampled frame, in the order given."""
        boxes: list[Box] = [d.box if isinstance(d, FaceDetection) else tuple(d) for d in detections]

        candidates: list[tuple[int, float, int, int]] = []  # (tier, cost, track slot, detection slot)
        for ti, tr in enumerate(self._live):
            for di, box in enumerate(boxes):
                iou = box_iou(tr.box, box)
                if iou >= self.iou_threshold:
                    candidates.append((0, 1.0 - iou, ti, di))
                elif _size_ratio(tr.box, box) <= self.max_size_ratio:
                    dist = _center_distance(tr.box, box)
                    if dist <= self.max_center_dist:
                        candidates.append((1, dist, ti, di))
        candidates.sort()

        ids: list[int | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for _tier, _cost, ti, di in candidates:
            if ti in used_tracks or ids[di] is not None:
                continue
            used_tracks.add(ti)
            tr = self._live[ti]
            tr.box, tr.last_frame, tr.missed = boxes[di], frame_index, 0
            tr.hits += 1
            tr.frames.append(frame_index)
            ids[di] = tr.identity

        for ti, tr in enumerate(self._live):
            if ti not in used_tracks:
                tr.missed += 1
        self._live = [tr for tr in self._live if tr.missed <= self.max_missed]

        new = sorted(
            (di for di, i in enumerate(ids) if i is None), key=lambda di: boxes[di][0] + boxes[di][2]
        )
        for di in new:
            tr = Track(self._next_id, boxes[di], frame_index, frame_index, frames=[frame_index])
            self._next_id += 1
            self._live.append(tr)
            self._all[tr.identity] = tr
            ids[di] = tr.identity
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def reset(self) -> None:
        """Forget everything (start of a new video)."""
        self._live = []
        self._all = {}
        self._next_id = 0
