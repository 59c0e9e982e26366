"""The queue: Cancel is prompt and saves nothing; engine errors are shown plainly and the queue moves on;
without a model the window says what to do."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt

from core.cases import CaseStore
from tests.conftest import require_data
from tests.desktop.conftest import ScriptedPrompts, StallMeter, make_controller


def test_cancel_stops_within_two_seconds_and_leaves_no_case(qtbot, ffd_app, tiny_model_dir, tmp_path, long_clip):
    prompts = ScriptedPrompts()
    prompts.files = [str(long_clip)]
    controller = make_controller(tmp_path, tiny_model_dir, prompts)
    window = controller.window
    qtbot.addWidget(window)
    qtbot.waitExposed(window)
    before = controller.history.count()
    frames_done: list[int] = []
    controller.analysis.worker.progress.connect(
        lambda _p, stage, done, _t, _e: frames_done.append(done) if stage == "analysing" else None)
    meter = StallMeter()
    meter.start()
    window.open_action.trigger()                      # File > Open, answered with the 30 s clip
    assert prompts.asked[0][0] == "open_files" and controller.analysis.busy
    qtbot.waitUntil(lambda: len(frames_done) >= 3, timeout=120_000)
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    assert "Analysing 519_515.mp4" in window.stage_label.text()
    assert window.eta_label.text().startswith("ETA ")

    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=3000)
    started = time.perf_counter()
    with qtbot.waitSignal(controller.analysis.analysisCancelled, timeout=10_000):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    latency = time.perf_counter() - started
    meter.stop()
    print(f"\n[desktop] cancel latency {latency * 1000:.0f} ms (worker {controller.analysis.last_cancel_latency_s * 1000:.0f}"
          f" ms), worst GUI stall {meter.max_gap_s * 1000:.0f} ms")
    assert latency < 2.0
    assert frames_done[-1] < 31, "the analysis ran to the end instead of stopping"
    qtbot.wait(300)                                   # a late save would land here
    assert controller.history.count() == before
    with CaseStore(tmp_path / "cases.sqlite3") as store:
        assert store.count() == before
    assert not controller.analysis.busy and not window.progress.isVisible()
    assert "Cancelled 519_515.mp4: nothing was saved" in window.stage_label.text()
    assert window.analysis_stack.currentWidget() is window.drop_zone
    assert meter.max_gap_s < 0.2


def test_errors_are_shown_plainly_and_the_queue_moves_on(qtbot, ffd_app, tiny_model_dir, tmp_path):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))     # decodes fine, no face in it
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("minutes of the meeting, not a video\n" * 20)
    face = sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0]

    controller = make_controller(tmp_path / "app", tiny_model_dir)
    qtbot.addWidget(controller.window)
    failures: list[tuple[str, str]] = []
    controller.analysis.analysisFailed.connect(lambda path, message: failures.append((path, message)))
    with qtbot.waitSignal(controller.analysis.analysisFinished, timeout=120_000) as finished:
        controller.open_files([str(blank), str(not_media), str(face)])
        assert window_queue_text(controller) == "2 queued"
    assert [p for p, _ in failures] == [str(blank), str(not_media)]
    assert "no face found" in failures[0][1]
    assert "not a media file" in failures[1][1]
    banner = controller.window.banner
    assert banner.isVisible() and banner.kind == "error"
    assert "notes.mp4" in banner.text() and "could not be analysed" in banner.text()
    assert "Traceback" not in banner.text() and "Error" not in banner.text()
    result, case_id = finished.args
    assert result.file["path"] == str(face) and case_id >= 1
    assert controller.history.count() == 1             # only the good file became a case
    assert window_queue_text(controller) == ""


def test_without_a_model_the_window_says_how_to_get_one(qtbot, ffd_app, tmp_path, monkeypatch, clip):
    monkeypatch.delenv("FFD_MODEL", raising=False)
    monkeypatch.setenv("FFD_RESOURCES", str(tmp_path / "no-resources"))   # nothing shipped either
    controller = make_controller(tmp_path, None)
    window = controller.window
    qtbot.addWidget(window)
    text = window.banner.text()
    assert window.banner.isVisible()
    assert "No detection model is installed" in text
    assert "--model" in text and "FFD_MODEL" in text and "Settings" in text
    assert window.model_label.text() == "No model installed"
    controller.open_files([str(clip)])
    assert not controller.analysis.busy
    assert window.banner.kind == "error" and "No detection model" in window.banner.text()


def window_queue_text(controller) -> str:
    return controller.window.queue_label.text()
