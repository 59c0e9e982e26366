"""The whole pipeline on real videos and photos with a real (tiny, untrained) model folder."""

import json
import threading

import numpy as np
import pytest

from core.engine import AnalysisSettings, analyze
from core.errors import CancelledError, NoFaceError
from core.media import Sampling
from core.models import load_model, read_bundle
from core.results import AnalysisResult
from tests.conftest import require_data


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    bundle = read_bundle(tiny_model_dir)
    return load_model(bundle, ["hamlet", "mfclip"])


def test_video_analysis_end_to_end(tiny_model):
    video = require_data("ffpp_c23_videos", "fake", "519_515.mp4")
    seen = []
    result = analyze(str(video), AnalysisSettings(sampling=Sampling("fps", 1.0)), tiny_model, progress=seen.append)
    assert len(result.file["sha256"]) == 64 and result.file["media"]["kind"] == "video"
    assert result.frames_with_faces >= 0.95 * result.sampled_frames
    for name in ("hamlet", "mfclip"):
        det = result.detectors[name]
        assert len(det.identities) == 1                       # one-person clip -> one identity
        assert len(det.frames) == result.frames_with_faces    # a record per frame with a face
        assert det.verdict in ("real", "fake") and 0.0 <= det.video_score <= 1.0
        assert det.model["detector_sha256"] and det.model["arch"] == "ffd-test-tiny"
        face = det.frames[0].faces[0]
        assert face.key in result.artifacts and "crop.jpg" in result.artifacts[face.key]
    hamlet_face = result.detectors["hamlet"].frames[0].faces[0]
    assert set(hamlet_face.similarities) == {"real", "fake", "context"}
    assert len(result.detectors["mfclip"].frames[0].faces[0].patch_box) == 4
    assert seen[-1].stage == "done" and any(p.eta_s is not None for p in seen)
    # The stored form reopens to the same numbers.
    again = AnalysisResult.from_json(result.to_json(include_artifacts=True))
    assert again.to_dict(include_artifacts=True) == result.to_dict(include_artifacts=True)
    json.loads(result.to_json())  # plain JSON export is valid


def test_photo_analysis(tiny_model):
    photo = sorted(require_data("ffhq_stylegan", "fake").glob("*.jpg"))[0]
    result = analyze(str(photo), AnalysisSettings(), tiny_model)
    assert result.sampled_frames == 1 and result.frames_with_faces == 1
    assert result.detectors["mfclip"].identities[0].frames == 1


def test_no_face_raises(tiny_model, tmp_path):
    import cv2
    import numpy as np

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(NoFaceError, match="no face"):
        analyze(str(blank), AnalysisSettings(), tiny_model)


def test_cancel_stops_promptly(tiny_model):
    video = require_data("ffpp_c23_videos", "real", "519.mp4")
    stop = threading.Event()

    def on_progress(p):
        if p.stage == "analysing" and p.done >= 2:
            stop.set()

    with pytest.raises(CancelledError):
        analyze(str(video), AnalysisSettings(sampling=Sampling("fps", 2.0)), tiny_model, progress=on_progress,
                cancel=stop.is_set)


def test_memory_stays_bounded_on_a_long_1080p_video(tiny_model, tmp_path):
    """A 1080p video with a face in every frame, analysed at every frame: resident memory grows by a bounded
    amount (frames stream; crops are scored in batches; kept images are capped by max_artifacts), not with length.
    """
    import cv2
    import numpy as np

    face = cv2.imread(str(sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0]))
    video = tmp_path / "long_1080p.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1920, 1080))
    for i in range(400):
        canvas = np.full((1080, 1920, 3), 60, np.uint8)
        x = 600 + (i % 50) * 4
        canvas[300:812, x:x + 512] = cv2.resize(face, (512, 512))
        writer.write(canvas)
    writer.release()

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096 / 2**20

    before, peak = rss_mb(), [0.0]

    def track(_progress) -> None:
        peak[0] = max(peak[0], rss_mb())

    settings = AnalysisSettings(sampling=Sampling("all"), max_artifacts=50)
    result = analyze(str(video), settings, tiny_model, progress=track)
    assert result.sampled_frames == 400 and result.frames_with_faces >= 380
    assert len(result.artifacts) == 50  # only the 50 most suspicious faces keep their images
    growth = peak[0] - before
    print(f"\n400 frames 1080p, every frame: RSS growth {growth:.0f} MB")
    assert growth < 400  # the decoded video alone would be 400 x 6.2 MB = 2.5 GB


def test_faces_are_cut_at_the_models_crop_margin(tiny_model_dir, tmp_path):
    """A model trained on tight crops says so in model.json; the engine cuts the faces it scores the same way."""
    import shutil

    import numpy as np

    from core.errors import ModelError

    photo = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[3]
    tight_dir = tmp_path / "tight"
    shutil.copytree(tiny_model_dir, tight_dir)
    bundle = read_bundle(tight_dir)
    bundle.crop_margin = 1.1
    bundle.save()
    scales = {}
    for name, folder in (("default", tiny_model_dir), ("tight", tight_dir)):
        model = load_model(read_bundle(folder), ["hamlet"])
        result = analyze(str(photo), AnalysisSettings(detectors=("hamlet",)), model)
        face = result.detectors["hamlet"].frames[0].faces[0]
        scales[name] = float(np.hypot(*face.extras["crop_matrix"][0][:2]))
        assert result.detectors["hamlet"].model["crop_margin"] == model.bundle.crop_margin
    assert read_bundle(tiny_model_dir).crop_margin == 1.3
    assert scales["tight"] / scales["default"] == pytest.approx(1.3 / 1.1, rel=1e-3)
    for bad in (0.5, "wide", True):
        data = json.loads((tight_dir / "model.json").read_text())
        data["crop_margin"] = bad
        (tight_dir / "model.json").write_text(json.dumps(data))
        with pytest.raises(ModelError, match="crop_margin"):
            read_bundle(tight_dir)


def test_a_model_trained_on_jpeg_faces_scores_crops_stored_the_same_way(tiny_model_dir, tmp_path):
    """crop_jpeg: the crop is cut at its side, passed through JPEG at its quality, then resized to the input."""
    import shutil

    import torch

    from core.errors import ModelError
    from core.faces import FaceDetector, align_crop, transform_points

    photo = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[3]
    jpeg_dir = tmp_path / "jpeg"
    shutil.copytree(tiny_model_dir, jpeg_dir)
    bundle = read_bundle(jpeg_dir)
    bundle.crop_jpeg = {"side": 299, "quality": 60}
    bundle.save()
    model = load_model(read_bundle(jpeg_dir), ["hamlet"])
    assert model.bundle.jpeg == (299, 60)
    result = analyze(str(photo), AnalysisSettings(detectors=("hamlet",)), model)
    face = result.detectors["hamlet"].frames[0].faces[0]
    assert result.detectors["hamlet"].model["crop_jpeg"] == {"side": 299, "quality": 60}

    import cv2
    image = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    with FaceDetector() as detector:
        found = max(detector.detect(image), key=lambda d: d.width * d.height)
    size = model.detectors["hamlet"].input_size
    stored = align_crop(image, found, size, margin=bundle.crop_margin, jpeg=(299, 60))
    plain = align_crop(image, found, size, margin=bundle.crop_margin)
    np.testing.assert_allclose(stored.matrix, plain.matrix, atol=1e-9)   # same geometry, maps still land right
    assert np.abs(stored.crop.astype(int) - plain.crop).mean() > 0.5      # but the pixels went through JPEG
    with torch.no_grad():
        scores = [float(model.detectors["hamlet"](torch.from_numpy(c.crop[None]).permute(0, 3, 1, 2).float() / 255)
                        .p_fake[0]) for c in (stored, plain)]
    assert face.score == pytest.approx(scores[0], abs=1e-4) and scores[0] != pytest.approx(scores[1], abs=1e-6)
    bundle.crop_jpeg = {"side": 299, "quality": 60, "fit": "centre"}   # the middle pixels, unresized
    bundle.save()
    centred = load_model(read_bundle(jpeg_dir), ["hamlet"])
    assert centred.bundle.fit == "centre"
    middle = align_crop(image, found, size, margin=bundle.crop_margin, jpeg=(299, 60), fit="centre")
    whole = align_crop(image, found, 299, margin=bundle.crop_margin, jpeg=(299, 60))
    at = (299 - size) // 2 // 8 * 8                                        # on the JPEG block grid
    assert np.array_equal(middle.crop, whole.crop[at:at + size, at:at + size])
    np.testing.assert_allclose(transform_points(middle.matrix, np.array([found.center])),
                               transform_points(whole.matrix, np.array([found.center])) - at, atol=1e-6)
    face = analyze(str(photo), AnalysisSettings(detectors=("hamlet",)), centred).detectors["hamlet"].frames[0].faces[0]
    with torch.no_grad():
        expected = float(centred.detectors["hamlet"](
            torch.from_numpy(middle.crop[None]).permute(0, 3, 1, 2).float() / 255).p_fake[0])
    assert face.score == pytest.approx(expected, abs=1e-4)
    for bad in ({"side": 299}, {"side": 8, "quality": 95}, {"side": 299, "quality": 101}, [299, 95],
                {"side": 299, "quality": 95, "fit": "middle"}):
        data = json.loads((jpeg_dir / "model.json").read_text())
        data["crop_jpeg"] = bad
        (jpeg_dir / "model.json").write_text(json.dumps(data))
        with pytest.raises(ModelError, match="crop_jpeg"):
            read_bundle(jpeg_dir)


class _ScriptedDetector:
    """Stands in for MediaPipe: per sampled frame, the boxes a script gives (what it "found" in noise)."""

    script: list = []

    def __init__(self, **_):
        self.calls = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def detect(self, image):
        from core.faces import FaceDetection

        boxes, self.calls = _ScriptedDetector.script[self.calls], self.calls + 1
        out = []
        for x, y, side in boxes:
            s = side / 40
            keypoints = np.array([(x + 12 * s, y + 15 * s), (x + 28 * s, y + 15 * s), (x + 20 * s, y + 23 * s),
                                  (x + 20 * s, y + 31 * s), (x + 2 * s, y + 18 * s), (x + 38 * s, y + 18 * s)])
            out.append(FaceDetection((x, y, x + side, y + side), 0.7, keypoints))
        return out


@pytest.fixture
def noise_video(tmp_path):
    import cv2

    path = tmp_path / "noise.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (480, 480))
    for _ in range(6):
        writer.write(np.random.default_rng(0).integers(0, 256, (480, 480, 3), dtype=np.uint8))
    writer.release()
    return path


def test_fleeting_and_tiny_faces_are_no_identity(tiny_model, noise_video, monkeypatch):
    """Issue 12: a noise video got a FAKE verdict over 363 one-frame identities. Faces under 32 px are not scored,
    and an identity seen in fewer than 3 sampled frames does not count: "no reliable face", exit 3."""
    import core.engine.pipeline as pipeline

    far_apart = [[(i % 5 * 90, i // 5 * 90 + 200, 40), (400, 20, 12)] for i in range(6)]   # never the same place
    monkeypatch.setattr(pipeline, "FaceDetector", _ScriptedDetector)
    monkeypatch.setattr(_ScriptedDetector, "script", far_apart)
    with pytest.raises(NoFaceError, match="no reliable face") as caught:
        analyze(str(noise_video), AnalysisSettings(sampling=Sampling("all")), tiny_model)
    assert "6 face(s) smaller than 32 px" in str(caught.value)
    assert "6 face(s) seen in fewer than 3 sampled frames" in str(caught.value)

    steady = [[(200, 200, 80), *boxes] for boxes in far_apart]                           # one real face stays
    monkeypatch.setattr(_ScriptedDetector, "script", steady)
    result = analyze(str(noise_video), AnalysisSettings(sampling=Sampling("all")), tiny_model)
    for det in result.detectors.values():
        assert [i.frames for i in det.identities] == [6]
        assert all(len(frame.faces) == 1 for frame in det.frames)
    assert result.frames_with_faces == 6 and len(result.artifacts) == 6
    assert any("ignored as unreliable" in w for w in result.warnings)


def test_a_detector_reading_wider_crops_gets_them_and_its_patch_lands_on_the_kept_crop(tmp_path):
    """MFCLIP with noise_input_size: the engine cuts each detector's crops at its own size and keeps the widest."""
    import cv2
    import torch

    from core.backbones import load_backbone
    from core.detectors.registry import build_detector
    from core.faces import FaceDetector, align_crop
    from core.models import save_model
    from tests.conftest import TINY_ARCH

    torch.manual_seed(0)
    backbone = load_backbone(TINY_ARCH, allow_random=True)
    wide = 2 * backbone.image_size
    detectors = {"hamlet": build_detector("hamlet", backbone),
                 "mfclip": build_detector("mfclip", backbone, {"noise_input_size": wide})}
    model = load_model(save_model(tmp_path / "wide", "tiny-wide-test", backbone, detectors), ["hamlet", "mfclip"])
    photo = sorted(require_data("ffhq_stylegan", "fake").glob("*.jpg"))[2]
    result = analyze(str(photo), AnalysisSettings(), model)
    assert result.detectors["mfclip"].model["input_size"] == wide
    assert result.detectors["hamlet"].model["input_size"] == backbone.image_size
    face = result.detectors["mfclip"].frames[0].faces[0]
    kept = cv2.imdecode(np.frombuffer(result.artifacts[face.key]["crop.jpg"], np.uint8), cv2.IMREAD_COLOR)
    assert kept.shape[:2] == (wide, wide)
    x0, y0, x1, y1 = face.patch_box
    assert 0 <= x0 < x1 <= wide and 0 <= y0 < y1 <= wide and x1 - x0 == wide // 2
    image = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    with FaceDetector() as finder:
        found = max(finder.detect(image), key=lambda d: d.width * d.height)
    for name, size in (("mfclip", wide), ("hamlet", backbone.image_size)):   # each scored on its own crop
        crop = align_crop(image, found, size, margin=model.bundle.crop_margin).crop
        with torch.no_grad():
            expected = float(model.detectors[name](torch.from_numpy(crop[None]).permute(0, 3, 1, 2).float() / 255)
                             .p_fake[0])
        assert result.detectors[name].frames[0].faces[0].score == pytest.approx(expected, abs=1e-4)


def test_a_mirror_model_scores_each_face_and_its_mirror_image(tiny_model_dir, tmp_path):
    """mirror: every score is the mean of the face's and its mirror image's; maps are mirrored back, not mixed up."""
    import shutil

    import cv2
    import torch

    from core.detectors.base import score_faces
    from core.errors import ModelError
    from core.faces import FaceDetector, align_crop

    photo = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[3]
    mirror_dir = tmp_path / "mirror"
    shutil.copytree(tiny_model_dir, mirror_dir)
    bundle = read_bundle(mirror_dir)
    bundle.mirror = True
    bundle.save()
    model = load_model(read_bundle(mirror_dir), ["hamlet", "mfclip"])
    assert model.bundle.mirror and not read_bundle(tiny_model_dir).mirror
    result = analyze(str(photo), AnalysisSettings(), model)
    image = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    with FaceDetector() as detector:
        found = max(detector.detect(image), key=lambda d: d.width * d.height)
    for name, det in model.detectors.items():
        assert result.detectors[name].model["mirror"] is True
        crop = align_crop(image, found, det.input_size, margin=bundle.crop_margin).crop
        faces = torch.from_numpy(np.ascontiguousarray(crop[None])).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            plain, flipped, both = det(faces), det(faces.flip(-1)), score_faces(det, faces, mirror=True)
        assert float(plain.p_fake[0]) != pytest.approx(float(flipped.p_fake[0]), abs=1e-6)  # the views differ
        expected = (float(plain.p_fake[0]) + float(flipped.p_fake[0])) / 2
        assert float(both.p_fake[0]) == pytest.approx(expected, abs=1e-5)
        assert result.detectors[name].frames[0].faces[0].score == pytest.approx(expected, abs=1e-4)
        for key, value in plain.similarities.items():
            assert float(both.similarities[key][0]) == pytest.approx(
                (float(value[0]) + float(flipped.similarities[key][0])) / 2, abs=1e-5)
        if plain.attention is not None:   # the mirror image's map is turned back before averaging
            torch.testing.assert_close(both.attention, (plain.attention + flipped.attention.flip(-1)) / 2)
        for key, value in plain.extras.items():   # the richest patch and its noise: of the face as it is
            torch.testing.assert_close(both.extras[key], value)
    data = json.loads((mirror_dir / "model.json").read_text())
    assert data["mirror"] is True
    data["mirror"] = "yes"
    (mirror_dir / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="mirror"):
        read_bundle(mirror_dir)
