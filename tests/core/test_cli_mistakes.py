"""User mistakes and damaged files give their documented exit code and a message naming the file, never a traceback
or "internal error" (issue 12 items 2 and 6). Each test runs `ffd` as a user does: a real subprocess on real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_data
from tests.core.test_cli import ffd


def assert_user_error(run, code: int, *names: str) -> None:
    assert run.returncode == code, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    for name in names:
        assert name in run.stderr, (name, run.stderr)


# ---------------------------------------------------------------------------------------------- case store (item 2)

def test_damaged_case_store_exit_5_then_move_aside(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    junk = os.urandom(32 * 1024)
    (data / "cases.sqlite3").write_bytes(junk)
    env = {"FFD_DATA_DIR": str(data)}
    run = ffd("cases", "list", env_extra=env)
    assert_user_error(run, 5, str(data / "cases.sqlite3"), "damaged", "ffd cases move-aside")

    run = ffd("cases", "move-aside", env_extra=env)
    assert run.returncode == 0, run.stderr
    moved = [p for p in data.iterdir() if p.name.startswith("cases.sqlite3.damaged-")]
    assert len(moved) == 1 and moved[0].read_bytes() == junk and str(moved[0]) in run.stdout
    run = ffd("cases", "list", env_extra=env)
    assert run.returncode == 0 and "0 saved analyses" in run.stdout, run.stderr
    run = ffd("cases", "move-aside", env_extra=env)          # a healthy store is never moved
    assert run.returncode == 0 and "left in place" in run.stdout
    assert len([p for p in data.iterdir() if ".damaged-" in p.name]) == 1


# ---------------------------------------------------------------------------------------------- user mistakes (item 6)

@pytest.fixture
def photo():
    return sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0]


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model folder, to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _edit_manifest(model: Path, change) -> Path:
    manifest = model / "model.json"
    data = json.loads(manifest.read_text())
    data = change(data)
    manifest.write_text(json.dumps(data))
    return manifest


def _set_threshold(data):
    data["detectors"]["hamlet"]["threshold"] = "abc"
    return data


@pytest.mark.parametrize("change, phrase", [
    (lambda d: {k: v for k, v in d.items() if k != "backbone"}, "missing key(s) backbone"),
    (lambda d: [d], "must hold a JSON object, got list"),
    (lambda d: {**d, "surprise": 1}, "unknown key(s) surprise"),
    (lambda d: {**d, "card": "abc"}, '"card" must be an object'),
    (lambda d: {**d, "detectors": {"hamlet": "hamlet.safetensors"}}, '"detectors.hamlet" must be an object'),
    (_set_threshold, "threshold\" must be a number from 0 to 1, got 'abc'"),
], ids=["no-backbone", "list", "extra-key", "card-not-object", "detector-not-object", "threshold-abc"])
def test_bad_model_json_exit_4_naming_it(model_copy, photo, change, phrase):
    """Said before torch loads: a broken model folder is named in well under a second, not after ~8 s of imports."""
    manifest = _edit_manifest(model_copy, change)
    run = run_without_torch("analyze", str(photo), "--model", str(model_copy), "--quiet")
    assert_user_error(run, 4, str(manifest), phrase)
    assert run.stdout.strip() == "torch not loaded"


@pytest.mark.parametrize("victim", ["backbone.safetensors", "hamlet.safetensors"])
def test_missing_weights_file_exit_4_naming_it(model_copy, photo, victim):
    (model_copy / victim).unlink()
    run = run_without_torch("analyze", str(photo), "--model", str(model_copy), "--quiet")
    assert_user_error(run, 4, str(model_copy / victim), "not found")
    assert run.stdout.strip() == "torch not loaded"


def test_bad_model_card_exit_4_naming_it(model_copy, photo):
    (model_copy / "mfclip.json").write_text("{not json")
    run = run_without_torch("analyze", str(photo), "--model", str(model_copy), "--quiet")
    assert_user_error(run, 4, str(model_copy / "mfclip.json"), "not valid JSON")
    assert run.stdout.strip() == "torch not loaded"


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_models_import_of_a_missing_file_or_a_folder(tmp_path, what):
    path = tmp_path / "weights.safetensors" if what == "missing" else tmp_path
    run = run_without_torch("models", "import", str(path), "--arch", "ffd-test-tiny")
    assert_user_error(run, 4, str(path))
    assert run.stdout.strip() == "torch not loaded"


@pytest.mark.parametrize("option, value, phrase", [
    ("--max-frames", "-5", "positive whole number"),
    ("--max-frames", "0", "positive whole number"),
    ("--fps", "nan", "positive number"),
    ("--fps", "inf", "positive number"),
    ("--fps", "0", "positive number"),
    ("--detectors", ",", "at least one detector"),
    ("--threshold", "nan", "from 0 to 1"),
    ("--batch-size", "0", "positive whole number"),
])
def test_bad_analysis_options_are_refused_up_front(tmp_path, photo, option, value, phrase):
    run = ffd("analyze", str(photo), option, value, "--model", str(tmp_path / "no-model"), "--quiet")
    assert_user_error(run, 2, option, phrase)      # 2, not 4: refused before the (missing) model is even looked at


def test_unwritable_report_folder_refused_before_analysis(tmp_path, photo):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file, not a folder")
    report = not_a_folder / "case.pdf"
    run = ffd("analyze", str(photo), "--report", str(report), "--model", str(tmp_path / "no-model"), "--quiet")
    assert_user_error(run, 2, str(report), "not a folder")
    run = ffd("analyze", str(photo), "--json", str(tmp_path), "--model", str(tmp_path / "no-model"), "--quiet")
    assert_user_error(run, 2, str(tmp_path), "is a folder")


def test_disk_full_names_the_output(tiny_model_dir, photo):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    run = ffd("analyze", str(photo), "--json", "/dev/full", "--model", str(tiny_model_dir), "--quiet")
    assert_user_error(run, 2, "/dev/full", "disk is full")


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`ffd ARGS` in a fresh process that prints, last, whether torch was ever imported."""
    code = ("import sys; from core.cli import main; rc = main(sys.argv[1:]); "
            "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded'); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("evidence", ["missing", "text", "folder"])
def test_bad_evidence_is_refused_before_the_engine_loads(tmp_path, tiny_model_dir, evidence):
    """A missing, non-media or folder path is named at once, before torch and the model load (seconds of a
    user's time on every typo); the in-process check is that torch was never imported."""
    path = {"missing": tmp_path / "nope.mp4", "text": tmp_path / "notes.mp4", "folder": tmp_path}[evidence]
    if evidence == "text":
        path.write_text("not a video")
    run = run_without_torch("analyze", str(path), "--model", str(tiny_model_dir), "--quiet")
    assert_user_error(run, 2, str(path))
    assert run.stdout.strip() == "torch not loaded"


@pytest.mark.parametrize("folder, phrase", [("missing", "not a folder"), ("empty", "no media files")])
def test_a_batch_folder_that_is_missing_or_has_no_media_is_bad_input(tmp_path, tiny_model_dir, folder, phrase):
    """Exit 2 (bad input), not 1 (which says: a bug), and said before torch loads."""
    path = tmp_path / folder
    if folder == "empty":
        path.mkdir()
        (path / "notes.txt").write_text("not media")
    run = run_without_torch("batch", str(path), "--out", str(tmp_path / "results.jsonl"), "--model",
                            str(tiny_model_dir), "--quiet")
    assert_user_error(run, 2, str(path), phrase)
    assert run.stdout.strip() == "torch not loaded" and not (tmp_path / "results.jsonl").exists()


@pytest.mark.parametrize("command", ["train", "eval"])
def test_a_data_folder_without_real_and_fake_is_refused_before_torch_loads(tmp_path, tiny_model_dir, command):
    """`ffd train` / `ffd eval` on the wrong folder: exit 2 naming it in under a second, not after ~15 s of imports."""
    data = tmp_path / "faces"
    data.mkdir()
    (data / "face.jpg").write_bytes(b"")
    options = (["--detector", "hamlet", "--out", str(tmp_path / "run"), "--quiet"] if command == "train"
               else ["--model", str(tiny_model_dir)])
    run = run_without_torch(command, str(data), *options)
    assert_user_error(run, 2, str(data), "no real/ and no fake/")
    assert run.stdout.strip() == "torch not loaded" and not (tmp_path / "run").exists()


def test_eval_with_a_broken_model_folder_is_refused_before_torch_loads(tmp_path):
    run = run_without_torch("eval", str(require_data("ffhq_stylegan")), "--model", str(tmp_path))
    assert_user_error(run, 4, str(tmp_path), "model.json missing")
    assert run.stdout.strip() == "torch not loaded"
