"""Evidence media: open read-only, describe, hash, and stream sampled frames.

Evidence must never be modified, so files are only ever opened for reading (``'rb'``, or by OpenCV/FFmpeg,
which opens inputs read-only). Every problem with an input surfaces as ``BadInputError`` naming the file,
so the CLI can exit with code 2 and the GUI can show a sentence instead of a traceback.

Memory is O(one frame): videos are streamed through ``cv2.VideoCapture`` and only the frame being yielded
is held (plus FFmpeg's decoder state); a 600-frame 1080p clip iterated with ``Sampling("all")`` grows RSS
by well under 300 MB (asserted in ``tests/core/test_media.py``). Nothing is sized by a header's claims: frame
plans are arithmetic (``FramePlan``), a frame count above the file's byte count is replaced by a count of the
decodable frames, and image dimensions are read from the header before any pixel is decoded. Frames outside
the sampling plan are skipped with ``grab()`` (decoded but never copied out or colour-converted); long gaps
are seeked over only when the landing frame's timestamp proves the seek was exact.

Frames are delivered as H x W x 3 uint8 RGB, upright (video rotation metadata and image EXIF orientation
are applied).
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from core.digest import sha256_file
from core.errors import BadInputError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
MEDIA_EXTENSIONS: frozenset[str] = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

MAX_PIXELS = 8192 * 8192
"""Frames/images above this many pixels are refused: they would cost gigabytes once decoded."""

SEEK_MIN_GAP_S = 2.0
"""Seek instead of grabbing only when the next wanted frame is more than this far ahead."""

_HEAD_BYTES = 4096
_HEADER_SCAN_BYTES = 1 << 16  # text headers (Radiance HDR) may run long
_SAMPLING_MODES = ("all", "fps", "count")
_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation -> clockwise rotation needed to display upright (mirrored variants share the angle).
_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}
_BMP_DIB_SIZES = {n.to_bytes(4, "little") for n in (12, 40, 52, 56, 64, 108, 124)}
_ISO_IMAGE_BRANDS = {b"heic": "heic", b"heix": "heic", b"mif1": "heif", b"msf1": "heif", b"avif": "avif"}


@dataclass(frozen=True)
class MediaInfo:
    """What a report needs to say about one evidence file. Width/height are of the upright frames."""

    path: str
    kind: str  # "video" | "image"
    container: str  # "mp4", "mov", "mkv", "webm", "avi", "jpeg", "png", ...
    codec: str | None  # FOURCC for video, None for image
    fps: float | None
    frame_count: int
    duration_s: float | None
    width: int
    height: int
    rotation: int  # clockwise degrees from metadata; frames are already delivered upright
    size_bytes: int
    sha256: str  # "" when probed with with_hash=False
    claimed_frame_count: int | None = None  # the header's count when impossible (more frames than bytes); then
    #                                         frame_count is what really decodes

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Sampling:
    """Which frames to analyse: every frame, F frames per second, or K frames evenly spread."""

    mode: str = "fps"  # "all" | "fps" | "count"
    value: float = 1.0  # frames per second for "fps"; max frame count K for "count"; ignored for "all"

    def __post_init__(self) -> None:
        if self.mode not in _SAMPLING_MODES:
            raise ValueError(f"sampling mode must be one of {', '.join(_SAMPLING_MODES)}, got {self.mode!r}")
        if self.mode != "all" and not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"sampling value for mode {self.mode!r} must be a positive number, got {self.value!r}")
        if self.mode == "count" and self.value < 1:
            raise ValueError(f"sampling count must be at least 1, got {self.value!r}")

    def to_dict(self) -> dict:
        return {"mode": self.mode, "value": float(self.value)}


@dataclass
class Frame:
    index: int
    time_s: float
    image: np.ndarray  # H x W x 3 uint8, RGB, upright


@dataclass
class DecodeStats:
    """Counters that let callers (and tests) see how much decoding work sampling actually cost."""

    grabbed: int = 0  # frames skipped with grab(): decoded by FFmpeg but never retrieved or converted
    decoded: int = 0  # frames retrieved and converted to RGB (== frames yielded)
    truncated: bool = False  # the container promised more frames than could be decoded
    seeks: int = 0  # verified seeks used to jump over long gaps
    stream_end: int | None = None  # when truncated: how many frames the stream really holds (decoding stopped there)


# ----------------------------------------------------------------------------------------------- hashing


# ----------------------------------------------------------------------------------------------- probing


def identify(path: str | os.PathLike) -> tuple[str, str]:
    """("image" or "video", container) from the file's first bytes, decoding nothing: what probe checks first.
    Raises BadInputError for a file that is missing, a directory, unreadable, empty or not media."""
    spath = os.fspath(path)
    return _sniff(_open_checked(spath)[1], spath)


def probe(path: str | os.PathLike, *, with_hash: bool = True) -> MediaInfo:
    """Describe a media file without decoding it all (decodes one frame to prove it is usable).

    Raises BadInputError for anything that cannot be analysed: missing, directory, unreadable, empty,
    not media, corrupt, or too large.
    """
    spath = os.fspath(path)
    size, head = _open_checked(spath)
    kind, container = _sniff(head, spath)
    if kind == "image":
        rgb, rotation, container = _load_image(spath, container)
        height, width = rgb.shape[:2]
        info = MediaInfo(spath, "image", container, None, None, 1, None, width, height, rotation, size, "")
    else:
        info = _probe_video(spath, container, size)
    if with_hash:
        info = dataclasses.replace(info, sha256=sha256_file(spath))
    return info


def _open_checked(path: str) -> tuple[int, bytes]:
    """Return (size, first bytes) of a regular, readable, non-empty file, or say precisely what is wrong."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInputError("file does not exist", path=path) from None
    except PermissionError:
        raise BadInputError("permission denied (cannot access the file)", path=path) from None
    except OSError as exc:
        raise BadInputError(f"cannot access the file ({exc.strerror or exc})", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInputError("is a directory, not a media file", path=path)
    if not stat.S_ISREG(st.st_mode):
        # FIFOs and devices could block or never end; evidence is always a regular file.
        raise BadInputError("is not a regular file", path=path)
    if st.st_size == 0:
        raise BadInputError("file is empty (0 bytes)", path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except PermissionError:
        raise BadInputError("permission denied (cannot open the file for reading)", path=path) from None
    except OSError as exc:
        raise BadInputError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
    return st.st_size, head


def _sniff(head: bytes, path: str) -> tuple[str, str]:
    """Decide image vs video from the file's signature (content wins over a misleading extension)."""
    ext = Path(path).suffix.lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head.startswith(b"BM") and head[14:18] in _BMP_DIB_SIZES:  # "BM" alone also starts plain text
        return "image", "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):  # text-like, but an image: its header is checked before decoding
        return "image", "hdr"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_IMAGE_BRANDS:
            return "image", _ISO_IMAGE_BRANDS[brand]
        if brand == b"qt  ":
            return "video", "mov"
        if brand.startswith(b"M4V"):
            return "video", "m4v"
        if brand.startswith(b"3g"):
            return "video", "3gp"
        return "video", "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or its WebM profile
        return "video", "webm" if b"webm" in head[:64] else "mkv"
    if _looks_like_text(head):
        raise BadInputError("not a media file (the content is text)", path=path)
    if ext in IMAGE_EXTENSIONS:
        # Unknown signature under an image name: let the decoder decide, it will say if it cannot.
        return "image", ext.lstrip(".")
    # Unknown signature: let FFmpeg try (raw streams, MPEG-TS, ...); _probe_video reports failure clearly.
    return "video", ""


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a multi-byte character cut at the end of the sample is fine
            return False
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls <= len(text) // 100


# ------------------------------------------------------------------------------------------------ images


def _load_image(path: str, container: str) -> tuple[np.ndarray, int, str]:
    """Decode an image to upright RGB, refusing huge ones from the header before allocating pixels.

    Every format's dimensions are read from its header first (Pillow's lazy open, or ``_header_size`` for the
    formats OpenCV decodes and Pillow does not): a 9 MB run-length-encoded Radiance HDR named .jpg would
    otherwise decode to 12000x12000 floats (3+ GB) before any check. A file whose size no header gives is refused.
    """
    rotation, size = 0, None
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as im:  # lazy: reads the header only
                size = im.size
                _check_resolution(im.size[0], im.size[1], path)
                rotation = _EXIF_ROTATION.get(im.getexif().get(_EXIF_ORIENTATION_TAG, 1), 0)
                if im.format:
                    container = im.format.lower()
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"resolution exceeds the limit of {_max_pixels_text()} ({exc})", path=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass  # Pillow cannot parse the header; OpenCV may still decode it, if its header gives the size.
    if size is None:
        with open(path, "rb") as fh:
            found = _header_size(fh.read(_HEADER_SCAN_BYTES))
        if found is None:
            what = f"{container} image" if container else "image"
            raise BadInputError(f"not a decodable {what} (corrupt, truncated or unsupported format: "
                                "its dimensions cannot be read from a header)", path=path)
        container, size = found[0], found[1:]
        _check_resolution(size[0], size[1], path)
    with open(path, "rb") as fh:
        data = np.frombuffer(fh.read(), dtype=np.uint8)  # bytes, not a path: unicode paths work everywhere
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)  # IMREAD_COLOR applies EXIF orientation
    if bgr is None or bgr.size == 0:
        what = f"{container} image" if container else "image"
        raise BadInputError(f"not a decodable {what} (corrupt, truncated or unsupported format)", path=path)
    _check_resolution(bgr.shape[1], bgr.shape[0], path)
    return _to_rgb(bgr), rotation, container or "image"


def _header_size(head: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the text header of the formats OpenCV reads and Pillow does not: Radiance
    HDR (``#?RADIANCE``, lines, a blank line, then ``-Y H +X W``), PFM (``PF W H``) and PAM (``WIDTH W``...)."""
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        _, sep, rest = head.partition(b"\n\n")
        fields = rest.split(b"\n", 1)[0].split()
        if sep and len(fields) == 4 and {fields[0][1:], fields[2][1:]} == {b"X", b"Y"} \
                and fields[1].isdigit() and fields[3].isdigit():
            dims = {fields[0][1:]: int(fields[1]), fields[2][1:]: int(fields[3])}
            return "hdr", dims[b"X"], dims[b"Y"]
    elif head[:2] in (b"PF", b"Pf") and head[2:3].isspace():
        fields = head[2:64].split()
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            return "pfm", int(fields[0]), int(fields[1])
    elif head.startswith(b"P7\n"):
        tokens = head.split(b"ENDHDR", 1)[0].split()
        dims = {k: v for k, v in zip(tokens, tokens[1:], strict=False) if k in (b"WIDTH", b"HEIGHT")}
        if len(dims) == 2 and all(v.isdigit() for v in dims.values()):
            return "pam", int(dims[b"WIDTH"]), int(dims[b"HEIGHT"])
    return None


# ------------------------------------------------------------------------------------------------ videos


def _probe_video(path: str, container: str, size: int) -> MediaInfo:
    cap = _open_capture(path, container)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if math.isfinite(fps) and 0 < fps < 10_000 else None
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
        _check_resolution(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), path)
        first = _read_first_frame(cap, path, container)
        height, width = first.shape[:2]
        del first
        claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        impossible = claimed > size  # more frames than the file has bytes: a lying header (a patched 'stts': 2e9)
        frame_count = claimed
        if claimed <= 0 or impossible:  # count what really decodes: grabs, no conversion, bounded by the file
            frame_count = 1
            while cap.grab():
                frame_count += 1
    finally:
        cap.release()
    duration = frame_count / fps if fps else None
    return MediaInfo(
        path, "video", container or Path(path).suffix.lower().lstrip(".") or "unknown", codec, fps,
        frame_count, duration, width, height, rotation, size, "", claimed if impossible else None,
    )


def _open_capture(path: str, container: str) -> cv2.VideoCapture:
    """Open with FFmpeg and ask it to apply rotation metadata so frames come out upright."""
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        if not container:
            raise BadInputError("not a media file (unrecognised format)", path=path)
        raise BadInputError(
            f"corrupt or incomplete {container} file: it cannot be opened as video "
            "(damaged or missing header/index, or no video stream)",
            path=path,
        )
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _read_first_frame(cap: cv2.VideoCapture, path: str, container: str) -> np.ndarray:
    ok = cap.grab()
    frame = cap.retrieve()[1] if ok else None
    if frame is None or frame.size == 0:
        what = f"{container} video" if container else "file"
        raise BadInputError(f"corrupt {what}: not even the first frame can be decoded", path=path)
    _check_resolution(frame.shape[1], frame.shape[0], path)
    return frame


def _fourcc(value: float) -> str | None:
    code = int(value) & 0xFFFFFFFF
    text = code.to_bytes(4, "little").decode("latin-1").strip("\x00 ")
    return text if text and text.isprintable() else None


def _check_resolution(width: int, height: int, path: str) -> None:
    if width * height > MAX_PIXELS:
        raise BadInputError(f"resolution {width}x{height} exceeds the limit of {_max_pixels_text()}", path=path)


def _max_pixels_text() -> str:
    return f"{MAX_PIXELS} pixels (8192x8192)"


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------------------------------------- sampling


class FramePlan(Sequence[int]):
    """The frame indices to sample, ``round(k * step)`` for k < len (the last one pinned to ``last``), computed on
    demand. Why not a list: the frame count comes from the container header, which a hostile file can set to 2e9;
    a list would cost gigabytes before the first frame is decoded. Decoding stops where the real stream ends."""

    def __init__(self, length: int, step: float = 1.0, last: int | None = None):
        self._len, self._step, self._last = max(0, length), step, last

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self._len))]
        if k < 0:
            k += self._len
        if not 0 <= k < self._len:
            raise IndexError("frame plan index out of range")
        if self._last is not None and k == self._len - 1:
            return self._last
        return k if self._step == 1.0 else math.floor(k * self._step + 0.5)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(map(str, self[:5])) + (", ..." if self._len > 5 else "")
        return f"FramePlan([{shown}], {self._len} frames)"


def planned_indices(info: MediaInfo, sampling: Sampling) -> FramePlan:
    """The frame indices iter_frames will yield (fewer only if the video turns out truncated), lazily."""
    if info.kind == "image":
        return FramePlan(1)
    n = info.frame_count
    if sampling.mode == "fps" and info.fps and info.fps > sampling.value:
        step = info.fps / sampling.value  # frames between samples at times 0, 1/F, 2/F, ... (> 1: no repeats)
        return FramePlan(_count_below(n, step), step)
    if sampling.mode == "count" and 1 <= int(sampling.value) < n:
        k = int(sampling.value)
        if k == 1:
            return FramePlan(1)
        return FramePlan(k, (n - 1) / (k - 1), last=n - 1)  # as np.linspace(0, n - 1, k), rounded: distinct
    # "all"; "fps" without a frame rate (no meaning: keep every frame) or faster than the video; count >= n
    return FramePlan(n)


def _count_below(n: int, step: float) -> int:
    """How many k >= 0 have round(k * step) < n, by arithmetic (n may be a hostile 2e9)."""
    m = max(0, math.ceil((n - 0.5) / step))
    while m > 0 and math.floor((m - 1) * step + 0.5) >= n:
        m -= 1
    while math.floor(m * step + 0.5) < n:
        m += 1
    return m


def iter_frames(
    path: str | os.PathLike,
    sampling: Sampling,
    info: MediaInfo | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[Frame]:
    """Stream the planned frames as upright RGB. Probes first (unless `info` is given) so bad input
    raises BadInputError here, before iteration starts. A truncated video simply ends early with
    ``stats.truncated = True``.
    """
    spath = os.fspath(path)
    if info is None:
        info = probe(spath, with_hash=False)
    stats = stats if stats is not None else DecodeStats()
    if info.kind == "image":
        return _iter_image(spath, info, stats)
    return _iter_video(spath, info, planned_indices(info, sampling), stats)


def _iter_image(path: str, info: MediaInfo, stats: DecodeStats) -> Iterator[Frame]:
    rgb, _, _ = _load_image(path, info.container)
    stats.decoded += 1
    yield Frame(0, 0.0, rgb)


def _iter_video(path: str, info: MediaInfo, plan: FramePlan, stats: DecodeStats) -> Iterator[Frame]:
    fps = info.fps
    seek_gap = SEEK_MIN_GAP_S * fps if fps else math.inf
    cap = _open_capture(path, info.container)
    pos = 0  # index of the frame the next grab() returns
    t0_ms: float | None = None  # timestamp of frame 0, anchors seek verification
    try:
        for target in plan:
            landed = False
            if target - pos > seek_gap and t0_ms is not None:
                landed = _verified_seek(cap, target, t0_ms + target * 1000.0 / fps, 500.0 / fps)
                if landed:
                    stats.seeks += 1
                else:
                    # Position unknown after a failed seek: reopen, walk forward, and never seek again.
                    cap.release()
                    cap = _open_capture(path, info.container)
                    pos, seek_gap = 0, math.inf
            if not landed:
                while pos < target and cap.grab():
                    stats.grabbed += 1
                    pos += 1
                landed = pos == target and cap.grab()
            image = cap.retrieve()[1] if landed else None
            if image is None or image.size == 0:
                if stats.decoded == 0:
                    raise BadInputError("corrupt video: not even the first frame can be decoded", path=path)
                # Fewer frames than the container promised (cut file, or a header lying about its length): stop.
                stats.truncated, stats.stream_end = True, pos
                return
            if t0_ms is None and target == 0:
                t0_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            pos = target + 1
            stats.decoded += 1
            time_s = target / fps if fps else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            rgb = _to_rgb(image)
            del image
            yield Frame(target, time_s, rgb)
    finally:
        cap.release()


def _verified_seek(cap: cv2.VideoCapture, target: int, expected_ms: float, tolerance_ms: float) -> bool:
    """Seek so the next grab() returns frame `target`, and grab it. True only if the grabbed frame's own
    timestamp matches the target (FFmpeg frame seeks can land off by a few frames on some files)."""
    if not cap.set(cv2.CAP_PROP_POS_FRAMES, target):
        return False
    if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) != target or not cap.grab():
        return False
    return abs(cap.get(cv2.CAP_PROP_POS_MSEC) - expected_ms) < tolerance_ms
