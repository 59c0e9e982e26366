"""`ffd` as a user runs it: a real subprocess, real files, exit codes and messages."""

import json
import subprocess
import sys

import pytest

from tests.conftest import require_data


def ffd(*args, env_extra=None, timeout=600):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_analyze_writes_json(tiny_model_dir, tmp_path):
    video = require_data("ffpp_c23_videos", "fake", "519_515.mp4")
    out = tmp_path / "out.json"
    report = tmp_path / "case.pdf"
    run = ffd("analyze", str(video), "--fps", "1", "--json", str(out), "--model", str(tiny_model_dir), "--quiet",
              "--report", str(report), "--case-number", "CASE-7", "--examiner", "J. Doe")
    assert run.returncode == 0, run.stderr
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(report).pages)
    assert "CASE-7" in text and "J. Doe" in text
    data = json.loads(out.read_text())
    import hashlib

    assert data["schema"] == 1 and data["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    for det in data["detectors"].values():
        assert len(det["identities"]) == 1
        faces = [f for fr in det["frames"] for f in fr["faces"]]
        assert all({"box", "identity", "score", "similarities"} <= set(f) for f in faces)
    assert data["frames_with_faces"] >= 0.95 * data["sampled_frames"]
    assert "sha256" in run.stdout and "hamlet" in run.stdout


@pytest.mark.parametrize("content, name, phrase", [
    (b"", "empty.mp4", "empty"),
    (b"hello, this is not a video\n" * 10, "notes.mp4", "not a media file"),
    (bytes(range(256)) * 300, "random.mp4", None),
])
def test_bad_inputs_exit_2_with_a_message(tiny_model_dir, tmp_path, content, name, phrase):
    bad = tmp_path / name
    bad.write_bytes(content)
    run = ffd("analyze", str(bad), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2, run.stderr
    assert str(bad) in run.stderr and "Traceback" not in run.stderr
    if phrase:
        assert phrase in run.stderr


def test_huge_resolution_photo_exits_2(tiny_model_dir, tmp_path):
    from PIL import Image

    huge = tmp_path / "huge.png"
    Image.new("1", (9000, 9000)).save(huge)  # 1-bit: tiny file, 81 megapixels once decoded
    run = ffd("analyze", str(huge), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2 and "resolution 9000x9000" in run.stderr and "Traceback" not in run.stderr


def test_missing_file_and_no_face(tiny_model_dir, tmp_path):
    run = ffd("analyze", str(tmp_path / "nope.mp4"), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2 and "nope.mp4" in run.stderr
    import cv2
    import numpy as np

    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((200, 200, 3), 90, np.uint8))
    run = ffd("analyze", str(wall), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 3 and "no face" in run.stderr


def test_no_model_installed_is_a_clear_error(tmp_path):
    photo = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0]
    run = ffd("analyze", str(photo), "--quiet", env_extra={"FFD_RESOURCES": str(tmp_path)})
    assert run.returncode == 4 and "no detection model" in run.stderr


def test_batch_goes_on_after_a_bad_file(tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "evidence" / "nested"
    folder.mkdir(parents=True)
    photos = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:2]
    for p in photos:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "results.jsonl"
    run = ffd("batch", str(tmp_path / "evidence"), "--out", str(out), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 6, run.stderr     # some files failed
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    broken = [ln for ln in lines if ln["file"]["path"].endswith("broken.jpg")][0]
    assert broken["errors"][0]["code"] == 2 and "broken.jpg" in broken["errors"][0]["message"]
    assert sum(1 for ln in lines if ln.get("detectors")) == 2


@pytest.mark.parametrize("detector, keys", [("hamlet", {"real", "fake", "context"}), ("mfclip", {"real", "fake"})])
def test_analyze_with_one_detector(tiny_model_dir, tmp_path, detector, keys):
    photo = sorted(require_data("ffhq_stylegan", "fake").glob("*.jpg"))[3]
    out = tmp_path / "out.json"
    run = ffd("analyze", str(photo), "--detectors", detector, "--json", str(out), "--model", str(tiny_model_dir),
              "--quiet")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert list(data["detectors"]) == [detector]
    faces = [f for fr in data["detectors"][detector]["frames"] for f in fr["faces"]]
    assert faces and all(set(f["similarities"]) == keys for f in faces)
    if detector == "mfclip":
        assert all(len(f["patch_box"]) == 4 for f in faces)


def _fingerprint(path):
    import hashlib
    import os

    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest(), os.stat(path).st_mode


@pytest.mark.parametrize("option", ["--json", "--report"])
@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_analyze_never_writes_onto_the_evidence(tiny_model_dir, tmp_path, evidence_photo, option, alias):
    import os

    output = {"same": evidence_photo, "symlink": tmp_path / "out.json", "hardlink": tmp_path / "out.pdf"}[alias]
    if alias == "symlink":
        output.symlink_to(evidence_photo)
    elif alias == "hardlink":
        os.link(evidence_photo, output)
    before = _fingerprint(evidence_photo)
    run = ffd("analyze", str(evidence_photo), option, str(output), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2, run.stderr
    assert str(output) in run.stderr and str(evidence_photo) in run.stderr and "Traceback" not in run.stderr
    assert _fingerprint(evidence_photo) == before
    assert sorted(p.name for p in evidence_photo.parent.iterdir()) == ["a.jpg"]   # no temporary left behind


def test_read_only_output_is_refused_before_the_model_loads(tmp_path, evidence_photo):
    old = tmp_path / "old.json"
    old.write_text('{"kept": true}')
    old.chmod(0o444)
    run = ffd("analyze", str(evidence_photo), "--json", str(old), "--model", str(tmp_path / "no-model"), "--quiet")
    assert run.returncode == 2 and "read-only" in run.stderr and str(old) in run.stderr   # not 4: no model load
    assert old.read_text() == '{"kept": true}' and (old.stat().st_mode & 0o777) == 0o444


@pytest.mark.parametrize("inside", ["a.jpg", "results.jsonl", "sub/results.jsonl"])
def test_batch_never_writes_into_the_batched_folder(tiny_model_dir, evidence_photo, inside):
    folder = evidence_photo.parent
    before = _fingerprint(evidence_photo)
    out = folder / inside
    run = ffd("batch", str(folder), "--out", str(out), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2, run.stderr
    assert str(out) in run.stderr and str(folder) in run.stderr and "Traceback" not in run.stderr
    assert _fingerprint(evidence_photo) == before
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]
