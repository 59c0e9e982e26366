"""One real analysis through the window (dropped FF++ clip, tiny untrained model, 1 fps), then every view of it.

The analysis runs once per module (about 10 s on 2 cores); the tests below read the same window, in order.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.desktop.conftest import CLIP, ScriptedPrompts, StallMeter, drop_files, make_controller

SCREENSHOT = Path("/tmp/ffd_desktop_screenshot.png")
ANALYSIS_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def analysed(request, qapp, tiny_model_dir, tmp_path_factory):
    """Drop the clip on a fresh window and wait for the analysis, measuring the GUI thread's worst stall."""
    from ffd_desktop.app import create_app, load_engine_libraries
    from tests.conftest import require_data

    create_app()
    load_engine_libraries()      # as main() does before it shows the window
    clip = require_data(*CLIP)
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("desktop-analysis")
    mp.setenv("FFD_DATA_DIR", str(root / "data"))
    bot = QtBot(request)
    prompts = ScriptedPrompts()
    controller = make_controller(root, tiny_model_dir, prompts)
    window = controller.window
    bot.waitExposed(window)
    assert controller.history.count() == 0

    progress: list[tuple[str, int, int]] = []
    controller.analysis.worker.progress.connect(lambda _p, stage, done, total, _e: progress.append((stage, done, total)))
    meter = StallMeter()
    meter.start()
    started = time.perf_counter()
    with bot.waitSignal(controller.analysis.analysisFinished, timeout=ANALYSIS_TIMEOUT_MS) as finished:
        drop_files(window.drop_zone, [clip])
        assert controller.analysis.busy, "dropping a file must start an analysis"
    elapsed = time.perf_counter() - started
    bot.wait(1000)          # keep measuring while the result is laid out and the first frames arrive
    meter.stop()
    bot.waitUntil(lambda: controller.results.frames_loaded, timeout=60_000)
    result, case_id = finished.args
    print(f"\n[desktop] analysis {elapsed:.1f} s, worst GUI stall {meter.max_gap_s * 1000:.0f} ms "
          f"over {meter.ticks} ticks (worst ended {meter.max_gap_at_s:.2f} s after the drop; gaps > 50 ms: "
          f"{meter.gaps})")
    yield type("Analysed", (), dict(controller=controller, window=window, result=result, case_id=case_id,
                                    stall_s=meter.max_gap_s, progress=progress, prompts=prompts, bot=bot,
                                    clip=clip, root=root, elapsed_s=elapsed))
    window.close()
    mp.undo()


def test_drop_starts_an_analysis_that_completes_and_is_saved(analysed):
    result, controller = analysed.result, analysed.controller
    assert Path(result.file["path"]).name == "004.mp4"
    assert set(result.detectors) == {"hamlet", "mfclip"}
    assert result.sampled_frames == 13 and result.frames_with_faces > 0
    stages = [s for s, _, _ in analysed.progress]
    assert "loading model" in stages and "analysing" in stages
    assert analysed.case_id >= 1 and controller.history.count() == 1
    window = analysed.window
    assert window.analysis_stack.currentWidget() is window.analysis
    assert window.analysis.title.text() == "004.mp4"
    assert not controller.analysis.busy and not window.progress.isVisible()
    assert window.stage_label.text().startswith("Finished 004.mp4")
    assert f"case #{analysed.case_id}" in window.stage_label.text()


def test_gui_thread_never_stalls_during_analysis(analysed):
    assert analysed.stall_s < 0.200, f"GUI event loop stalled {analysed.stall_s * 1000:.0f} ms"


def test_timeline_has_one_point_per_sampled_frame_and_click_seeks(analysed):
    controller, result = analysed.controller, analysed.result
    timeline = analysed.window.analysis.timeline
    for name, det in result.detectors.items():
        frames_with_faces = [fr for fr in det.frames if fr.faces]
        points = sum(len(c.getData()[0]) for c, n in zip(timeline.curves, _curve_detectors(controller), strict=True)
                     if n == name)
        assert points == sum(len(fr.faces) for fr in frames_with_faces)
        assert len(frames_with_faces) == result.frames_with_faces
    assert len(timeline.thresholds) >= 1

    frames = controller.results.frames
    target = 3 if controller.results.position != 3 else 5
    scene = timeline.scene_pos_for(frames[target].time_s, 0.5)
    viewport_pos = timeline.plot.mapFromScene(scene)
    analysed.bot.mouseClick(timeline.plot.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos)
    analysed.bot.waitUntil(lambda: controller.results.position == target, timeout=3000)
    player = analysed.window.analysis.player
    assert player.slider.value() == target
    assert f"frame {frames[target].index}" in player.canvas.caption()
    assert abs(timeline.cursor.value() - frames[target].time_s) < 1e-6

    # hovering reads the value of the nearest frame
    move = QPointF(scene)
    timeline.plot.scene().sigMouseMoved.emit(move)
    assert f"frame {frames[target].index}" in timeline.readout.text()
    score = frames[target].faces[0].records["hamlet"].score
    assert f"{score:.3f}" in timeline.readout.text()


def test_panels_show_the_selected_face(analysed):
    controller, view = analysed.controller, analysed.window.analysis
    results = controller.results
    results.seek(1)
    face = results.selected_face
    assert face is not None
    assert view.hamlet.bars.values() == face.records["hamlet"].similarities
    assert set(view.hamlet.bars.values()) >= {"real", "fake", "context"}
    for pane in (view.face.crop, view.mfclip.crop, view.mfclip.patch, view.mfclip.srm):
        assert not pane.pixmap().isNull()
    patch_box = face.records["mfclip"].patch_box
    assert view.mfclip.patch.pixmap().width() == patch_box[2] - patch_box[0]

    # clicking a box selects that face
    canvas = view.player.canvas
    rect = canvas.box_rect(results.face_index)
    analysed.bot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert canvas.boxes()[results.face_index].selected

    # the attention overlay changes both the frame and the crop shown, and goes away again
    frame_before = canvas.image().copy()
    crop_before = view.face.crop.pixmap().toImage()
    view.player.attention_button.click()
    assert results.attention and analysed.window.attention_action.isChecked()
    assert canvas.image() != frame_before
    assert view.face.crop.pixmap().toImage() != crop_before
    view.player.attention_button.click()
    assert not results.attention
    assert canvas.image() == frame_before


def test_keyboard_shortcuts_step_and_play(analysed):
    window, results, bot = analysed.window, analysed.controller.results, analysed.bot
    window.activateWindow()
    bot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    results.seek(2)
    bot.keyClick(window, Qt.Key.Key_Right)
    assert results.position == 3
    bot.keyClick(window, Qt.Key.Key_Left)
    bot.keyClick(window, Qt.Key.Key_Left)
    assert results.position == 1
    bot.keyClick(window, Qt.Key.Key_Space)
    assert results.playing
    bot.waitUntil(lambda: results.position >= 2, timeout=5000)
    bot.keyClick(window, Qt.Key.Key_Space)
    assert not results.playing
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    assert window.cancel_action.shortcut().toString() == "Esc"
    # Ctrl+O asks for files (answered by the scripted prompts: nothing chosen)
    bot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert analysed.prompts.asked[-1][0] == "open_files"


def test_history_reopens_a_case_with_identical_numbers(analysed):
    controller, window = analysed.controller, analysed.window
    window.tabs.setCurrentWidget(window.history)
    table = window.history.table
    assert table.rowCount() == 1 and table.item(0, 2).text() == "004.mp4"
    controller.results.clear()
    started = time.perf_counter()
    with analysed.bot.waitSignal(controller.history.caseOpened, timeout=5000) as opened:
        table.selectRow(0)
        window.history.open_button.click()
    reopen_s = time.perf_counter() - started
    reopened, case_id = opened.args
    assert case_id == analysed.case_id
    assert reopened.to_dict() == analysed.result.to_dict()
    assert reopened.artifacts == analysed.result.artifacts
    assert controller.results.result is reopened
    assert window.tabs.currentWidget() is window.analysis_stack
    assert reopen_s < 2.0
    print(f"\n[desktop] history reopen {reopen_s * 1000:.0f} ms")


def test_export_report_writes_a_multipage_pdf(analysed, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    controller, bot = analysed.controller, analysed.bot
    out = tmp_path / "report.pdf"
    dialog = controller.export_report()
    assert dialog is not None and dialog.isVisible()
    dialog.case_number.setText("2024-117")
    dialog.examiner.setText("Zoë Ødegård")
    dialog.notes.setPlainText("Received on USB stick, exhibit 4.")
    dialog.path.setText(str(out))
    with bot.waitSignal(controller.reports.exported, timeout=60_000) as exported:
        dialog.accept()
    assert exported.args == [str(out)]
    assert out.is_file()
    pages = pypdf.PdfReader(str(out)).pages
    assert len(pages) >= 2
    text = "".join(p.extract_text() for p in pages)
    assert "2024-117" in text
    summary = controller.history.summary(analysed.case_id)
    assert summary.case_number == "2024-117" and summary.examiner == "Zoë Ødegård"


def test_screenshot_after_analysis(analysed, tmp_path):
    window, results = analysed.window, analysed.controller.results
    window.banner.dismiss()
    window.tabs.setCurrentWidget(window.analysis_stack)
    results.seek(results._most_suspicious_position())
    analysed.bot.waitUntil(lambda: results.frames_loaded, timeout=60_000)   # evidence frames, not thumbnails
    QApplication.processEvents()
    assert "stored thumbnail" not in window.analysis.player.canvas.caption()
    image = window.grab()
    assert not image.isNull() and image.width() >= 1200
    assert image.save(str(tmp_path / "main_window.png"))
    assert image.save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000


def test_reopened_case_without_its_file_shows_stored_thumbnails(analysed):
    controller, view = analysed.controller, analysed.window.analysis
    moved = dataclasses.replace(analysed.result, file={**analysed.result.file, "path": "/nonexistent/004.mp4"})
    with analysed.bot.waitSignal(controller.results.framesLoaded, timeout=5000):
        controller.show_result(moved, analysed.case_id)
    assert controller.results.source_state == "missing"
    assert "thumbnails" in view.notice.text()
    image = view.player.canvas.image()
    assert not image.isNull() and max(image.width(), image.height()) <= 480
    assert "stored thumbnail" in view.player.canvas.caption()


def test_delete_asks_first(analysed):
    controller, window, prompts = analysed.controller, analysed.window, analysed.prompts
    window.tabs.setCurrentWidget(window.history)
    window.history.table.selectRow(0)
    prompts.answer = False
    window.history.delete_button.click()
    assert prompts.asked[-1][0] == "confirm" and f"#{analysed.case_id}" in prompts.asked[-1][1]
    assert controller.history.count() == 1
    prompts.answer = True
    window.history.table.selectRow(0)
    window.history.delete_button.click()
    assert controller.history.count() == 0 and window.history.table.rowCount() == 0
    assert window.analysis_stack.currentWidget() is window.drop_zone


def _curve_detectors(controller) -> list[str]:
    from ffd_desktop import presentation as P

    names = []
    series = P.timeline_series(controller.results.result)
    for name in controller.results.result.detectors:
        names += [name] * len([s for s in series if s.detector == name])
    return names

