"""Settings dialog, model choice, and what the app remembers between runs (QSettings in a private folder)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings

from ffd_desktop.app import build_parser
from ffd_desktop.modelpath import choose_model
from ffd_desktop.settings import AppSettings
from tests.desktop.conftest import ScriptedPrompts, make_controller

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def test_settings_dialog_saves_choices_lists_hashes_and_imports_weights(qtbot, ffd_app, tiny_model_dir, tmp_path):
    prompts = ScriptedPrompts()
    controller = make_controller(tmp_path, tiny_model_dir, prompts)
    qtbot.addWidget(controller.window)
    with qtbot.waitSignal(controller.settings_ui.modelInfoReady, timeout=30_000):
        dialog = controller.settings_ui.open()
    assert set(dialog.detector_boxes) == {"hamlet", "mfclip"} and all(b.isChecked() for b in dialog.detector_boxes.values())
    assert "tiny-untrained-test" in dialog.model_summary.text()
    table = dialog.model_table
    rows = {table.item(r, 0).text(): table.item(r, 2).text() for r in range(table.rowCount())}
    assert set(rows) == {"Backbone weights", "hamlet checkpoint", "mfclip checkpoint"}
    assert all(SHA256.match(v) for v in rows.values())
    assert dialog.import_arch.currentText() == "ffd-test-tiny"

    # import the tiny backbone's weights file, as `ffd models import` would
    prompts.file = str(tiny_model_dir / "backbone.safetensors")
    with qtbot.waitSignal(controller.settings_ui.weightsImported, timeout=60_000) as imported:
        dialog.import_button.click()
    entry = imported.args[0]
    assert entry["arch"] == "ffd-test-tiny" and SHA256.match(entry["sha256"])
    qtbot.waitUntil(lambda: dialog.weights_table.rowCount() == 1, timeout=30_000)
    assert dialog.weights_table.item(0, 1).text() == entry["sha256"]

    dialog.detector_boxes["mfclip"].setChecked(False)
    dialog.fps.setValue(2.0)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.accept()
    again = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert again.detectors == ["hamlet"] and again.fps == 2.0 and again.device == "cpu"
    assert controller.settings.analysis_options() == {"detectors": ["hamlet"], "fps": 2.0, "device": "cpu"}


def test_window_geometry_and_last_folder_are_remembered(qtbot, ffd_app, tiny_model_dir, tmp_path):
    evidence = tmp_path / "exhibits"
    evidence.mkdir()
    (evidence / "clip.mp4").write_text("not really a video")
    prompts = ScriptedPrompts()
    prompts.files = [str(evidence / "clip.mp4")]
    first = make_controller(tmp_path / "app", tiny_model_dir, prompts)
    first.window.resize(980, 720)
    with qtbot.waitSignal(first.analysis.analysisFailed, timeout=60_000):
        first.ask_open()
    first.window.close()                               # saves geometry and state

    prompts2 = ScriptedPrompts()
    second = make_controller(tmp_path / "app", tiny_model_dir, prompts2, size=None)   # as restored
    qtbot.addWidget(second.window)
    # restored, not the 1440x900 default (the offscreen screen is only 800 px wide, so Qt narrows the width to fit)
    screen = second.window.screen().availableGeometry()
    assert second.window.height() == 720
    assert second.window.width() == max(min(980, screen.width()), second.window.minimumSizeHint().width())
    second.ask_open()
    assert prompts2.asked == [("open_files", str(evidence))]


def test_default_qsettings_live_in_the_isolated_folder(isolated_qsettings):
    path = Path(AppSettings().store.fileName())
    assert path.is_relative_to(isolated_qsettings)
    assert path.parts[-2:] == ("FFD", "FFD Desktop.ini")


def test_model_comes_from_option_then_environment_then_default(tmp_path, tiny_model_dir, monkeypatch):
    from core.models import set_default_model

    monkeypatch.setenv("FFD_RESOURCES", str(tmp_path / "nothing-shipped"))
    assert choose_model(None, {}).source == "none"
    set_default_model(tiny_model_dir)
    assert choose_model(None, {}).source == "default" and choose_model(None, {}).usable
    env = {"FFD_MODEL": str(tiny_model_dir)}
    assert choose_model(None, env).source == "FFD_MODEL"
    cli = choose_model(str(tiny_model_dir), env)
    assert cli.source == "command line" and cli.bundle.name == "tiny-untrained-test"
    broken = choose_model(str(tmp_path), env)
    assert not broken.usable and "model.json missing" in broken.problem
    args, _ = build_parser().parse_known_args(["--model", str(tiny_model_dir), "a.mp4"])
    assert args.model == str(tiny_model_dir) and args.files == ["a.mp4"]


def test_the_desktop_app_picks_the_shipped_default_when_nothing_else_is_configured():
    from core.paths import resources_dir

    choice = choose_model(None, {})
    assert choice.source == "default" and choice.usable and choice.path == resources_dir() / "models" / "default"
