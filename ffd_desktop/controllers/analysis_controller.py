"""The analysis queue: files wait their turn, one runs in the worker thread, progress and errors reach the window.

An error in one file (bad input, no face, model problem) is shown in the banner and the queue moves on; Cancel
stops the running file and empties the queue, and a cancelled analysis is never saved.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ffd_desktop.modelpath import ModelChoice
from ffd_desktop.presentation import sentence
from ffd_desktop.settings import AppSettings
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.workers import AnalysisWorker

STAGES = {"loading model": "Loading the model", "hashing": "Hashing", "analysing": "Analysing", "done": "Finishing"}


class AnalysisController(QObject):
    analysisFinished = Signal(object, int)       # AnalysisResult, case id (-1 when it could not be saved)
    analysisFailed = Signal(str, str)            # path, message
    analysisCancelled = Signal(str)              # path
    busyChanged = Signal(bool)

    _request = Signal(str, object)
    _preload = Signal(object)

    def __init__(self, window: MainWindow, settings: AppSettings, model: Callable[[], ModelChoice],
                 case_store_path):
        super().__init__()
        self.window, self.settings, self.model = window, settings, model
        self.queue: deque[str] = deque()
        self.current: str | None = None
        self._cancel: threading.Event | None = None
        self.cancel_requested_at: float | None = None
        self.last_cancel_latency_s: float | None = None
        self.last_outcome = ""                   # shown in the status bar while idle

        self.thread = QThread()
        self.thread.setObjectName("ffd-analysis")
        self.worker = AnalysisWorker(case_store_path)
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.analyse)
        self._preload.connect(self.worker.preload)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.modelReady.connect(self._model_ready)
        self.thread.started.connect(self.worker.started)
        self.thread.start(QThread.Priority.LowPriority)

    def _model_ready(self, text: str) -> None:
        """The toolbar may elide the name: the tooltip holds it whole, then where the model lives."""
        choice = self.model()
        self.window.model_label.setText(f"Model: {text}")
        self.window.model_label.setToolTip(f"{text}\n{choice.path} (from {choice.source})")

    # public --------------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.current is not None

    def preload(self) -> None:
        choice = self.model()
        if choice.usable:
            self._preload.emit(self._job(choice))

    def reload_model(self) -> None:
        """The model choice changed: load the new model now (after the running file), not at the next drop."""
        self.preload()

    def enqueue(self, paths: list[str]) -> None:
        choice = self.model()
        if not choice.usable:
            self.window.banner.show_message("error", html.escape(choice.problem or "No model is available."))
            self.window.statusBar().showMessage("Cannot analyse: no usable detection model", 8000)
            return
        self.queue.extend(str(Path(p)) for p in paths)
        self._show_queue()
        if not self.busy:
            self._start_next()

    def cancel(self) -> None:
        if not self.busy or self._cancel is None:
            return
        dropped = len(self.queue)
        self.queue.clear()
        self._cancel.set()
        self.cancel_requested_at = time.monotonic()
        extra = f"; {dropped} queued file(s) removed" if dropped else ""
        self.window.stage_label.setText(f"Cancelling {Path(self.current).name}…{extra}")
        self.window.cancel_button.setEnabled(False)
        self._show_queue()

    def shutdown(self) -> None:
        """Stop the worker thread (cancelling any analysis) before the window goes away."""
        self.queue.clear()
        if self._cancel is not None:
            self._cancel.set()
        self.thread.quit()
        self.thread.wait(30_000)

    # worker replies ------------------------------------------------------------------------------------------

    def _start_next(self) -> None:
        if not self.queue:
            self._set_busy(None)
            return
        path = self.queue.popleft()
        choice = self.model()
        job = self._job(choice)
        self._cancel = job["cancel"]
        self._set_busy(path)
        self.window.stage_label.setText(f"Starting {Path(path).name}…")
        self._request.emit(path, job)

    def _job(self, choice: ModelChoice) -> dict:
        options = self.settings.analysis_options()
        # A model may hold only some detectors (a trained run holds the one it trained): run the selected ones it
        # has. If it has none of them, the worker says which detector is missing.
        present = [d for d in options["detectors"] if choice.bundle is not None and d in choice.bundle.detectors]
        if present:
            options["detectors"] = present
        return {**options, "model_dir": str(choice.path), "cancel": threading.Event()}

    @Slot(str, str, int, int, float)
    def _on_progress(self, path: str, stage: str, done: int, total: int, eta: float) -> None:
        if path != self.current or (self._cancel is not None and self._cancel.is_set()):
            return
        w = self.window
        name = Path(path).name
        words = STAGES.get(stage, stage.capitalize())
        if total > 0 and stage == "analysing":
            w.progress.setRange(0, total)
            w.progress.setValue(done)
            w.progress.setFormat(f"{done}/{total} frames")
            w.stage_label.setText(f"{words} {name}")
        else:
            w.progress.setRange(0, 0)         # busy indicator: no count to show yet
            w.stage_label.setText(f"{words} {name}…" if stage != "loading model" else f"{words}…")
        eta_text = f"ETA {_duration(eta)}" if eta >= 0 and stage == "analysing" else ""
        w.eta_label.setText(eta_text)
        count = f" — {done}/{total} frames" if total > 0 and stage == "analysing" else ""
        w.drop_zone.status.setText(f"{w.stage_label.text()}{count}{'  ·  ' + eta_text if eta_text else ''}")

    @Slot(str, object, int, str)
    def _on_finished(self, path: str, result, case_id: int, problem: str) -> None:
        name = Path(path).name
        verdict = {"fake": "manipulation indicated", "real": "no manipulation indicated"}.get(result.verdict,
                                                                                                result.verdict)
        saved = f"saved as case #{case_id}" if case_id >= 0 else "NOT saved"
        self.last_outcome = f"Finished {name}: {verdict}; {saved}"
        if problem:
            self.window.banner.show_message(
                "warning", f"The analysis of <b>{html.escape(name)}</b> finished but could not be saved to the "
                           f"case store: {html.escape(problem)}")
        self.analysisFinished.emit(result, case_id)
        self._start_next()

    @Slot(str, str, str)
    def _on_failed(self, path: str, kind: str, message: str) -> None:
        name = Path(path).name
        self.window.banner.show_message(
            "error", f"<b>{html.escape(name)}</b> could not be analysed. {html.escape(sentence(message))}")
        self.last_outcome = f"Could not analyse {name} ({kind})"
        self.analysisFailed.emit(path, message)
        self._start_next()

    @Slot(str)
    def _on_cancelled(self, path: str) -> None:
        if self.cancel_requested_at is not None:
            self.last_cancel_latency_s = time.monotonic() - self.cancel_requested_at
            self.cancel_requested_at = None
        self.last_outcome = f"Cancelled {Path(path).name}: nothing was saved"
        self.analysisCancelled.emit(path)
        self._start_next()

    # window state --------------------------------------------------------------------------------------------

    def _set_busy(self, path: str | None) -> None:
        was = self.busy
        self.current = path
        w = self.window
        w.progress.setVisible(path is not None)
        w.cancel_button.setVisible(path is not None)
        w.cancel_button.setEnabled(path is not None)
        w.cancel_action.setEnabled(path is not None)
        if path is None:
            w.stage_label.setText(self.last_outcome or "Ready")
            w.drop_zone.status.setText(self.last_outcome)
            w.eta_label.setText("")
            w.progress.setRange(0, 1)
            w.progress.setValue(0)
        else:
            w.progress.setRange(0, 0)
        self._show_queue()
        if was != self.busy:
            self.busyChanged.emit(self.busy)

    def _show_queue(self) -> None:
        n = len(self.queue)
        self.window.queue_label.setText(f"{n} queued" if n else "")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
