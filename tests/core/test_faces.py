"""core.faces on real footage: FF++ c23 clips sampled at 1 fps and FFHQ stills (read in place, never copied)."""

from __future__ import annotations

import functools
import math
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.faces import (
    AlignedFace,
    FaceDetection,
    FaceDetector,
    FaceMesher,
    FaceTracker,
    align_crop,
    face_hull_mask,
    invert_points,
    paste_heatmap,
    transform_points,
)
from tests.conftest import DATA_ROOT

DATA = DATA_ROOT
FFPP = DATA / "ffpp_c23_videos"
FFHQ = DATA / "ffhq_stylegan" / "real"

CLIPS = sorted(FFPP.glob("*/*.mp4")) if FFPP.is_dir() else []
needs_ffpp = pytest.mark.skipif(not CLIPS, reason=f"FF++ clips not found under {FFPP}")
needs_ffhq = pytest.mark.skipif(not FFHQ.is_dir(), reason=f"FFHQ stills not found under {FFHQ}")
CLIP_PARAMS = [pytest.param(c, id=f"{c.parent.name}/{c.stem}") for c in CLIPS] or [
    pytest.param(None, marks=pytest.mark.skip(reason=f"FF++ clips not found under {FFPP}"))
]


def sample_frames(path: Path, seconds: list[float] | None = None):
    """(index, RGB frame) at 1 fps (frame = round(k * fps)), or at the given times only."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        times = seconds if seconds is not None else range(int(n / fps) + 1)
        wanted = {round(t * fps) for t in times} & set(range(n))
        last = max(wanted)
        i = 0
        while i <= last and cap.grab():
            if i in wanted:
                ok, bgr = cap.retrieve()
                assert ok, (path, i)
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()


@functools.lru_cache(maxsize=16)
def frame_at(clip: str, second: float) -> np.ndarray:
    """One decoded frame, shared read-only between tests (1080p decoding is the slow part here)."""
    ((_, frame),) = sample_frames(FFPP / clip, seconds=[second])
    frame.setflags(write=False)
    return frame


def ffhq(name_index: int) -> np.ndarray:
    files = sorted(FFHQ.glob("*.jpg"))
    return cv2.cvtColor(cv2.imread(str(files[name_index])), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as det:
        yield det


@pytest.fixture(scope="module")
def level_meter():
    """Measuring instrument for eye tilt on crops: the raw short-range model, the more precise of the two
    on tight face crops (keypoint scatter on level crops ~2x below full range's)."""
    with FaceDetector(model_selection=0, refine=False) as det:
        yield det


@pytest.fixture(scope="module")
def clip_runs(detector):
    """Per clip, the detections of every 1 fps sample, computed once for the rate and tracking tests."""
    cache: dict[Path, list[tuple[int, list[FaceDetection]]]] = {}

    def run(clip: Path):
        if clip not in cache:
            cache[clip] = [(i, detector.detect(frame)) for i, frame in sample_frames(clip)]
        return cache[clip]

    return run


def centred(dets: list[FaceDetection], size: float) -> FaceDetection:
    return min(dets, key=lambda d: math.dist(d.center, (size / 2, size / 2)))


# 1 --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clip", CLIP_PARAMS)
def test_faces_found_in_95_percent_of_1fps_samples(clip, clip_runs):
    runs = clip_runs(clip)
    assert len(runs) >= 10
    rate = sum(bool(dets) for _, dets in runs) / len(runs)
    assert rate >= 0.95, f"{clip.name}: face in {rate:.0%} of {len(runs)} samples"
    for _, dets in runs:
        for d in dets:
            assert d.keypoints.shape == (6, 2)
            assert 0.0 < d.score <= 1.0
            assert d.box[2] > d.box[0] and d.box[3] > d.box[1]


# 2 --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clip", CLIP_PARAMS)
def test_one_identity_per_clip(clip, clip_runs):
    tracker = FaceTracker()
    seen: set[int] = set()
    for i, dets in clip_runs(clip):
        ids = tracker.update(i, dets)
        assert len(ids) == len(dets)
        seen.update(ids)
    assert seen == {0}, f"{clip.name}: identities {sorted(seen)}"
    assert len(tracker.tracks) == 1


# 3 --------------------------------------------------------------------------------------------------------
@needs_ffpp
@pytest.mark.parametrize("clip_name", ["real/519.mp4", "fake/634_660.mp4", "fake/750_743.mp4"])
@pytest.mark.parametrize("tilt", [0, 20])
def test_aligned_crops_level_the_eyes(clip_name, tilt, detector, level_meter):
    for second in (2, 5, 8):
        frame = frame_at(clip_name, second)
        if tilt:
            h, w = frame.shape[:2]
            rot = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)  # counter-clockwise on screen
            frame = cv2.warpAffine(frame, rot, (w, h))
        dets = detector.detect(frame)
        assert len(dets) == 1
        face = dets[0]
        if tilt:
            # The detector sees the tilt (eye line turned counter-clockwise: negative angle) ...
            assert face.eye_angle_deg < -12, face.eye_angle_deg
        aligned = align_crop(frame, face, 224)
        assert aligned.angle_deg == pytest.approx(face.eye_angle_deg)
        # ... and an independent detection on the crop finds the eyes level.
        again = level_meter.detect(aligned.crop)
        assert again, "no face found again on the aligned crop"
        angle = centred(again, 224).eye_angle_deg
        assert abs(angle) < 5.0, f"{clip_name} tilt {tilt}: eyes at {angle:.1f} deg on the crop"


# 4 --------------------------------------------------------------------------------------------------------
@needs_ffhq
def test_two_faces_side_by_side_give_two_identities(detector):
    singles = []
    for k in range(20):  # the first stills (sorted names) that each hold exactly one face
        image = ffhq(k)
        if len(detector.detect(image)) == 1:
            singles.append(image)
        if len(singles) == 2:
            break
    assert len(singles) == 2
    pair = np.ascontiguousarray(np.hstack(singles))
    half = singles[0].shape[1]

    dets = detector.detect(pair)
    assert len(dets) == 2
    xs = sorted(d.center[0] for d in dets)
    assert xs[0] < half < xs[1]

    tracker = FaceTracker()
    ids = tracker.update(0, dets)
    assert sorted(ids) == [0, 1]
    by_x = dict(zip([d.center[0] for d in dets], ids, strict=True))
    assert [by_x[x] for x in xs] == [0, 1], "new ids are handed out left to right"
    # The next sample, detections in the other order: each face keeps its identity.
    again = tracker.update(1, dets[::-1])
    assert again == ids[::-1]


# 5 --------------------------------------------------------------------------------------------------------
@needs_ffpp
def test_frames_without_faces_give_nothing(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise) == []
    # Background of a real clip: the strip to the right of the presenter's face.
    frame = frame_at("real/634.mp4", 0)
    (face,) = detector.detect(frame)
    x = int(face.box[2] + 0.5 * face.width)
    background = np.ascontiguousarray(frame[:, x:])
    assert background.shape[1] > 200
    assert detector.detect(background) == []


# 6 --------------------------------------------------------------------------------------------------------
@needs_ffhq
def test_huge_frame_coordinates_are_full_frame_pixels(detector):
    face = cv2.resize(ffhq(0), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((4000, 4000, 3), 90, np.uint8)
    x0, y0 = 1800, 2600
    canvas[y0 : y0 + 1024, x0 : x0 + 1024] = face

    dets = detector.detect(canvas)
    assert len(dets) == 1
    d = dets[0]
    cx, cy = d.center
    assert x0 + 300 < cx < x0 + 724 and y0 + 300 < cy < y0 + 724, d.box
    assert 300 < d.width < 1100 and 300 < d.height < 1100, d.box
    assert d.box[3] > 1280  # beyond the 1280 px detection resolution: mapped back to the 4000 px frame
    kx, ky = d.keypoints[:, 0], d.keypoints[:, 1]
    assert (kx > x0).all() and (kx < x0 + 1024).all() and (ky > y0).all() and (ky < y0 + 1024).all()


# 7 --------------------------------------------------------------------------------------------------------
@needs_ffpp
@pytest.mark.parametrize("size", [96, 224, 512])
def test_crop_geometry(size, detector):
    frame = frame_at("fake/750_743.mp4", 5)
    (face,) = detector.detect(frame)
    aligned = align_crop(frame, face, size, identity=7)
    assert isinstance(aligned, AlignedFace)
    assert aligned.crop.shape == (size, size, 3) and aligned.crop.dtype == np.uint8
    assert aligned.matrix.shape == (2, 3)
    assert aligned.box == face.box and aligned.identity == 7
    np.testing.assert_allclose(
        transform_points(aligned.matrix, face.center), [[size / 2, size / 2]], atol=1e-6
    )
    eyes = transform_points(aligned.matrix, face.keypoints[:2])
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6) and eyes[0, 0] < eyes[1, 0]
    # side = 1.3 x the larger box side
    corners = invert_points(aligned.matrix, [[0, 0], [size, 0]])
    assert math.dist(*corners) == pytest.approx(1.3 * max(face.width, face.height))
    np.testing.assert_allclose(invert_points(aligned.matrix, eyes), face.keypoints[:2], atol=1e-6)


def _blob(shape, xy, sigma):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    # continuous coordinates: pixel (i, j) has its centre at (i + 0.5, j + 0.5)
    return np.exp(-((xx + 0.5 - xy[0]) ** 2 + (yy + 0.5 - xy[1]) ** 2) / (2 * sigma**2))


def _centroid(img):
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    w = img.astype(np.float64)
    return np.array([(w * (xx + 0.5)).sum() / w.sum(), (w * (yy + 0.5)).sum() / w.sum()])


@pytest.mark.parametrize("size", [64, 200, 350, 900])  # area pre-shrink x2, direct bilinear, cubic enlarge
def test_crop_pixels_follow_the_matrix(size):
    """Pixel content lands where the matrix says, on both the pre-shrink and the direct warp path."""
    tilt = math.radians(15)
    kps = np.array(
        [[450, 450], [450 + 100 * math.cos(tilt), 450 + 100 * math.sin(tilt)], [0, 0], [0, 0], [0, 0], [0, 0]]
    )
    face = FaceDetection(box=(350.0, 350.0, 650.0, 650.0), score=1.0, keypoints=kps)
    spot = (530.0, 560.0)
    image = np.repeat((255 * _blob((1000, 1000), spot, 12.0))[..., None], 3, axis=2).astype(np.uint8)
    aligned = align_crop(image, face, size)
    expected = transform_points(aligned.matrix, spot)[0]
    np.testing.assert_allclose(_centroid(aligned.crop[..., 0]), expected, atol=0.02 * size + 0.3)


def test_outside_the_frame_is_black():
    image = np.full((300, 300, 3), 200, np.uint8)
    kps = np.array([[10.0, 20.0], [60.0, 20.0], [35, 40], [35, 60], [0, 30], [70, 30]])
    corner_face = FaceDetection(box=(-20.0, -10.0, 90.0, 100.0), score=1.0, keypoints=kps)
    crop = align_crop(image, corner_face, 128).crop
    assert (crop[:5, :5] == 0).all()  # off-frame: constant black, not mirrored content
    assert (crop[-5:, -5:] == 200).all()


@needs_ffpp
def test_paste_heatmap_back_onto_the_frame(detector):
    frame = frame_at("real/634.mp4", 2)
    (face,) = detector.detect(frame)
    aligned = align_crop(frame, face, 224)
    h, w = frame.shape[:2]
    side = 1.3 * max(face.width, face.height)

    ones = paste_heatmap(frame.shape, aligned.matrix, np.ones((14, 14), np.float32), crop_size=224)
    assert ones.shape == (h, w) and ones.dtype == np.float32
    assert ones.max() == 1.0 and ones.min() == 0.0
    assert (ones > 0).sum() == pytest.approx(side * side, rel=0.03)  # the (rotated) crop square
    cx, cy = face.center
    assert ones[int(cy), int(cx)] == 1.0

    # A hot spot on the crop's nose lands on the frame's nose.
    nose_crop = transform_points(aligned.matrix, face.keypoints[2])[0]
    heat = np.zeros((224, 224), np.float32)
    heat[int(nose_crop[1]) - 2 : int(nose_crop[1]) + 3, int(nose_crop[0]) - 2 : int(nose_crop[0]) + 3] = 1
    back = paste_heatmap(frame.shape, aligned.matrix, heat)
    np.testing.assert_allclose(_centroid(back), face.keypoints[2], atol=2.0)


# lifecycle ----------------------------------------------------------------------------------------------
def test_detector_closes_reliably():
    det = FaceDetector()
    with det:
        assert det.detect(np.full((64, 64, 3), 128, np.uint8)) == []
    assert det.closed
    det.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.full((64, 64, 3), 128, np.uint8))
    FaceDetector().__del__()  # never used, never opened: nothing to release, no error


def test_detector_refuses_a_second_thread():
    with FaceDetector() as det:
        det.detect(np.full((64, 64, 3), 128, np.uint8))
        errors: list[BaseException] = []

        def use():
            try:
                det.detect(np.full((64, 64, 3), 128, np.uint8))
            except BaseException as exc:  # noqa: BLE001 - captured for the assertion below
                errors.append(exc)

        t = threading.Thread(target=use)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


def test_bad_arrays_are_rejected(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((0, 10, 3), np.uint8))


def test_tracker_sparse_motion_and_retirement():
    tracker = FaceTracker(max_missed=2)
    box = (100.0, 100.0, 200.0, 200.0)
    assert tracker.update(0, [box]) == [0]
    moved = (190.0, 110.0, 290.0, 210.0)  # IoU ~0.05 after a 1 s jump, centre moved 0.9 box sides
    assert tracker.update(25, [moved]) == [0]
    for k in range(3):  # unseen for 3 samples > max_missed
        assert tracker.update(50 + 25 * k, []) == []
    assert tracker.update(150, [moved]) == [1]
    far = (900.0, 100.0, 1000.0, 200.0)
    assert tracker.update(175, [moved, far]) == [1, 2]


# mesh -----------------------------------------------------------------------------------------------------
@needs_ffpp
def test_mesh_and_hull_mask(detector):
    frame = frame_at("fake/750_743.mp4", 5)
    (face,) = detector.detect(frame)
    with FaceMesher() as mesher:
        (pts,) = mesher.landmarks(frame, [face])
        own = mesher.landmarks(frame)
    assert pts is not None and pts.shape == (468, 2)
    x0, y0, x1, y1 = face.box
    pad = 0.3 * face.width
    assert (pts[:, 0] > x0 - pad).all() and (pts[:, 0] < x1 + pad).all()
    assert (pts[:, 1] > y0 - pad).all() and (pts[:, 1] < y1 + pad).all()
    assert len(own) == 1 and np.abs(own[0] - pts).mean() < 0.05 * face.width

    mask = face_hull_mask(frame.shape, pts)
    assert mask.shape == frame.shape[:2] and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    assert 0.5 < (mask > 0).sum() / (face.width * face.height) < 2.0
    assert mask[int(face.keypoints[2, 1]), int(face.keypoints[2, 0])] == 255  # the nose is inside


# ------------------------------------------------------------------------------------ terminal noise (issue 12)


def test_mediapipe_prints_nothing_into_the_terminal():
    """MediaPipe's native logs (absl 'W0000 ... inference_feedback_manager', TFLite 'INFO: Created ... delegate')
    printed 3-4 lines per analysed file; no environment variable silences them, so graph start-up is diverted."""
    import subprocess
    import sys

    script = ("import numpy as np; from core.faces import FaceDetector, FaceMesher\n"
              "with FaceDetector() as d, FaceMesher() as m:\n"
              "    d.detect(np.zeros((64, 64, 3), np.uint8)); m.landmarks(np.zeros((64, 64, 3), np.uint8))\n"
              "print('ok')")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    assert run.stderr == ""


def test_other_stderr_output_during_graph_start_is_passed_on(capfd):
    import os

    from core.faces._solution import _quiet_native_stderr

    with _quiet_native_stderr():
        os.write(2, b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager ...\n"
                    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nsomething else went wrong\n")
    err = capfd.readouterr().err
    assert err == "something else went wrong\n"


def test_native_lines_written_just_after_a_first_run_are_still_kept_off_the_terminal(capfd):
    """MediaPipe's calculators log from their own threads, sometimes after process() has returned."""
    import os
    import threading
    import time

    from core.faces._solution import _quiet_native_stderr

    def graph_thread():
        time.sleep(0.03)
        os.write(2, b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager ...\n")

    with _quiet_native_stderr(settle=0.1):
        late = threading.Thread(target=graph_thread)
        late.start()
    late.join()
    assert capfd.readouterr().err == ""


def test_a_graph_is_created_and_first_run_inside_one_diversion(capfd):
    """Calculators open on the graph's own threads after start_run returns: a gap between a diverted creation and
    a diverted first run let 'inference_feedback_manager' warnings through on a loaded CI machine."""
    import os

    from core.faces._solution import MediaPipeSolution

    noise = b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager ...\n"
    sink_sizes = []

    class Graph:
        def process(self, image):
            sink_sizes.append(os.fstat(2).st_size)  # the creation's line is still in the same sink
            return image

        def close(self):
            pass

    class Solution(MediaPipeSolution):
        def _create_graph(self, key):
            os.write(2, noise)  # as if a calculator opened (and logged) just after creation
            return Graph()

    with Solution() as solution:
        solution._process(0, np.zeros((4, 4, 3), np.uint8))
    assert sink_sizes == [len(noise)]
    assert capfd.readouterr().err == ""
