"""Desktop test fixtures: an isolated QSettings, scripted prompts, a real drop, and a GUI stall meter."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.conftest import require_data

CLIP = ("ffpp_c23_videos", "real", "004.mp4")          # 12 s: 13 frames at 1 fps
LONG_CLIP = ("ffpp_c23_videos", "fake", "519_515.mp4")  # 30 s: 31 frames at 1 fps


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Whatever a test creates with the default QSettings constructor lands in a private folder."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    return folder


@pytest.fixture
def ffd_app(qapp):
    from ffd_desktop.app import create_app

    return create_app()


class ScriptedPrompts:
    """Answers the app's questions without modal dialogs; records what was asked."""

    def __init__(self, confirm: bool = True):
        self.answer = confirm
        self.asked: list[tuple[str, str]] = []
        self.files: list[str] = []
        self.file = ""
        self.folder = ""
        self.save_path = ""

    def open_files(self, folder: str) -> list[str]:
        self.asked.append(("open_files", folder))
        return list(self.files)

    def open_file(self, title: str, folder: str, file_filter: str) -> str:
        self.asked.append(("open_file", title))
        return self.file

    def open_folder(self, title: str, folder: str) -> str:
        self.asked.append(("open_folder", title))
        return self.folder

    def save_file(self, title: str, suggested: str, file_filter: str) -> str:
        self.asked.append(("save_file", suggested))
        return self.save_path

    def confirm(self, title: str, text: str) -> bool:
        self.asked.append(("confirm", text))
        return self.answer


def make_controller(tmp: Path, model_dir: Path | None, prompts: ScriptedPrompts | None = None, fps: float = 1.0,
                    size: tuple[int, int] | None = (1440, 900)):
    """A full app (window + controllers) on private settings and a private case store."""
    from ffd_desktop.controllers.main_controller import MainController
    from ffd_desktop.settings import AppSettings

    tmp.mkdir(parents=True, exist_ok=True)
    settings = AppSettings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    settings.fps = fps
    controller = MainController(model_dir=str(model_dir) if model_dir else None, settings=settings,
                                prompts=prompts or ScriptedPrompts(), case_store_path=tmp / "cases.sqlite3",
                                preload=False)
    if size is not None:
        controller.window.resize(*size)
    controller.window.show()
    return controller


def drop_files(widget, paths: list[Path]) -> None:
    """A real drag-enter + drop of file URLs, as the window system would deliver them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPointF(centre), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the drag"
    drop = QDropEvent(QPointF(centre), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


class StallMeter:
    """Ticks every 10 ms on the GUI thread; the longest gap between ticks is the worst event-loop stall."""

    def __init__(self, interval_ms: int = 10):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.max_gap_s = 0.0
        self.max_gap_at_s = 0.0     # when the worst gap ended, from start()
        self.ticks = 0
        self.gaps: list[tuple[float, float]] = []   # (ended at, gap) of every gap over 50 ms

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            gap = now - self.last
            if gap > self.max_gap_s:
                self.max_gap_s, self.max_gap_at_s = gap, now - self.started
            if gap > 0.05:
                self.gaps.append((round(now - self.started, 3), round(gap, 3)))
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        self.last = None
        self.started = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


@pytest.fixture(scope="session")
def clip() -> Path:
    return require_data(*CLIP)


@pytest.fixture(scope="session")
def long_clip() -> Path:
    return require_data(*LONG_CLIP)
