"""What the views show, derived from an AnalysisResult (no Qt here, so it is cheap to test and reuse).

The result stores frames per detector; the viewer wants the opposite: per sampled frame, its faces, each with
every detector's record. Faces of one frame share an artifact key across detectors ("<frame>:<n>"), which is how
the records are joined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.results import AnalysisResult, FaceRecord

DETECTOR_TITLES = {"hamlet": "HAMLET-FFD", "mfclip": "MFCLIP"}
DETECTOR_COLOURS = {"hamlet": (31, 119, 180), "mfclip": (230, 120, 20)}
FALLBACK_COLOURS = [(44, 160, 44), (148, 103, 189), (140, 86, 75), (23, 190, 207)]

VERDICT_WORDS = {
    "fake": "Manipulation indicated",
    "real": "No manipulation indicated",
    "no-face": "No face analysed",
    "altered": "Record altered: not trusted",   # the case list's values no longer match their save-time checksum
}
VERDICT_COLOURS = {"fake": (192, 40, 40), "real": (30, 130, 70), "no-face": (110, 117, 125), "altered": (214, 120, 0)}

CAUTION = (
    "What a score means: each detector's estimate, between 0 and 1, that the face was manipulated, compared with a "
    "threshold chosen on validation data. It is an investigative lead, not proof. A high score can also come from "
    "heavy compression, low light, motion blur, make-up or faces unlike the training data; a low score does not "
    "prove a face is authentic, because forgery methods the models never saw can go undetected. Weigh the result "
    "with the file's provenance and other evidence, and have conclusions reviewed by a qualified examiner."
)


def title(detector: str) -> str:
    return DETECTOR_TITLES.get(detector, detector)


def short_title(detector: str) -> str:
    return {"hamlet": "HAMLET", "mfclip": "MFCLIP"}.get(detector, detector)


def pretty_time(stamp: str) -> str:
    """"2024-05-01T14:03:22+0200" -> "2024-05-01 14:03:22 +0200" (kept verbatim when it is not in that form)."""
    if len(stamp) >= 19 and stamp[10] == "T":
        return f"{stamp[:10]} {stamp[11:19]}" + (f" {stamp[19:]}" if stamp[19:] else "")
    return stamp


def detector_colour(detector: str, order: int = 0) -> tuple[int, int, int]:
    return DETECTOR_COLOURS.get(detector, FALLBACK_COLOURS[order % len(FALLBACK_COLOURS)])


def score_colour(score: float | None) -> tuple[int, int, int]:
    """Green (0) -> amber (0.5) -> red (1): the box colour a viewer reads at a glance."""
    if score is None or math.isnan(score):
        return (150, 150, 150)
    s = min(max(float(score), 0.0), 1.0)
    stops = [(0.0, (40, 170, 80)), (0.5, (240, 180, 20)), (1.0, (220, 40, 40))]
    for (a, ca), (b, cb) in zip(stops, stops[1:], strict=False):
        if s <= b:
            t = (s - a) / (b - a)
            return tuple(round(x + (y - x) * t) for x, y in zip(ca, cb, strict=True))
    return stops[-1][1]


def clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes):02d}:{secs:04.1f}"


def short_hash(value: str | None, n: int = 12) -> str:
    return (value or "")[:n] or "n/a"


@dataclass
class FaceEntry:
    key: str
    box: list[float]
    identity: int
    records: dict[str, FaceRecord] = field(default_factory=dict)   # detector -> record

    def score(self, detector: str | None = None) -> float | None:
        """One detector's score, or the highest over detectors (the conservative reading) when none is named."""
        if detector is not None:
            record = self.records.get(detector)
            return record.score if record else None
        return max((r.score for r in self.records.values()), default=None)


@dataclass
class FrameEntry:
    index: int
    time_s: float
    faces: list[FaceEntry] = field(default_factory=list)


def frame_entries(result: AnalysisResult) -> list[FrameEntry]:
    """Every sampled frame that has a face, in time order, each face with all detectors' records."""
    frames: dict[int, FrameEntry] = {}
    faces: dict[str, FaceEntry] = {}
    for name, det in result.detectors.items():
        for fr in det.frames:
            entry = frames.setdefault(fr.index, FrameEntry(fr.index, fr.time_s))
            for n, face in enumerate(fr.faces):
                key = face.key or f"{fr.index}:{n}"
                if key not in faces:
                    faces[key] = FaceEntry(key, face.box, face.identity)
                    entry.faces.append(faces[key])
                faces[key].records[name] = face
    ordered = sorted(frames.values(), key=lambda f: f.index)
    for entry in ordered:
        entry.faces.sort(key=lambda f: _key_order(f.key))
    return ordered


def _key_order(key: str) -> tuple[int, str]:
    tail = key.rsplit(":", 1)[-1]
    return (int(tail), key) if tail.isdigit() else (0, key)


@dataclass
class Series:
    detector: str
    identity: int
    times: list[float]
    scores: list[float]
    frames: list[int]


def timeline_series(result: AnalysisResult) -> list[Series]:
    """One curve per detector and identity: the per-frame fake scores the timeline plots."""
    out: list[Series] = []
    for name, det in result.detectors.items():
        by_identity: dict[int, Series] = {}
        for fr in det.frames:
            for face in fr.faces:
                s = by_identity.setdefault(face.identity, Series(name, face.identity, [], [], []))
                s.times.append(fr.time_s)
                s.scores.append(face.score)
                s.frames.append(fr.index)
        out.extend(by_identity[i] for i in sorted(by_identity))
    return out


def pick_face(frame: FrameEntry, identity: int | None, detector: str | None) -> int:
    """The face to select in a frame: the same identity as before when present, else the most suspicious."""
    if not frame.faces:
        return -1
    if identity is not None:
        for n, face in enumerate(frame.faces):
            if face.identity == identity:
                return n
    scores = [face.score(detector) or 0.0 for face in frame.faces]
    return max(range(len(scores)), key=scores.__getitem__)


def nearest_frame(frames: list[FrameEntry], time_s: float) -> int:
    if not frames:
        return -1
    return min(range(len(frames)), key=lambda i: abs(frames[i].time_s - time_s))


def sentence(message: str) -> str:
    """An error message as a sentence for a banner: a leading plain word is capitalised ("no face" -> "No face"),
    but a leading file name or path ("clip.mp4: ...", "evidence/a.jpg: ...") is shown verbatim: it is evidence."""
    message = message.strip() or "Unknown problem"
    first = message.split(maxsplit=1)[0]
    if first.isalpha() and first.islower():
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"
