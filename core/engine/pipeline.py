"""analyze(): file -> sampled frames -> faces -> aligned crops -> detectors -> AnalysisResult.

Frames are streamed and crops are scored in batches as they arrive, so memory stays bounded whatever the video's
length: one decoded frame, one batch of crops, and the images of at most `max_artifacts` faces (about 60 kB each).
Measured: analysing every frame of a 400-frame 1080p video grows resident memory by ~150 MB, most of it model and
MediaPipe warm-up (tests/core/test_engine.py checks < 400 MB). Progress is reported per sampled frame with an ETA;
cancellation is cooperative (checked per frame and per batch) and raises CancelledError, leaving nothing half-made
behind.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import torch

import core
from core.detectors.base import score_faces
from core.engine.aggregate import identity_scores, video_verdict
from core.engine.device import autocast
from core.errors import CancelledError, NoFaceError
from core.faces import FaceDetector, FaceTracker, align_crop
from core.forensics.heatmap import noise_to_image
from core.media import DecodeStats, Sampling, iter_frames, planned_indices, probe
from core.models import LoadedModel
from core.results import AnalysisResult, DetectorResult, FaceRecord, FrameRecord

THUMBNAIL_SIDE = 480  # longest side of the frame thumbnails kept with each face (~20 kB as JPEG)
MIN_FACE_SIDE = 32
"""Faces whose box is smaller (longer side, pixels) are not scored: too few pixels for a forensic verdict, and
MediaPipe "finds" 3-30 px faces in plain noise."""
MIN_TRACK_SAMPLES = 3
"""An identity counts only if seen in this many sampled frames (in all of them when fewer were sampled): a real face
stays put from sample to sample, detections on noise do not (a 64x64 noise video gave 363 one-sample identities)."""


@dataclass
class AnalysisSettings:
    detectors: list[str] = field(default_factory=lambda: ["hamlet", "mfclip"])
    sampling: Sampling = field(default_factory=lambda: Sampling("fps", 1.0))
    batch_size: int = 16
    aggregation: str = "mean"
    threshold: float | None = None      # None: each detector's validated threshold from the model card
    min_face_confidence: float = 0.5
    max_faces_per_frame: int = 8
    max_artifacts: int = 600            # faces whose images (crop, maps, frame thumbnail) are kept: all of them
                                        # up to this many, then the most suspicious ones

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sampling"] = self.sampling.to_dict()
        return data


@dataclass
class Progress:
    stage: str
    done: int
    total: int
    eta_s: float | None = None


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


@dataclass
class _PendingFace:
    frame: FrameRecord
    box: list[float]
    identity: int
    crops: dict[int, np.ndarray]        # input size -> aligned RGB crop
    matrix: list[list[float]]           # frame -> largest crop affine (to paste maps back onto the frame)
    key: str
    thumbnail: bytes                    # the frame, downscaled, for reports and reopened cases


def analyze(path: str, settings: AnalysisSettings, model: LoadedModel,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> AnalysisResult:
    started = time.time()
    report = progress or (lambda p: None)
    cancelled = cancel or (lambda: False)

    report(Progress("hashing", 0, 1))
    info = probe(path)
    plan = planned_indices(info, settings.sampling)
    detectors = {name: model.detectors[name] for name in settings.detectors}
    sizes = sorted({det.input_size for det in detectors.values()})
    device = next(iter(detectors.values())).clip.logit_scale.device

    result = AnalysisResult(
        file={"path": str(path), "sha256": info.sha256, "size": info.size_bytes, "media": info.to_dict()},
        settings=settings.to_dict(),
        software={"name": "ffd-desktop", "version": core.__version__, "torch": torch.__version__,
                  "device": str(device)},
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
    )
    frames: dict[str, list[FrameRecord]] = {name: [] for name in detectors}
    kept: list[tuple[float, str]] = []   # min-heap of (suspicion, key) bounding the artifacts we keep
    pending: list[_PendingFace] = []

    def flush() -> None:
        if not pending:
            return
        if cancelled():
            raise CancelledError("analysis cancelled")
        records = _score_batch(pending, detectors, device, model.bundle.mirror)
        for face, by_detector in zip(pending, records, strict=True):
            for name, (record, artifacts) in by_detector.items():
                frame_records = frames[name]
                if not frame_records or frame_records[-1].index != face.frame.index:
                    frame_records.append(FrameRecord(face.frame.index, face.frame.time_s))
                frame_records[-1].faces.append(record)
                result.artifacts.setdefault(face.key, {}).update(artifacts)
            result.artifacts[face.key]["crop.jpg"] = _encode(face.crops[sizes[-1]], ".jpg")
            result.artifacts[face.key]["frame.jpg"] = face.thumbnail
            suspicion = max(rec.score for rec, _ in by_detector.values())
            _bound_artifacts(result.artifacts, kept, (suspicion, face.key), settings.max_artifacts)
        pending.clear()

    stats = DecodeStats()
    tracker = FaceTracker()
    too_small = 0
    tick = time.time()
    with FaceDetector(min_confidence=settings.min_face_confidence) as face_detector:
        for done, frame in enumerate(iter_frames(path, settings.sampling, info=info, stats=stats), start=1):
            if cancelled():
                raise CancelledError("analysis cancelled")
            found = face_detector.detect(frame.image)
            big = [d for d in found if max(d.width, d.height) >= MIN_FACE_SIDE]
            too_small += len(found) - len(big)
            found = big[: settings.max_faces_per_frame]
            identities = tracker.update(frame.index, found)
            record = FrameRecord(frame.index, round(frame.time_s, 4))
            result.sampled_frames += 1
            result.frames_with_faces += bool(found)
            thumbnail = _encode(_downscale(frame.image, THUMBNAIL_SIDE), ".jpg") if found else b""
            for n, (det, identity) in enumerate(zip(found, identities, strict=True)):
                aligned = {size: align_crop(frame.image, det, size, margin=model.bundle.crop_margin,
                                             jpeg=model.bundle.jpeg, fit=model.bundle.fit)
                           for size in sizes}
                pending.append(_PendingFace(
                    record, [round(float(v), 1) for v in det.box], identity,
                    {size: a.crop for size, a in aligned.items()},
                    np.round(aligned[sizes[-1]].matrix, 5).tolist(), f"{frame.index}:{n}", thumbnail))
            if len(pending) >= settings.batch_size:
                flush()
            elapsed = time.time() - tick
            report(Progress("analysing", done, len(plan), elapsed / done * max(len(plan) - done, 0)))
        flush()

    if info.claimed_frame_count:
        result.warnings.append(f"the container claims {info.claimed_frame_count:,} frames, more than the file's "
                               f"{info.size_bytes:,} bytes can hold; the {info.frame_count:,} frames that decode "
                               "were used")
    if stats.truncated:
        result.warnings.append(_truncation(info, stats) + f"; {result.sampled_frames} of {len(plan):,} planned "
                               "frames were analysed")
    required = min(MIN_TRACK_SAMPLES, result.sampled_frames)
    fleeting = {i for i, track in tracker.tracks.items() if track.hits < required}
    _drop_identities(frames, result.artifacts, fleeting)
    result.frames_with_faces = len({fr.index for records in frames.values() for fr in records})
    ignored = ", ".join(part for part in (
        f"{too_small} face(s) smaller than {MIN_FACE_SIDE} px" if too_small else "",
        f"{len(fleeting)} face(s) seen in fewer than {required} sampled frames" if fleeting else "") if part)
    if result.frames_with_faces == 0:
        lost = f"; {_truncation(info, stats)}" if stats.truncated else ""
        if ignored:
            raise NoFaceError(f"no reliable face in {result.sampled_frames} sampled frame(s): ignored {ignored}"
                              f"{lost}", path=str(path))
        raise NoFaceError(f"no face found in {result.sampled_frames} sampled frame(s){lost}", path=str(path))
    if ignored:
        result.warnings.append(f"ignored as unreliable: {ignored}")

    for name in detectors:
        threshold = settings.threshold if settings.threshold is not None else model.bundle.threshold(name)
        identities = identity_scores(frames[name], settings.aggregation)
        score, verdict = video_verdict(identities, threshold)
        result.detectors[name] = DetectorResult(model=model.describe(name), video_score=score, verdict=verdict,
                                                threshold=threshold, identities=identities, frames=frames[name])
    result.duration_s = round(time.time() - started, 3)
    report(Progress("done", len(plan), len(plan), 0.0))
    return result


def _truncation(info, stats: DecodeStats) -> str:
    """Both numbers: what the header announced and what decoded (a cut file can hide most of its frames)."""
    decoded = stats.stream_end or 0
    return (f"the video is truncated: only {decoded:,} of the {info.frame_count:,} frames its header announces "
            f"could be decoded ({info.frame_count - decoded:,} could not)")


def _drop_identities(frames: dict[str, list[FrameRecord]], artifacts: dict, identities: set[int]) -> None:
    """Remove these identities' faces (records and images) from every detector's frames, and emptied frames."""
    if not identities:
        return
    for name, records in frames.items():
        for record in records:
            for face in record.faces:
                if face.identity in identities:
                    artifacts.pop(face.key, None)
            record.faces = [face for face in record.faces if face.identity not in identities]
        frames[name] = [record for record in records if record.faces]


def _score_batch(pending: list[_PendingFace], detectors: dict, device: torch.device, mirror: bool) -> list[dict]:
    """Run every detector on the pending crops (and their mirror images, if the model says so); per face:
    {detector: (FaceRecord, artifacts)}."""
    out: list[dict] = [{} for _ in pending]
    for name, detector in detectors.items():
        batch = np.stack([face.crops[detector.input_size] for face in pending])
        faces = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode(), autocast(device):
            result = score_faces(detector, faces, mirror).detach_cpu()
        for i, face in enumerate(pending):
            extras = {"crop_matrix": face.matrix}
            artifacts = {}
            patch_box = ([int(v) for v in result.extras["patch_box"][i].tolist()]
                         if "patch_box" in result.extras else None)
            if "srm" in result.extras:
                artifacts[f"{name}.srm.png"] = _encode(noise_to_image(result.extras["srm"][i].numpy()), ".png")
            if result.attention is not None:
                attention = (result.attention[i].clamp(0, 1).numpy() * 255).astype(np.uint8)
                artifacts[f"{name}.attention.png"] = _encode(attention, ".png")
            record = FaceRecord(
                box=face.box, identity=face.identity, score=round(float(result.p_fake[i]), 6),
                similarities={k: round(float(v[i]), 6) for k, v in result.similarities.items()},
                extras=extras, key=face.key, patch_box=patch_box)
            out[i][name] = (record, artifacts)
    return out


def _bound_artifacts(artifacts: dict, kept: list, entry: tuple[float, str], limit: int) -> None:
    """Keep at most `limit` faces' images: when over, drop the least suspicious one kept so far."""
    heapq.heappush(kept, entry)
    if len(kept) > limit:
        _, dropped = heapq.heappop(kept)
        artifacts.pop(dropped, None)


def _downscale(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)


def _encode(image: np.ndarray, ext: str) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise RuntimeError(f"could not encode {ext} artifact")
    return buf.tobytes()
