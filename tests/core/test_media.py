"""core.media on real evidence-like files: metadata, hashing, sampling cost, colour order, bad input, memory.

Real clips/images come from ../shared/data (read-only, never copied into the repo); anything derived
(truncated copies, synthetic videos, crafted images) is written under tmp_path.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import resource
import struct
import time

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from core import media
from core.digest import sha256_file
from core.errors import BadInputError
from core.media import (
    MAX_PIXELS,
    MEDIA_EXTENSIONS,
    DecodeStats,
    MediaInfo,
    Sampling,
    iter_frames,
    planned_indices,
    probe,
)
from tests.conftest import DATA_ROOT

DATA = DATA_ROOT
VIDEOS = DATA / "ffpp_c23_videos"
IMAGES = DATA / "ffhq_stylegan"
CLIP = VIDEOS / "real" / "004.mp4"  # 1280x720, 25 fps, 309 frames, 181 KB: the cheapest real clip


def _require(path):
    if not path.exists():
        pytest.skip(f"shared test data not found: {path} (expected beside the repo in ../shared/data)")
    return path


@pytest.fixture(scope="module")
def clip():
    return _require(CLIP)


@pytest.fixture(scope="module")
def face_jpg():
    return sorted(_require(IMAGES / "real").glob("*.jpg"))[0]


def _manifest_sha(rel: str) -> str:
    with open(VIDEOS / "manifest.csv", newline="") as fh:
        return next(row["sha256"] for row in csv.DictReader(fh) if row["file"] == rel)


def _sequential_frames(path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Reference decode with plain OpenCV, no seeking: BGR frames at `wanted` indices."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    out, index = {}, 0
    while index <= max(wanted) and cap.grab():
        if index in wanted:
            out[index] = cap.retrieve()[1]
        index += 1
    cap.release()
    return out


# ------------------------------------------------------------------------------------------ mp4 helpers


def _boxes(data, start, end):
    off = start
    while off + 8 <= end:
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[off + 8:off + 16])[0], 16
        elif size == 0:
            size = end - off
        yield kind.decode("latin-1"), off, header, size
        off += size


def _find_box(data, path, start=0, end=None):
    end = len(data) if end is None else end
    for kind, off, header, size in _boxes(data, start, end):
        if kind == path[0]:
            return (off, header, size) if len(path) == 1 else _find_box(data, path[1:], off + header, off + size)
    raise AssertionError(f"box {path} not found")


def _faststart(data: bytes) -> bytes:
    """Move 'moov' (the index) before 'mdat', fixing chunk offsets: what `ffmpeg -movflags +faststart` does.

    With the index first, a truncated copy still opens and its first frames decode - a true truncated video.
    """
    top = list(_boxes(data, 0, len(data)))
    assert [b[0] for b in top][0] == "ftyp" and top[-1][0] == "moov", [b[0] for b in top]
    _, moov_off, _, moov_size = top[-1]
    moov = bytearray(data[moov_off:moov_off + moov_size])

    def patch(start, end):
        for kind, off, header, size in _boxes(moov, start, end):
            if kind in ("trak", "mdia", "minf", "stbl"):
                patch(off + header, off + size)
            elif kind in ("stco", "co64"):
                count = struct.unpack(">I", moov[off + header + 4:off + header + 8])[0]
                width, fmt = (4, ">I") if kind == "stco" else (8, ">Q")
                for i in range(count):
                    at = off + header + 8 + i * width
                    moov[at:at + width] = struct.pack(fmt, struct.unpack(fmt, moov[at:at + width])[0] + moov_size)

    _, header, size = next((0, b[2], b[3]) for b in _boxes(moov, 0, len(moov)))
    patch(header, size)
    ftyp_end = top[0][1] + top[0][3]
    return data[:ftyp_end] + bytes(moov) + data[ftyp_end:moov_off]


def _write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


# ------------------------------------------------------------------------------------------------ probe


def test_probe_real_clip_metadata(clip):
    info = probe(clip)
    assert info.kind == "video" and info.container == "mp4"
    assert info.codec in ("h264", "avc1")
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 309
    assert (info.width, info.height, info.rotation) == (1280, 720, 0)
    assert info.duration_s == pytest.approx(info.frame_count / info.fps)
    assert info.size_bytes == os.path.getsize(clip)
    assert info.sha256 == _manifest_sha("real/004.mp4")
    assert info.path == str(clip)
    assert json.loads(json.dumps(info.to_dict())) == info.to_dict()
    assert probe(clip, with_hash=False).sha256 == ""


def test_sha256_matches_hashlib_across_chunks():
    path = _require(VIDEOS / "real" / "519.mp4")  # 2.3 MB: spans several 1 MiB chunks
    assert os.path.getsize(path) > 2 * (1 << 20)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest() == _manifest_sha("real/519.mp4")


def test_evidence_is_only_opened_read_only(clip, face_jpg, monkeypatch):
    modes = []

    def spy(file, mode="r", *args, **kwargs):
        modes.append(mode)
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(media, "open", spy, raising=False)
    before = os.stat(clip).st_mtime_ns
    for path in (clip, face_jpg):
        list(iter_frames(path, Sampling("count", 2), info=probe(path)))
    assert modes and set(modes) == {"rb"}
    assert os.stat(clip).st_mtime_ns == before


def test_media_extensions():
    assert {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif",
            ".tiff"} == MEDIA_EXTENSIONS
    assert MAX_PIXELS == 8192 * 8192


# --------------------------------------------------------------------------------------------- sampling


def _video_info(frame_count, fps):
    return MediaInfo("v.mp4", "video", "mp4", "h264", fps, frame_count, frame_count / fps if fps else None,
                     64, 64, 0, 1, "")


def test_planned_indices_rules():
    v30 = _video_info(100, 30.0)
    assert planned_indices(v30, Sampling("fps", 1)) == [0, 30, 60, 90]
    assert planned_indices(v30, Sampling("fps", 2)) == [0, 15, 30, 45, 60, 75, 90]
    assert planned_indices(v30, Sampling("fps", 0.5)) == [0, 60]
    assert planned_indices(v30, Sampling("fps", 100)) == list(range(100))  # faster than the video: every frame
    assert planned_indices(_video_info(100, 29.97), Sampling("fps", 1)) == [0, 30, 60, 90]  # rounded to nearest
    assert planned_indices(v30, Sampling("count", 5)) == [0, 25, 50, 74, 99]
    assert planned_indices(v30, Sampling("count", 1)) == [0]
    assert planned_indices(v30, Sampling("count", 500)) == list(range(100))
    assert planned_indices(v30, Sampling("all")) == list(range(100))
    assert planned_indices(_video_info(10, None), Sampling("fps", 1)) == list(range(10))  # no fps: keep all
    image = MediaInfo("i.png", "image", "png", None, None, 1, None, 8, 8, 0, 1, "")
    assert planned_indices(image, Sampling("fps", 1)) == [0]
    assert Sampling().to_dict() == {"mode": "fps", "value": 1.0}
    for mode, value in (("every", 1), ("fps", 0), ("fps", float("nan")), ("count", 0.5)):
        with pytest.raises(ValueError):
            Sampling(mode, value)


def test_fps_sampling_decodes_only_planned_frames(clip):
    info = probe(clip, with_hash=False)
    plan = planned_indices(info, Sampling("fps", 1.0))
    assert plan == list(range(0, 309, 25))
    stats = DecodeStats()
    frames = list(iter_frames(clip, Sampling("fps", 1.0), info=info, stats=stats))
    assert [f.index for f in frames] == plan
    assert [f.time_s for f in frames] == pytest.approx([i / 25.0 for i in plan])
    assert stats.decoded == len(plan) == 13
    assert stats.grabbed == plan[-1] + 1 - len(plan) == 288  # every skipped frame grabbed, none retrieved
    assert (stats.seeks, stats.truncated) == (0, False)  # 1 s gaps are below the seek threshold


def test_count_sampling_even_spacing_with_exact_seeks(clip):
    stats = DecodeStats()
    frames = list(iter_frames(clip, Sampling("count", 5), stats=stats))
    assert [f.index for f in frames] == [0, 77, 154, 231, 308]  # np.linspace(0, 308, 5), rounded
    assert stats.decoded == 5 and stats.seeks > 0  # ~3 s gaps: seeked, and each seek verified
    reference = _sequential_frames(clip, {f.index for f in frames})
    for frame in frames:
        assert np.array_equal(frame.image, reference[frame.index][:, :, ::-1]), frame.index


def test_frames_are_rgb_uint8(clip):
    (frame,) = iter_frames(clip, Sampling("count", 1))
    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    assert frame.image.dtype == np.uint8 and frame.image.shape == (720, 1280, 3)
    assert np.array_equal(frame.image, bgr[:, :, ::-1])
    assert not np.array_equal(frame.image, bgr)  # a colour clip: the order really changed


def test_image_yields_one_rgb_frame_equal_to_pil(face_jpg):
    info = probe(face_jpg)
    assert (info.kind, info.container, info.codec, info.fps, info.frame_count) == ("image", "jpeg", None, None, 1)
    assert (info.width, info.height, info.rotation) == (256, 256, 0)
    assert info.sha256 == hashlib.sha256(face_jpg.read_bytes()).hexdigest()
    stats = DecodeStats()
    frames = list(iter_frames(face_jpg, Sampling("fps", 5), stats=stats))
    assert len(frames) == 1 and (frames[0].index, frames[0].time_s) == (0, 0.0)
    with Image.open(face_jpg) as im:
        expected = np.asarray(im.convert("RGB"))
    assert frames[0].image.dtype == np.uint8
    assert np.array_equal(frames[0].image, expected)
    assert stats.decoded == 1


def test_image_exif_orientation_and_unicode_path(tmp_path):
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:20, :30] = (255, 0, 0)  # red block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "évidence_証拠.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 40, 60)
    (frame,) = iter_frames(path, Sampling("all"), info=info)
    with Image.open(path) as im:
        upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert frame.image.shape == upright.shape == (60, 40, 3)
    assert np.abs(frame.image.astype(int) - upright).max() <= 2
    assert frame.image[5, 35, 0] > 200 and frame.image[5, 5, 0] < 50  # red now top-right


def test_png_is_lossless_exact(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels).save(path)
    (frame,) = iter_frames(path, Sampling())
    assert probe(path).container == "png"
    assert np.array_equal(frame.image, pixels)


def test_video_rotation_metadata_delivers_upright_frames(tmp_path):
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:16, :32] = (0, 0, 255)  # BGR red, top-left
    src = _write_video(tmp_path / "flat.mp4", [frame] * 5).read_bytes()
    off, header, _ = _find_box(src, ["moov", "trak", "tkhd"])
    assert src[off + header] == 0  # tkhd version 0: matrix at payload offset 40
    at = off + header + 40
    rotated = bytearray(src)  # display matrix for 90 degrees clockwise (translated into view)
    rotated[at:at + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 32 << 16, 0, 1 << 30)
    path = tmp_path / "rot90.mp4"
    path.write_bytes(bytes(rotated))
    info = probe(path)
    assert (info.rotation, info.width, info.height, info.frame_count) == (90, 32, 64, 5)
    first = next(iter_frames(path, Sampling("all"), info=info)).image
    assert first.shape == (64, 32, 3)
    assert first[8, 24, 0] > 200 and first[8, 8, 0] < 50  # red block moved to the top-right: upright


# ------------------------------------------------------------------------------------------- bad input


def _bad(path, *fragments):
    with pytest.raises(BadInputError) as err:
        probe(path)
    message = str(err.value)
    assert str(path) in message and err.value.exit_code == 2
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_path_and_directory(tmp_path):
    _bad(tmp_path / "nope.mp4", "does not exist")
    _bad(tmp_path, "is a directory")
    with pytest.raises(BadInputError, match="does not exist"):
        iter_frames(tmp_path / "nope.mp4", Sampling())  # raised at the call, before iteration


def test_empty_text_random_and_fifo(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    _bad(tmp_path / "empty.mp4", "empty (0 bytes)")
    (tmp_path / "notes.jpg").write_text("suspect said the video was edited\n")
    _bad(tmp_path / "notes.jpg", "not a media file", "text")
    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(1).bytes(64 * 1024))
    _bad(tmp_path / "random.mp4", "not a media file")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(2).bytes(4096))
    _bad(tmp_path / "broken.jpg", "not a decodable jpeg image")
    os.mkfifo(tmp_path / "pipe.mp4")
    _bad(tmp_path / "pipe.mp4", "not a regular file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_file(tmp_path, face_jpg):
    path = tmp_path / "locked.jpg"
    path.write_bytes(face_jpg.read_bytes())
    path.chmod(0)
    try:
        _bad(path, "permission denied")
    finally:
        path.chmod(0o600)


def test_permission_error_reported_even_as_root(tmp_path, face_jpg, monkeypatch):
    """Root bypasses chmod, so simulate what a locked file does to open(): same code path, same message."""
    path = tmp_path / "locked.jpg"
    path.write_bytes(face_jpg.read_bytes())

    def denied(file, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(media, "open", denied, raising=False)
    _bad(path, "permission denied")


def test_huge_image_rejected_from_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("1", (9000, 9000)).save(path)  # 1-bit: ~10 MB in memory, a few KB on disk
    monkeypatch.setattr(media.cv2, "imdecode", lambda *a, **k: pytest.fail("decoded a huge image"))
    _bad(path, "resolution 9000x9000 exceeds")


def test_truncated_real_mp4_cannot_be_opened(tmp_path, clip):
    """FF++ files keep their index ('moov') at the END: the first 30% has no index, so nothing can be read."""
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 3 // 10])
    _bad(path, "corrupt or incomplete mp4 file", "cannot be opened")


def test_truncated_faststart_mp4_ends_early(tmp_path, clip):
    """With the index first, 30% of the bytes still open: iteration stops early and reports truncation."""
    fast = _faststart(clip.read_bytes())
    (tmp_path / "fast.mp4").write_bytes(fast)
    assert probe(tmp_path / "fast.mp4", with_hash=False).frame_count == 309  # the remux itself is sound
    path = tmp_path / "fast_cut.mp4"
    path.write_bytes(fast[: len(fast) * 3 // 10])
    info = probe(path)
    assert info.frame_count == 309  # the container still promises every frame
    stats = DecodeStats()
    frames = list(iter_frames(path, Sampling("fps", 5), info=info, stats=stats))
    plan = planned_indices(info, Sampling("fps", 5))
    assert stats.truncated
    assert 0 < len(frames) < len(plan)
    assert [f.index for f in frames] == plan[: len(frames)]
    assert stats.decoded == len(frames)


def test_video_whose_first_frame_cannot_decode(tmp_path, clip):
    fast = _faststart(clip.read_bytes())
    mdat_at = _find_box(fast, ["mdat"])[0]
    path = tmp_path / "header_only.mp4"
    path.write_bytes(fast[: mdat_at + 64])  # index intact, frame data gone
    _bad(path, "not even the first frame")


# ----------------------------------------------------------------------------------------------- memory


@pytest.fixture(scope="module")
def long_1080p(tmp_path_factory):
    """600 frames of 1920x1080 at 25 fps (24 s), mp4v; each frame carries its index so frames differ."""
    path = tmp_path_factory.mktemp("long") / "long_1080p.mp4"
    base = np.zeros((1080, 1920, 3), np.uint8)
    base[:] = np.linspace(0, 255, 1920, dtype=np.uint8)[None, :, None]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1920, 1080))
    assert writer.isOpened()
    for i in range(600):
        frame = base.copy()
        cv2.putText(frame, str(i), (100, 600), cv2.FONT_HERSHEY_SIMPLEX, 12, (255, 255, 255), 25)
        writer.write(frame)
    writer.release()
    return path


def test_memory_is_one_frame_not_whole_video(long_1080p):
    info = probe(long_1080p, with_hash=False)
    assert (info.width, info.height, info.frame_count) == (1920, 1080, 600)
    stats = DecodeStats()
    before = peak = _rss_bytes()
    started = time.perf_counter()
    for frame in iter_frames(long_1080p, Sampling("all"), info=info, stats=stats):
        assert frame.image.shape == (1080, 1920, 3)
        del frame
        peak = max(peak, _rss_bytes())
    elapsed = time.perf_counter() - started
    growth_mb = (peak - before) / 2**20
    print(f"\n1080p x600 all-frames: RSS growth {growth_mb:.1f} MB, {elapsed:.2f} s, {stats}")
    assert stats.decoded == 600 and not stats.truncated
    assert growth_mb < 300  # the whole video decoded would be 600 x 6.2 MB = 3.7 GB


def test_seeks_land_exactly_on_long_video(long_1080p):
    stats = DecodeStats()
    frames = list(iter_frames(long_1080p, Sampling("count", 4), stats=stats))
    assert [f.index for f in frames] == [0, 200, 399, 599]
    assert stats.seeks == 3 and stats.grabbed == 0 and stats.decoded == 4
    reference = _sequential_frames(long_1080p, {f.index for f in frames})
    for frame in frames:
        assert np.array_equal(frame.image, reference[frame.index][:, :, ::-1]), frame.index


# --------------------------------------------------------------------------------- hostile headers (issue 12)


def _patched_stts(clip, path, frames: int):
    """A copy of a real mp4 whose 'stts' box claims `frames` frames (the real ones are still all there)."""
    data = bytearray(clip.read_bytes())
    off, header, _ = _find_box(data, ["moov", "trak", "mdia", "minf", "stbl", "stts"])
    assert struct.unpack(">I", data[off + header + 4:off + header + 8])[0] == 1  # one (count, delta) entry
    struct.pack_into(">I", data, off + header + 8, frames)
    path.write_bytes(bytes(data))
    return path


def write_radiance_hdr(path, width: int, height: int):
    """A Radiance HDR whose rows are run-length encoded (4 runs per channel of 127 px): tiny on disk, huge decoded."""
    runs = bytearray()
    for value in (128, 64, 32, 129):  # R, G, B mantissas, shared exponent
        left = width
        while left:
            n = min(127, left)
            runs += bytes((128 + n, value))
            left -= n
    row = bytes((2, 2, width >> 8, width & 0xFF)) + bytes(runs)
    with open(path, "wb") as fh:
        fh.write(f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode())
        fh.write(row * height)
    return path


def test_frame_plan_is_arithmetic_not_a_list():
    """A header claiming 2e9 frames: the plan costs nothing (it was a 5.2 GB list at --fps 0.5)."""
    import tracemalloc

    liar = _video_info(2_000_000_000, 25.0)
    tracemalloc.start()
    plans = {mode: planned_indices(liar, Sampling(mode, value))
             for mode, value in (("fps", 0.5), ("all", 1), ("count", 7))}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20
    assert len(plans["fps"]) == 40_000_000 and plans["fps"][:3] == [0, 50, 100] and plans["fps"][-1] == 1_999_999_950
    assert len(plans["all"]) == 2_000_000_000 and plans["all"][-1] == 1_999_999_999
    assert list(plans["count"]) == [0, 333333333, 666666666, 1000000000, 1333333333, 1666666666, 1999999999]
    # the arithmetic matches the rounding rule on ordinary lengths
    for n, fps, rate in ((309, 25.0, 1.0), (100, 29.97, 1.0), (1001, 30.0, 7.0), (50, 24.0, 0.3)):
        expected = [i for i in (math.floor(k * fps / rate + 0.5) for k in range(n)) if i < n]
        assert planned_indices(_video_info(n, fps), Sampling("fps", rate)) == expected


def test_header_claiming_more_frames_than_bytes_is_counted(tmp_path, clip):
    """A patched stts box says 2e9 frames in a 181 KB file: probe counts the 309 that decode and says so."""
    liar = _patched_stts(clip, tmp_path / "liar.mp4", 2_000_000_000)
    info = probe(liar, with_hash=False)
    assert (info.frame_count, info.claimed_frame_count) == (309, 2_000_000_000)
    assert info.duration_s == pytest.approx(309 / 25)
    stats = DecodeStats()
    assert len(list(iter_frames(liar, Sampling("fps", 0.5), info=info, stats=stats))) == 7 and not stats.truncated


def test_truncation_reports_where_the_stream_ends(tmp_path, clip):
    """A claim the file size allows (15,000 frames) but the stream does not hold: iteration stops at frame 309."""
    liar = _patched_stts(clip, tmp_path / "long_claim.mp4", 15_000)
    info = probe(liar, with_hash=False)
    assert (info.frame_count, info.claimed_frame_count) == (15_000, None)
    stats = DecodeStats()
    frames = list(iter_frames(liar, Sampling("all"), info=info, stats=stats))
    assert len(frames) == 309 and stats.truncated and stats.stream_end == 309


def test_radiance_hdr_named_jpg_refused_from_its_header(tmp_path, monkeypatch):
    """12000x12000 in 9 MB: refused from the text header, never decoded (it decoded to 3.2 GB before)."""
    huge = write_radiance_hdr(tmp_path / "holiday.jpg", 12000, 12000)
    assert huge.stat().st_size < 10 << 20
    monkeypatch.setattr(media.cv2, "imdecode", lambda *a, **k: pytest.fail("decoded a huge image"))
    _bad(huge, "resolution 12000x12000 exceeds")


def test_small_radiance_hdr_still_decodes(tmp_path):
    info = probe(write_radiance_hdr(tmp_path / "small.jpg", 300, 200))
    assert (info.kind, info.container, info.width, info.height) == ("image", "hdr", 300, 200)
    (frame,) = iter_frames(tmp_path / "small.jpg", Sampling())
    assert frame.image.shape == (200, 300, 3) and frame.image.dtype == np.uint8


def test_image_without_a_readable_header_is_refused_undecoded(tmp_path, monkeypatch):
    """Neither Pillow nor our header parsers can size it: refused (exit 2) rather than decoded blind."""
    odd = tmp_path / "odd.png"
    odd.write_bytes(b"\x00\x01\x02\x03" * 4096)
    monkeypatch.setattr(media.cv2, "imdecode", lambda *a, **k: pytest.fail("decoded an image of unknown size"))
    _bad(odd, "dimensions cannot be read")
