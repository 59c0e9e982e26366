"""`ffd batch` keeps finished work: durable JSON lines, resume after kill -9, error lines, --retry-errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.batch import ResultsFile, result_key, run_batch
from core.errors import OutputError
from tests.conftest import require_data
from tests.core.test_cli import ffd

SOME_FAILED = 6


@pytest.fixture
def evidence(tmp_path) -> Path:
    """Six real files: four FFHQ / StyleGAN faces and two FF++ clips."""
    return copy_evidence(tmp_path)


def copy_evidence(root: Path) -> Path:
    """The six files of `evidence`, copied into root/evidence (also used by the cluster tests)."""
    folder = root / "evidence"
    (folder / "clips").mkdir(parents=True)
    for label in ("real", "fake"):
        for photo in sorted(require_data("ffhq_stylegan", label).glob("*.jpg"))[:2]:
            shutil.copy(photo, folder / f"{label}_{photo.name}")
    for clip in ("fake/519_515.mp4", "real/519.mp4"):
        shutil.copy(require_data("ffpp_c23_videos", clip), folder / "clips" / Path(clip).name)
    return folder


def read_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def inputs(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def fake_analyse(path: str) -> dict:
    from core.digest import sha256_file

    return {"schema": 1, "file": {"path": path, "sha256": sha256_file(path)}, "detectors": {}}


# ---------------------------------------------------------------------------------------------- the core module


def test_resume_skips_finished_files_and_redoes_changed_ones(evidence, tmp_path):
    out, files = tmp_path / "results.jsonl", inputs(evidence)
    with ResultsFile(out, "k1") as results:
        first = run_batch(files[:4], fake_analyse, results)
    assert (first.analysed, first.skipped) == (4, 0)
    shutil.copy(files[5], files[0])                        # the evidence bytes changed: analysed again
    calls = []
    with ResultsFile(out, "k1") as results:
        again = run_batch(files, lambda p: calls.append(p) or fake_analyse(p), results)
    assert (again.analysed, again.skipped, again.failed) == (3, 3, 0)
    assert calls == [files[0], files[4], files[5]]
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == files    # the superseded line was dropped
    with ResultsFile(out, "k2") as results:                # other settings or model: everything again
        assert run_batch(files, fake_analyse, results).analysed == 6
    assert len(read_lines(out)) == 6


def test_unexpected_exception_is_that_files_error_line(evidence, tmp_path, tiny_model_dir, caplog):
    """A MemoryError inside the real analysis of one file: its line says so, the batch goes on, and
    --retry-errors later replaces that line."""
    from core.engine import AnalysisSettings, analyze
    from core.media import Sampling
    from core.models import load_model, read_bundle

    model = load_model(read_bundle(tiny_model_dir), ["hamlet", "mfclip"])
    settings = AnalysisSettings(sampling=Sampling("count", 2))
    files = inputs(evidence)
    victim = files[2]

    def flaky(path: str) -> dict:
        if path == victim:
            raise MemoryError("cannot allocate 5.2 GB")
        return analyze(path, settings, model).to_dict()

    out = tmp_path / "results.jsonl"
    with caplog.at_level("DEBUG", logger="core.batch"), ResultsFile(out, "k") as results:
        summary = run_batch(files, flaky, results)
    assert (summary.analysed, summary.failed, summary.failed_paths) == (6, 1, [victim])
    lines = {ln["file"]["path"]: ln for ln in read_lines(out)}
    assert len(lines) == 6 and all(lines[f]["detectors"] for f in files if f != victim)
    error = lines[victim]
    assert error["batch"]["status"] == "error" and error["file"]["sha256"]
    assert error["errors"] == [{"code": 1, "type": "MemoryError", "message": "cannot allocate 5.2 GB"}]
    assert "Traceback" not in out.read_text() and "MemoryError" in caplog.text    # the traceback is logged

    with ResultsFile(out, "k") as results:
        assert run_batch(files, flaky, results).skipped == 6                      # errors kept unless asked
    with ResultsFile(out, "k") as results:
        retried = run_batch(files, lambda p: analyze(p, settings, model).to_dict(), results, retry_errors=True)
    assert (retried.analysed, retried.skipped, retried.failed) == (1, 5, 0)
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == files
    assert all(ln["batch"]["status"] == "ok" for ln in lines)


def test_unfinished_last_line_is_cut_and_foreign_files_are_refused(evidence, tmp_path):
    out, files = tmp_path / "results.jsonl", inputs(evidence)
    with ResultsFile(out, "k") as results:
        run_batch(files[:2], fake_analyse, results)
    whole = out.read_bytes()
    with open(out, "ab") as fh:
        fh.write(b'{"batch": {"key": "k", "status": "ok"}, "schema": 1, "file": {"pa')   # killed mid-write
    with ResultsFile(out, "k") as results:
        assert results.cut_fragment and out.read_bytes() == whole
        assert run_batch(files, fake_analyse, results).skipped == 2
    assert len(read_lines(out)) == 6

    notes = tmp_path / "notes.txt"
    for text in ("meeting at 10\n", '{"file": {"path": "a.jpg"}}\nno newline', ""):
        notes.write_text(text)
        if not text:
            ResultsFile(notes, "k").close()                 # an empty file is fine (and left alone)
            assert notes.read_text() == ""
            continue
        with pytest.raises(OutputError, match="not a batch results file"):
            ResultsFile(notes, "k")
        assert notes.read_text() == text


def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "results.jsonl"
    with ResultsFile(out, "k"), pytest.raises(OutputError, match="another ffd batch"):
        ResultsFile(out, "k")
    assert not out.exists()                                  # nothing written: no empty file left behind


def test_key_changes_with_settings_and_model():
    base = {"settings": {"sampling": {"mode": "fps", "value": 1.0}}, "detectors": {"hamlet": ["ab", 0.5]}}
    assert result_key(base) == result_key(json.loads(json.dumps(base)))
    assert result_key(base) != result_key({**base, "settings": {"sampling": {"mode": "fps", "value": 2.0}}})
    assert result_key(base) != result_key({**base, "detectors": {"hamlet": ["cd", 0.5]}})


# ---------------------------------------------------------------------------------------------- the real CLI


def _count_lines(out: Path) -> int:
    return out.read_bytes().count(b"\n") if out.exists() else 0


def test_kill_9_at_half_then_resume(evidence, tmp_path, tiny_model_dir):
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "core.cli", "batch", str(evidence), "--out", str(out),
               "--model", str(tiny_model_dir), "--max-frames", "3", "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while _count_lines(out) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done = read_lines(out)
    assert 3 <= len(done) < 6, f"the batch was not killed half-way ({len(done)} lines)"
    kept = out.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []     # no orphaned temporary

    run = ffd("batch", str(evidence), "--out", str(out), "--model", str(tiny_model_dir), "--max-frames", "3")
    assert run.returncode == 0, run.stderr
    assert f"{len(done)} skipped (already done)" in run.stdout
    assert f"{6 - len(done)} file(s) to analyse; {len(done)} already done" in run.stderr
    assert out.read_bytes().startswith(kept)                 # finished lines untouched
    lines = read_lines(out)
    assert sorted(ln["file"]["path"] for ln in lines) == inputs(evidence)     # each file exactly once
    assert all(ln["batch"]["status"] == "ok" and ln["detectors"] for ln in lines)

    again = ffd("batch", str(evidence), "--out", str(out), "--model", str(tiny_model_dir), "--max-frames", "3",
                "--quiet")
    assert again.returncode == 0 and "0 analysed, 6 skipped" in again.stdout
    changed = ffd("batch", str(evidence), "--out", str(out), "--model", str(tiny_model_dir), "--max-frames", "2",
                  "--quiet")
    assert changed.returncode == 0 and "6 analysed, 0 skipped" in changed.stdout
    assert len(read_lines(out)) == 6
    assert {ln["settings"]["sampling"]["value"] for ln in read_lines(out)} == {2.0}


def test_failed_files_get_lines_exit_6_and_retry(tmp_path, tiny_model_dir):
    folder = tmp_path / "evidence"
    folder.mkdir()
    for photo in sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[:2]:
        shutil.copy(photo, folder / photo.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    os.symlink(tmp_path / "moved-away.mp4", folder / "gone.mp4")
    out = tmp_path / "results.jsonl"

    def batch(*extra):
        return ffd("batch", str(folder), "--out", str(out), "--model", str(tiny_model_dir), "--quiet", *extra)

    run = batch()
    assert run.returncode == SOME_FAILED, run.stderr
    assert "4 file(s): 4 analysed, 0 skipped (already done), 2 failed" in run.stdout
    lines = {Path(ln["file"]["path"]).name: ln for ln in read_lines(out)}
    assert sorted(lines) == ["00002.jpg", "00009.jpg", "broken.jpg", "gone.mp4"]
    for name in ("broken.jpg", "gone.mp4"):
        error = lines[name]["errors"][0]
        assert lines[name]["batch"]["status"] == "error" and error["code"] == 2 and name in error["message"]
    assert lines["gone.mp4"]["file"]["sha256"] is None

    before = out.read_bytes()
    resumed = batch()
    assert resumed.returncode == SOME_FAILED and "0 analysed, 4 skipped" in resumed.stdout
    assert "2 kept from an earlier run: --retry-errors redoes them" in resumed.stdout
    assert out.read_bytes() == before

    retried = batch("--retry-errors")
    assert retried.returncode == SOME_FAILED and "2 analysed, 2 skipped" in retried.stdout
    assert sorted(Path(ln["file"]["path"]).name for ln in read_lines(out)) == sorted(lines)   # still one each

    shutil.copy(folder / "00002.jpg", tmp_path / "moved-away.mp4")     # the link's target is back
    (folder / "broken.jpg").unlink()
    fixed = batch("--retry-errors")
    assert fixed.returncode == 0 and "3 file(s): 1 analysed, 2 skipped" in fixed.stdout


def test_out_that_is_a_folder_fails_before_anything(tmp_path, evidence):
    target = tmp_path / "results"
    target.mkdir()
    started = time.time()
    run = ffd("batch", str(evidence), "--out", str(target), "--model", str(tmp_path / "no-model"))
    assert run.returncode == 2 and "is a folder" in run.stderr and str(target) in run.stderr   # not 4: no model
    assert time.time() - started < 60 and list(target.iterdir()) == []


def test_foreign_out_file_is_refused_not_overwritten(tmp_path, evidence, tiny_model_dir):
    notes = tmp_path / "notes.txt"
    notes.write_text("not results\n")
    run = ffd("batch", str(evidence), "--out", str(notes), "--model", str(tiny_model_dir), "--quiet")
    assert run.returncode == 2 and "not a batch results file" in run.stderr and str(notes) in run.stderr
    assert notes.read_text() == "not results\n"


def test_key_changes_with_how_the_model_stores_and_fits_faces(tiny_model_dir, tmp_path):
    """Same weights, other preprocessing: a resumed batch must not keep lines scored the other way."""
    from core.cli import _result_identity
    from core.engine import AnalysisSettings
    from core.models import read_bundle

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    settings = AnalysisSettings(detectors=("hamlet",))
    keys = []
    for crop_jpeg in (None, {"side": 299, "quality": 95}, {"side": 299, "quality": 95, "fit": "centre"}):
        bundle = read_bundle(model_dir)
        bundle.crop_jpeg = crop_jpeg
        bundle.save()
        keys.append(result_key(_result_identity(settings, read_bundle(model_dir))))
    assert len(set(keys)) == 3
