"""Face crops for training, extracted once per media file and kept on disk.

Face detection dominates data preparation (tens of ms per frame on a CPU), and training revisits the same files
every epoch and every run, so ``FaceCache`` stores the aligned crops of each file the first time they are made
and serves them from disk afterwards; a second ``build`` over the same samples runs no face detection at all
(``FaceCache.detections_run`` counts detector calls, so tests and callers can check).

Keying: an entry is found by the SHA-256 of the file's *bytes* (the same file under another name or folder is
the same entry; an edited file is a new one) plus a hash of the extraction settings that affect the crops
(crop size, margin, face policy, detector confidence, ``assume_aligned``, landmarks; and the frame sampling
for videos only, so changing video sampling keeps image entries). Within a process, file hashes are memoised
by (path, size, mtime, inode) so a lookup does not re-read unchanged files.

Layout: ``<cache_dir>/<sha[:2]>/<sha>_<settings key>.json`` (metadata: status, frame indices, identities, boxes,
detector scores, the crops file's SHA-256) and ``.npz`` beside it (``crops``: n x S x S x 3 uint8, and
``landmarks``: n x 468 x 2 float32 when asked for, NaN where the mesh failed), uncompressed (see ``_write``).
Both are written atomically, the ``.npz`` first: the JSON is the commit marker. An entry whose JSON does not parse,
whose settings or hash do not match, or whose ``.npz`` is missing, altered (SHA-256 mismatch) or malformed is
treated as absent, deleted and recomputed (``BuildStats.rebuilt``).

Faces: with ``faces="largest"`` (default) each sampled frame gives at most one crop, its largest face (the
subject of a training clip; bystanders and insets would only add label noise); ``faces="all"`` keeps up to
``max_faces`` per frame with tracker identities (``core.faces.FaceTracker``). Crops are ``core.faces.align_crop``
(eye-levelled, 1.3x margin by default). A file in which no sampled frame has a face is recorded as
``status="no_face"`` so it is not searched again, and is listed in the build report. Unreadable files are
reported but not recorded (nothing about them is worth keeping; they fail fast).

``assume_aligned=True`` is for datasets that already are face crops (FFHQ / StyleGAN 256 px faces): no
detection, each frame is centre-cropped to a square and resized to ``crop_size``. The default is real
detection.

Threading: the face detector and mesher are MediaPipe graphs bound to the first thread that uses them, so use
one ``FaceCache`` per thread (the files on disk may be shared: writes are atomic and entries immutable).
``build`` stores each entry on a background writer thread while it extracts the next file; the graphs stay on
the caller's thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.atomic import atomic_write_bytes, atomic_write_text
from core.digest import sha256_file
from core.errors import BadInputError, CancelledError
from core.media import Sampling, iter_frames, probe
from core.training.dataset import Sample, media_kind

FORMAT = "ffd-facecache"
VERSION = 1
FACE_POLICIES = ("largest", "all")
N_LANDMARKS = 468

ProgressFn = Callable[[int, int], None]  # (done, total)
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class CacheSettings:
    """Everything that changes the crops. Part of the cache key."""

    crop_size: int | None = None  # None: the JPEG side when faces are stored as JPEG (see below), else 256
    margin: float = 1.3
    sampling: Sampling = field(default_factory=lambda: Sampling("count", 16))  # videos only
    faces: str = "largest"  # "largest" | "all"
    max_faces: int = 4  # per frame, with faces="all"
    min_confidence: float = 0.5
    assume_aligned: bool = False
    landmarks: bool = False  # also store 468-point face-mesh landmarks per crop (for self-blending)
    jpeg: tuple[int, int] | None = None  # detected crops pass through JPEG (side, quality): see core.faces.align

    def __post_init__(self) -> None:
        # Faces stored as JPEG are cached at that side, the pixels an analysis scores: a self-blend made from them
        # and stored the same way (core.training.examples.gather) then goes through no resampling the reals skip.
        if self.crop_size is None:
            object.__setattr__(self, "crop_size", int(self.jpeg[0]) if self.jpeg else 256)
        if self.crop_size < 16:
            raise ValueError(f"crop_size must be at least 16, got {self.crop_size}")
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin must be positive, got {self.margin}")
        if self.faces not in FACE_POLICIES:
            raise ValueError(f"faces must be one of {FACE_POLICIES}, got {self.faces!r}")
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {self.max_faces}")

    def to_dict(self, kind: str = "video") -> dict:
        data = {
            "crop_size": int(self.crop_size),
            "margin": float(self.margin),
            "faces": self.faces,
            "max_faces": int(self.max_faces) if self.faces == "all" else 1,
            "min_confidence": float(self.min_confidence),
            "assume_aligned": bool(self.assume_aligned),
            "landmarks": bool(self.landmarks),
        }
        if self.jpeg and not self.assume_aligned:  # absent otherwise: older cache keys stay valid
            data["jpeg"] = [int(v) for v in self.jpeg]
        if self.assume_aligned:  # no detector involved
            data.pop("min_confidence")
            data.pop("margin")
        if kind == "video":
            data["sampling"] = self.sampling.to_dict()
        return data

    def key(self, kind: str) -> str:
        blob = json.dumps(self.to_dict(kind), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class CacheEntry:
    """The cached faces of one file. ``crops``: n x S x S x 3 uint8 RGB (n = 0 when no face was found)."""

    sha256: str
    kind: str
    status: str  # "ok" | "no_face"
    crops: np.ndarray
    frames: list[int]  # frame index of each crop
    identities: list[int]  # tracker identity of each crop (0 with faces="largest")
    boxes: np.ndarray  # n x 4 float32 detection boxes in frame pixels (the whole frame with assume_aligned)
    scores: np.ndarray  # n float32 detector scores (1.0 with assume_aligned)
    sampled_frames: int
    landmarks: np.ndarray | None = None  # n x 468 x 2 float32 crop pixels, NaN where the mesh failed


@dataclass
class BuildStats:
    """What one ``FaceCache.build`` did."""

    total: int = 0
    cached: int = 0  # served from disk, no work
    extracted: int = 0  # decoded and searched for faces this time
    rebuilt: int = 0  # of those, entries that existed but were corrupt
    no_face: int = 0  # files without any face (cached or new)
    bad_input: int = 0  # files that could not be read/decoded
    crops: int = 0  # crops available over all files
    detections: int = 0  # face-detector calls (one per sampled frame) made by this build
    seconds: float = 0.0
    no_face_paths: list[str] = field(default_factory=list)
    bad_inputs: list[tuple[str, str]] = field(default_factory=list)  # (path, message)

    def to_dict(self) -> dict:
        return {k: (list(map(list, v)) if k == "bad_inputs" else v) for k, v in self.__dict__.items()}


class _CorruptEntry(Exception):
    pass


class FaceCache:
    """Aligned face crops per media file, extracted once and cached on disk (see module docstring)."""

    def __init__(self, cache_dir: str | os.PathLike, settings: CacheSettings | None = None, **overrides):
        if settings is not None and overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        self.cache_dir = Path(cache_dir)
        self.settings = settings if settings is not None else CacheSettings(**overrides)
        self.detections_run = 0  # face-detector calls ever made by this instance
        self.meshes_run = 0
        self._hashes: dict[tuple, str] = {}
        self._detector = None
        self._mesher = None

    # ------------------------------------------------------------------------------------------ public API

    def crops(self, sample: Sample | str | os.PathLike) -> np.ndarray:
        """n x S x S x 3 uint8 RGB crops of the file (extracting them first if not cached); n = 0 without faces.
        Raises BadInputError for a file that cannot be read or decoded."""
        return self.entry(sample).crops

    def landmarks(self, sample: Sample | str | os.PathLike) -> np.ndarray:
        """n x 468 x 2 float32 landmarks in crop pixels (NaN where the mesh failed); needs landmarks=True."""
        if not self.settings.landmarks:
            raise ValueError("this FaceCache was made without landmarks=True")
        found = self.entry(sample).landmarks
        assert found is not None
        return found

    def entry(self, sample: Sample | str | os.PathLike) -> CacheEntry:
        """The cached entry of the file, extracted now if missing or corrupt."""
        return self._get(_path_of(sample), BuildStats())

    def build(
        self,
        samples: Iterable[Sample | str | os.PathLike],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> BuildStats:
        """Make sure every sample's crops are cached. Unreadable files and files without faces are counted and
        listed in the returned stats, not raised. ``progress(done, total)`` after each file; ``cancel()`` is
        checked before each file and each frame (raises CancelledError; finished entries stay cached)."""
        items = [_path_of(s) for s in samples]
        stats = BuildStats(total=len(items))
        started = time.perf_counter()
        detections_before = self.detections_run
        with _Writer(self._write) as writer:
            for done, path in enumerate(items, start=1):
                if cancel is not None and cancel():
                    raise CancelledError("face cache build cancelled")
                try:
                    entry = self._get(path, stats, cancel, write=writer.submit)
                except BadInputError as exc:
                    stats.bad_input += 1
                    stats.bad_inputs.append((path, str(exc)))
                else:
                    stats.crops += len(entry.crops)
                    if entry.status == "no_face":
                        stats.no_face += 1
                        stats.no_face_paths.append(path)
                if progress is not None:
                    progress(done, len(items))
        stats.detections = self.detections_run - detections_before
        stats.seconds = time.perf_counter() - started
        return stats

    def entry_paths(self, sample: Sample | str | os.PathLike) -> tuple[Path, Path]:
        """(metadata JSON, crops NPZ) paths of the file's entry under the current settings."""
        path = _path_of(sample)
        return self._paths(self._sha256(path), self.settings.key(_key_kind(path)))

    def close(self) -> None:
        for graph in (self._detector, self._mesher):
            if graph is not None:
                graph.close()
        self._detector = self._mesher = None

    def __enter__(self) -> FaceCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- lookup

    def file_sha256(self, sample: Sample | str | os.PathLike) -> str:
        """SHA-256 of a sample's file bytes (memoised), e.g. to fingerprint a training set."""
        return self._sha256(_path_of(sample))

    def _sha256(self, path: str) -> str:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise BadInputError("file does not exist", path=path) from None
        except OSError as exc:
            raise BadInputError(f"cannot access the file ({exc.strerror or exc})", path=path) from None
        memo = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        sha = self._hashes.get(memo)
        if sha is None:
            try:
                sha = sha256_file(path)
            except OSError as exc:
                raise BadInputError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
            self._hashes[memo] = sha
        return sha

    def _paths(self, sha: str, key: str) -> tuple[Path, Path]:
        folder = self.cache_dir / sha[:2]
        return folder / f"{sha}_{key}.json", folder / f"{sha}_{key}.npz"

    def _get(self, path: str, stats: BuildStats, cancel: CancelFn | None = None, write=None) -> CacheEntry:
        """The file's entry from disk, or extracted and stored by ``write`` (default: ``_write``, at once)."""
        sha = self._sha256(path)
        kind = _key_kind(path)
        key = self.settings.key(kind)
        meta_path, npz_path = self._paths(sha, key)
        existed = meta_path.exists() or npz_path.exists()
        if existed:
            try:
                entry = self._read(meta_path, npz_path, sha, kind)
            except _CorruptEntry:
                for p in (meta_path, npz_path):
                    with contextlib.suppress(OSError):
                        p.unlink()
                stats.rebuilt += 1
            else:
                stats.cached += 1
                return entry
        entry = self._extract(path, sha, cancel)
        (write or self._write)(entry, kind, meta_path, npz_path, path)
        stats.extracted += 1
        return entry

    def _read(self, meta_path: Path, npz_path: Path, sha: str, kind: str) -> CacheEntry:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _CorruptEntry(f"metadata unreadable: {exc}") from None
        s = self.settings.crop_size
        try:
            if (meta["format"], meta["version"], meta["sha256"]) != (FORMAT, VERSION, sha):
                raise _CorruptEntry("metadata of another format, version or file")
            if meta["settings"] != self.settings.to_dict(kind):
                raise _CorruptEntry("metadata of other settings")
            n = int(meta["n"])
            status = meta["status"]
            if status == "no_face" and n == 0:
                crops = np.zeros((0, s, s, 3), np.uint8)
                marks = np.zeros((0, N_LANDMARKS, 2), np.float32) if self.settings.landmarks else None
            elif status == "ok" and n > 0:
                blob = npz_path.read_bytes()
                if hashlib.sha256(blob).hexdigest() != meta["npz_sha256"]:
                    raise _CorruptEntry("crops file altered or truncated")
                with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                    crops = data["crops"]
                    marks = data["landmarks"] if self.settings.landmarks else None
            else:
                raise _CorruptEntry(f"inconsistent status {status!r} with {n} crops")
            if crops.shape != (n, s, s, 3) or crops.dtype != np.uint8:
                raise _CorruptEntry(f"crops of shape {crops.shape} {crops.dtype}, expected ({n}, {s}, {s}, 3)")
            if marks is not None and marks.shape != (n, N_LANDMARKS, 2):
                raise _CorruptEntry(f"landmarks of shape {marks.shape}")
            boxes = np.asarray(meta["boxes"], dtype=np.float32).reshape(n, 4)
            scores = np.asarray(meta["scores"], dtype=np.float32).reshape(n)
            frames = [int(v) for v in meta["frames"]]
            identities = [int(v) for v in meta["identities"]]
            if len(frames) != n or len(identities) != n:
                raise _CorruptEntry("frame/identity lists do not match the crops")
            return CacheEntry(sha, meta["kind"], status, crops, frames, identities, boxes, scores,
                              int(meta["sampled_frames"]), marks)
        except _CorruptEntry:
            raise
        except Exception as exc:  # KeyError/TypeError from bad JSON; OSError, BadZipFile, ValueError from np.load
            raise _CorruptEntry(f"{type(exc).__name__}: {exc}") from None

    def _write(self, entry: CacheEntry, key_kind: str, meta_path: Path, npz_path: Path, source: str) -> None:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "sha256": entry.sha256,
            "kind": entry.kind,
            "settings": self.settings.to_dict(key_kind),
            "status": entry.status,
            "n": len(entry.crops),
            "frames": entry.frames,
            "identities": entry.identities,
            "boxes": np.round(entry.boxes.astype(np.float64), 2).tolist(),
            "scores": np.round(entry.scores.astype(np.float64), 4).tolist(),
            "sampled_frames": entry.sampled_frames,
            "source_name": os.path.basename(source),  # for people browsing the cache; never used as a key
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if entry.status == "ok":
            buf = io.BytesIO()
            arrays = {"crops": entry.crops}
            if entry.landmarks is not None:
                arrays["landmarks"] = entry.landmarks
            # Uncompressed. Why: face pixels deflate only to ~76% of their size at any level, for 9 ms per face to
            # store and 1.5 ms to read back; stored as they are, building a cache takes a third of the time and a
            # training run reads it twice as fast (benchmarks/facecache_speed.py, 600 FFHQ / StyleGAN faces, 2 cores:
            # 17.2-18.2 -> 5.6-6.1 ms per face to build, 3.2 -> 1.4-1.5 ms to read; 91 -> 118 MB). Entries written
            # deflated (np.savez_compressed) by earlier versions still read.
            np.savez(buf, **arrays)
            blob = buf.getvalue()
            meta["npz_sha256"] = hashlib.sha256(blob).hexdigest()
            meta["npz_bytes"] = len(blob)
            atomic_write_bytes(npz_path, blob)
        atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")

    # ------------------------------------------------------------------------------------------- extraction

    def _face_detector(self):
        if self._detector is None:
            from core.faces import FaceDetector

            self._detector = FaceDetector(min_confidence=self.settings.min_confidence)
        return self._detector

    def _face_mesher(self):
        if self._mesher is None:
            from core.faces import FaceMesher

            self._mesher = FaceMesher(max_faces=1)
        return self._mesher

    def _extract(self, path: str, sha: str, cancel: CancelFn | None) -> CacheEntry:
        from core.faces import FaceTracker, align_crop

        cfg = self.settings
        s = cfg.crop_size
        info = probe(path, with_hash=False)
        tracker = FaceTracker() if cfg.faces == "all" else None
        crops: list[np.ndarray] = []
        frames: list[int] = []
        identities: list[int] = []
        boxes: list[tuple[float, ...]] = []
        scores: list[float] = []
        sampled = 0
        for frame in iter_frames(path, cfg.sampling, info=info):
            if cancel is not None and cancel():
                raise CancelledError("face cache build cancelled")
            sampled += 1
            h, w = frame.image.shape[:2]
            if cfg.assume_aligned:
                crops.append(_square_resize(frame.image, s))
                frames.append(frame.index)
                identities.append(0)
                boxes.append((0.0, 0.0, float(w), float(h)))
                scores.append(1.0)
                continue
            found = self._face_detector().detect(frame.image)
            self.detections_run += 1
            if tracker is not None:
                found = found[: cfg.max_faces]
                ids = tracker.update(frame.index, found)
            else:
                found = [max(found, key=lambda d: d.width * d.height)] if found else []
                ids = [0] * len(found)
            for det, identity in zip(found, ids, strict=True):
                crops.append(align_crop(frame.image, det, s, margin=cfg.margin, jpeg=cfg.jpeg).crop)
                frames.append(frame.index)
                identities.append(int(identity))
                boxes.append(tuple(float(v) for v in det.box))
                scores.append(float(det.score))
        n = len(crops)
        marks = None
        if cfg.landmarks:
            marks = np.full((n, N_LANDMARKS, 2), np.nan, np.float32)
            for i, crop in enumerate(crops):
                found = self._face_mesher().landmarks(crop)
                self.meshes_run += 1
                if found:
                    centre = np.array([s / 2.0, s / 2.0])
                    best = min(found, key=lambda p: float(np.hypot(*(p.mean(axis=0) - centre))))
                    marks[i] = best.astype(np.float32)
        return CacheEntry(
            sha256=sha,
            kind=info.kind,
            status="ok" if n else "no_face",
            crops=np.stack(crops) if n else np.zeros((0, s, s, 3), np.uint8),
            frames=frames,
            identities=identities,
            boxes=np.asarray(boxes, np.float32).reshape(n, 4),
            scores=np.asarray(scores, np.float32).reshape(n),
            sampled_frames=sampled,
            landmarks=marks,
        )


class _Writer:
    """Stores entries on one background thread while the caller extracts the next file.

    Hashing, writing and fsyncing an entry's two files costs about half as much as decoding and cropping an
    aligned face, and all three release the GIL: 600 FFHQ / StyleGAN faces took 4.0 s stored one after the other,
    2.5-3.0 s with the writer (2 cores). At most ``MAX_PENDING`` entries wait in memory. Leaving the block waits
    for every write (a cancelled build keeps what it finished) and re-raises the first write error when nothing
    else is being raised.
    """

    MAX_PENDING = 8

    def __init__(self, write: Callable[..., None]):
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facecache-writer")
        self._pending: deque[Future] = deque()

    def submit(self, *args) -> None:
        while len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, *args))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        self._pool.shutdown(wait=True)
        if exc_type is None:
            for future in self._pending:
                future.result()


def _square_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Centre square of ``image`` resized to ``size`` (area filter when shrinking, cubic when enlarging)."""
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = image[y0:y0 + side, x0:x0 + side]
    if side == size:
        return np.ascontiguousarray(square)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interp)


def _path_of(sample: Sample | str | os.PathLike) -> str:
    return os.path.abspath(sample.path if isinstance(sample, Sample) else os.fspath(sample))


def _key_kind(path: str) -> str:
    """The kind that selects the settings key: from the file name (content sniffing happens in probe)."""
    return media_kind(path) or "video"
