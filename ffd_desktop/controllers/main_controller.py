"""Builds the window and the controllers and connects them: the app's wiring diagram in one place."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

import core
from core.cases import default_path
from ffd_desktop import presentation as P
from ffd_desktop.controllers.analysis_controller import AnalysisController
from ffd_desktop.controllers.history_controller import HistoryController
from ffd_desktop.controllers.report_controller import ReportController
from ffd_desktop.controllers.result_controller import ResultController
from ffd_desktop.controllers.settings_controller import SettingsController
from ffd_desktop.controllers.train_controller import TrainController
from ffd_desktop.modelpath import ModelChoice, choose_model, inspect
from ffd_desktop.settings import AppSettings
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.views.prompts import Prompts
from ffd_desktop.workers import wait_for_tasks


class MainController(QObject):
    def __init__(self, model_dir: str | None = None, settings: AppSettings | None = None,
                 prompts: Prompts | None = None, case_store_path=None, preload: bool = True):
        super().__init__()
        self.window = MainWindow(f"FFD Desktop {core.__version__}")
        self.settings = settings or AppSettings()
        self.prompts = prompts or Prompts(self.window)
        self.case_store_path = Path(case_store_path) if case_store_path else default_path()
        self.model_choice: ModelChoice = choose_model(model_dir)
        self._closed = False

        w = self.window
        self.results = ResultController(w.analysis)
        self.history = HistoryController(w, self.prompts, self.case_store_path)
        self.analysis = AnalysisController(w, self.settings, lambda: self.model_choice, self.case_store_path)
        self.reports = ReportController(w, self.settings, self.prompts, self.history)
        self.settings_ui = SettingsController(w, self.settings, self.prompts, lambda: self.model_choice)
        self.training = TrainController(w, self.settings, self.prompts, lambda: self.model_choice)

        w.filesDropped.connect(self.open_files)
        w.drop_zone.openRequested.connect(self.ask_open)
        w.open_action.triggered.connect(self.ask_open)
        w.export_action.triggered.connect(self.export_report)
        w.settings_action.triggered.connect(self.settings_ui.open)
        w.quit_action.triggered.connect(w.close)
        w.cancel_action.triggered.connect(self.analysis.cancel)
        w.play_action.triggered.connect(lambda: self._if_viewing(self.results.toggle_play))
        w.prev_action.triggered.connect(lambda: self._if_viewing(lambda: self.results.step(-1)))
        w.next_action.triggered.connect(lambda: self._if_viewing(lambda: self.results.step(1)))
        w.attention_action.toggled.connect(self.results.set_attention)
        w.analysis.player.attention_button.toggled.connect(w.attention_action.setChecked)
        w.history_action.triggered.connect(lambda: w.tabs.setCurrentWidget(w.history))
        w.train_action.triggered.connect(lambda: w.tabs.setCurrentWidget(w.train))
        w.about_action.triggered.connect(self.about)
        w.tabs.currentChanged.connect(self._tab_changed)
        w.analysis_stack.currentChanged.connect(lambda _: self._update_actions())
        w.closing.connect(self.shutdown)

        self.analysis.analysisFinished.connect(self.show_result)
        self.history.caseOpened.connect(self.show_result)
        self.history.caseDeleted.connect(self._case_deleted)
        self.settings_ui.modelFolderChosen.connect(lambda folder: self.use_model(folder, "settings"))
        self.training.modelChosen.connect(lambda folder: self.use_model(folder, "trained here"))

        self._show_model_state()
        self._update_actions()
        geometry, state = self.settings.window_state()
        if geometry is not None:
            w.restoreGeometry(geometry)
        if state is not None:
            w.restoreState(state)
        if preload:
            self.analysis.preload()

    # user actions --------------------------------------------------------------------------------------------

    def open_files(self, paths: list[str]) -> None:
        """Queue files; a folder stands for the media files inside it (recursively, sorted)."""
        from core.media import MEDIA_EXTENSIONS

        expanded: list[str] = []
        for p in (Path(str(p)) for p in paths if str(p)):
            if p.is_dir():
                expanded += [str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS]
            else:
                expanded.append(str(p))
        paths = expanded
        if not paths:
            self.window.statusBar().showMessage("No video or photo files found there", 8000)
            return
        self.settings.last_folder = str(Path(paths[-1]).parent)
        self.window.tabs.setCurrentWidget(self.window.analysis_stack)
        self.analysis.enqueue(paths)

    def ask_open(self) -> None:
        paths = self.prompts.open_files(self.settings.last_folder)
        if paths:
            self.open_files(paths)

    def export_report(self):
        return self.reports.export(self.results.result, self.results.case_id)

    def show_result(self, result, case_id: int) -> None:
        w = self.window
        w.analysis_stack.setCurrentWidget(w.analysis)
        w.tabs.setCurrentWidget(w.analysis_stack)
        self.results.show(result, case_id)
        self.history.refresh()
        self._update_actions()
        name = Path(str(result.file.get("path", ""))).name
        w.setWindowTitle(f"{name} — FFD Desktop {core.__version__}")

    def about(self) -> None:
        QMessageBox.about(self.window, "About FFD Desktop",
                          f"<b>FFD Desktop {core.__version__}</b><p>Face forgery detection with HAMLET-FFD and "
                          f"MFCLIP, run on this computer.</p><p>{html.escape(P.CAUTION)}</p>")

    def _viewing(self) -> bool:
        w = self.window
        return (self.results.result is not None and w.tabs.currentWidget() is w.analysis_stack
                and w.analysis_stack.currentWidget() is w.analysis)

    def _if_viewing(self, action) -> None:
        if self._viewing():
            action()

    def _tab_changed(self, _index: int) -> None:
        if self.window.tabs.currentWidget() is self.window.history:
            self.history.refresh()
        if self.window.tabs.currentWidget() is not self.window.analysis_stack:
            self.results.stop()
        self._update_actions()

    def _update_actions(self) -> None:
        """Playback keys only act (and only take the keys) while a result is on screen; export needs a result."""
        w, viewing = self.window, self._viewing()
        for action in (w.play_action, w.prev_action, w.next_action, w.attention_action):
            action.setEnabled(viewing)
        w.export_action.setEnabled(self.results.result is not None)

    def _case_deleted(self, case_id: int) -> None:
        if self.results.case_id == case_id:
            self.results.clear()
            self.window.analysis_stack.setCurrentWidget(self.window.drop_zone)
            self.window.setWindowTitle(f"FFD Desktop {core.__version__}")
            self._update_actions()

    def use_model(self, folder: str, source: str) -> None:
        """Switch the analysis model (Settings > Models, or "Use this model" after a training): the status bar
        says so at once, the worker loads it in the background and the next analysis runs on it."""
        self.model_choice = inspect(Path(folder), source)
        self._show_model_state()
        self.training.model_changed()
        choice = self.model_choice
        if not choice.usable:
            return
        self.analysis.reload_model()
        present = [d for d in self.settings.detectors if d in choice.bundle.detectors]
        missing = [d for d in self.settings.detectors if d not in choice.bundle.detectors]
        note = ""
        if missing and present:
            note = (f"; it has no {', '.join(P.title(d) for d in missing)} detector, so analyses run "
                    f"{', '.join(P.title(d) for d in present)} only")
        elif missing:
            note = (f"; it has none of the selected detectors: choose "
                    f"{', '.join(P.title(d) for d in choice.bundle.detectors)} in Settings")
        self.window.statusBar().showMessage(f"Analyses now use the model {choice.bundle.name}{note}", 12000)

    def _show_model_state(self) -> None:
        w, choice = self.window, self.model_choice
        if choice.usable:
            w.model_label.setText(f"Model: {choice.bundle.name}")
            w.model_label.setToolTip(f"{choice.bundle.name}\n{choice.path} (from {choice.source})")
            w.drop_zone.status.setText("")
            if w.banner.kind == "error" and "model" in w.banner.label.text().lower():
                w.banner.dismiss()
        else:
            w.model_label.setText("No model installed")
            w.model_label.setToolTip(choice.problem or "")
            w.banner.show_message("warning", html.escape(choice.problem or "No model."))
            w.drop_zone.status.setText("Analysing needs a detection model: see the message above, or Settings > Models.")

    # lifetime ------------------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Save the window layout and stop every thread (idempotent; runs when the window closes)."""
        if self._closed:
            return
        self._closed = True
        w = self.window
        self.settings.save_window_state(w.saveGeometry(), w.saveState())
        self.settings.sync()
        self.analysis.shutdown()
        self.training.shutdown()
        self.results.shutdown()
        wait_for_tasks(30.0)
        self.history.shutdown()
