"""The Train tab: pick labelled data and a run folder, train one detector in the worker thread, follow it live,
read the test-split results, and hand the trained model to the analysis view.

The run folder is the trainer's: a checkpoint after every epoch (trainer_state.json), and from the first epoch on a
model folder (model.json) holding the best epoch so far. So Cancel (or a crash) never loses more than the running
epoch: Resume continues from the last completed one, and the folder can already be used as a model.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QApplication

from core.errors import BadInputError, FFDError
from ffd_desktop.modelpath import ModelChoice
from ffd_desktop.presentation import sentence
from ffd_desktop.settings import DETECTORS, AppSettings
from ffd_desktop.views import style
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.views.prompts import Prompts
from ffd_desktop.workers import TrainWorker, run_task

DETECTOR_CHOICES = [("hamlet", "HAMLET-FFD"), ("mfclip", "MFCLIP"), ("clip", "CLIP backbone (stage 1)")]
DETECTOR_NOTES = {
    "hamlet": "The backbone stays frozen: its features are computed once, so every epoch after the first is fast.",
    "mfclip": "Trains end to end (backbone included): much slower, a GPU is recommended.",
    "clip": "Stage 1: trains the CLIP backbone itself on real/fake prompts and saves trained_backbone.safetensors; "
            "train HAMLET-FFD or MFCLIP on it next.",
}
MANIFEST_FILTER = "CSV manifest (*.csv);;All files (*)"
LEVELS = (("frame", "Frame (face)"), ("video", "Video / photo"), ("sbi_frame", "SBI pseudo-fakes"))
REDRAW_S = 0.15                 # the curves are redrawn at most this often (each step reports a point)


class TrainController(QObject):
    dataScanned = Signal(str)                  # the data summary shown (or the problem)
    trainingStarted = Signal(str)              # run folder
    trainingFinished = Signal(str, object)     # run folder, summary
    trainingFailed = Signal(str)               # message
    trainingCancelled = Signal(str)            # run folder
    modelChosen = Signal(str)                  # run folder to use as the analysis model
    busyChanged = Signal(bool)

    _request = Signal(object)

    def __init__(self, window: MainWindow, settings: AppSettings, prompts: Prompts,
                 model: Callable[[], ModelChoice]):
        super().__init__()
        self.window, self.view, self.settings, self.prompts, self.model = window, window.train, settings, prompts, model
        self.thread: QThread | None = None
        self.worker: TrainWorker | None = None
        self.running_dir: str | None = None      # the run in progress
        self.result_dir: str | None = None       # the run whose results are shown
        self.device = ""
        self._cancel: threading.Event | None = None
        self._resume = False
        self._resumable = False
        self.cancel_requested_at: float | None = None
        self.last_cancel_latency_s: float | None = None
        self.loss_xs: list[float] = []          # smoothed loss per step (x: fractional epoch)
        self.loss_ys: list[float] = []
        self.raw_xs: list[float] = []           # each batch's loss
        self.raw_ys: list[float] = []
        self._last_step = 0
        self._epoch_mean = 0.0
        self._ema = 0.0
        self._ema_weight = 0.0
        self.auc_xs: list[float] = []
        self.auc_ys: list[float] = []
        self._drawn_at = 0.0
        self._epoch = 0
        self._epoch_started = 0.0
        self._epoch_seconds: list[float] = []
        self._scan_generation = 0

        v = self.view
        v.set_detectors(DETECTOR_CHOICES)
        v.detector.currentIndexChanged.connect(self._detector_changed)
        v.data_folder_button.clicked.connect(self.choose_data_folder)
        v.data_csv_button.clicked.connect(self.choose_manifest)
        v.data_path.editingFinished.connect(self._data_edited)
        v.run_button.clicked.connect(self.choose_run_folder)
        v.run_path.editingFinished.connect(self._run_edited)
        v.start_button.clicked.connect(lambda: self.start(resume=False))
        v.resume_button.clicked.connect(lambda: self.start(resume=True))
        v.cancel_button.clicked.connect(self.cancel)
        v.use_model_button.clicked.connect(self.use_model)
        v.next_stage_button.clicked.connect(self.use_trained_backbone)
        v.open_folder_button.clicked.connect(self.open_run_folder)
        self._detector_changed()
        self.prefill_backbone()
        self.new_run_folder()
        self._show_results_buttons(None)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        return self.running_dir is not None

    # the form ------------------------------------------------------------------------------------------------

    def prefill_backbone(self) -> None:
        """The backbone of the model in use (normally the default model): fine-tuning starts from it."""
        choice = self.model()
        bundle = choice.bundle if choice.usable else None
        if bundle is None:
            from core.models import default_model_dir, read_bundle

            found = default_model_dir()
            try:
                bundle = read_bundle(found) if found else None
            except FFDError:
                bundle = None
        if bundle is not None:
            self.view.backbone.setText(_spec_text(bundle.backbone))

    def new_run_folder(self) -> str:
        from core.paths import data_dir

        base = data_dir() / "runs" / time.strftime("%Y-%m-%d_%H%M%S")
        folder, n = base, 1
        while folder.exists():
            n += 1
            folder = base.with_name(f"{base.name}_{n}")
        self.view.run_path.setText(str(folder))
        self._inspect_run(fill_form=False)
        return str(folder)

    def choose_data_folder(self) -> None:
        folder = self.prompts.open_folder("Choose the training data (a folder with real/ and fake/)",
                                          self._start_folder())
        if folder:
            self.set_data(folder)

    def choose_manifest(self) -> None:
        path = self.prompts.open_file("Choose a CSV manifest of labelled media", self._start_folder(),
                                      MANIFEST_FILTER)
        if path:
            self.set_data(path)

    def set_data(self, path: str) -> None:
        self.view.data_path.setText(str(path))
        self.scan()

    def choose_run_folder(self) -> None:
        current = self.view.run_path.text().strip()
        start = current if current and Path(current).is_dir() else str(Path(current).parent if current else "")
        folder = self.prompts.open_folder("Choose the run folder (new, or a run to resume)", start)
        if folder:
            self.set_run_folder(folder)

    def set_run_folder(self, folder: str) -> None:
        self.view.run_path.setText(str(folder))
        self._inspect_run(fill_form=True)

    def _data_edited(self) -> None:
        if self.view.data_path.isModified():
            self.view.data_path.setModified(False)
            self.scan()

    def _run_edited(self) -> None:
        if self.view.run_path.isModified():
            self.view.run_path.setModified(False)
            self._inspect_run(fill_form=True)

    def _start_folder(self) -> str:
        current = self.view.data_path.text().strip()
        if current and Path(current).exists():
            return str(Path(current) if Path(current).is_dir() else Path(current).parent)
        return self.settings.last_folder

    def _detector_changed(self) -> None:
        self.view.detector_note.setText(DETECTOR_NOTES.get(self.view.detector.currentData(), ""))

    # what the data holds (read on the thread pool: a big folder on a network share takes a while) -------------

    def scan(self) -> None:
        path = self.view.data_path.text().strip()
        self._scan_generation += 1
        generation = self._scan_generation
        if not path:
            self._show_scan("Choose the labelled media to learn from.")
            return
        self.view.data_summary.setText("Reading the data…")
        run_task(lambda: _scan(path), lambda found: self._scanned(generation, found),
                 lambda message: self._scan_failed(generation, message))

    def _scanned(self, generation: int, found: dict) -> None:
        if generation != self._scan_generation:
            return
        folder = Path(found["path"])
        self.settings.last_folder = str(folder if folder.is_dir() else folder.parent)
        self._show_scan(_data_summary(found))

    def _scan_failed(self, generation: int, message: str) -> None:
        if generation == self._scan_generation:
            self._show_scan(_problem_html(f"This data cannot be used: {message}"))

    def _show_scan(self, text: str) -> None:
        self.view.data_path.setToolTip(self.view.data_path.text())
        self.view.data_summary.setText(text)
        self.dataScanned.emit(text)

    # the run folder ------------------------------------------------------------------------------------------

    def _inspect_run(self, fill_form: bool) -> None:
        """Say what the run folder holds; a resumable run loads its settings into the form (fill_form)."""
        path = self.view.run_path.text().strip()
        self.view.run_path.setToolTip(path)
        state = _read_state(path)
        self._resumable = state is not None
        folder = Path(path) if path else None
        if not path:
            note = "Choose where the run is written."
        elif state is not None:
            cfg = state.get("config", {})
            done, total = int(state.get("epoch", 0)), int(cfg.get("epochs", 0))
            best = state.get("best_auc")
            best_text = f" (best validation AUC {best:.3f}, epoch {state.get('best_epoch')})" if best is not None else ""
            if done >= total:
                note = (f"A finished {_title(cfg.get('detector', '?'))} run: {done} epoch(s){best_text}. "
                        "Raise Epochs and Resume to train it further; Start replaces it.")
            else:
                note = (f"An unfinished {_title(cfg.get('detector', '?'))} run: {done} of {total} epochs done"
                        f"{best_text}. Resume continues it from epoch {done + 1}; Start replaces it.")
            if fill_form:
                self._fill_form(cfg, _card(path).get("training", {}).get("data"))
                self._seed_curves(path)
                if (folder / "model.json").is_file():
                    self.show_results(path)
        elif folder is not None and (folder / "model.json").is_file():
            note = "This folder holds a model but no resumable training: Start replaces it."
        elif folder is not None and folder.is_dir() and any(folder.iterdir()):
            note = "This folder is not empty: the run's files are added to it."
        else:
            note = "A new run folder. It becomes a model folder (model.json) the analysis can use."
        self.view.run_note.setText(note)
        self._update_buttons()

    def _fill_form(self, cfg: dict, data: str | None) -> None:
        v = self.view
        v.set_detector(cfg.get("detector", "hamlet"))
        v.backbone.setText(cfg.get("backbone") or "")
        v.random_backbone.setChecked(bool(cfg.get("random_backbone")))
        for box, key in ((v.epochs, "epochs"), (v.batch_size, "batch_size"), (v.sbi_copies, "sbi_copies"),
                         (v.patience, "patience")):
            if isinstance(cfg.get(key), int):
                box.setValue(cfg[key])
        v.max_files.setValue(int(cfg.get("max_files") or 0))
        v.aligned.setChecked(bool(cfg.get("aligned")))
        if data and data != v.data_path.text().strip():
            self.set_data(data)

    def _config(self) -> dict:
        """TrainConfig fields (plain values: the worker builds the TrainConfig)."""
        v = self.view
        return {"detector": v.detector.currentData(), "backbone": v.backbone.text().strip() or None,
                "random_backbone": v.random_backbone.isChecked(), "epochs": v.epochs.value(),
                "batch_size": v.batch_size.value(), "sbi_copies": v.sbi_copies.value(),
                "patience": v.patience.value(), "aligned": v.aligned.isChecked(),
                "max_files": v.max_files.value() or None, "device": self.settings.device}

    # running -------------------------------------------------------------------------------------------------

    def start(self, resume: bool = False) -> bool:
        if self.busy:
            return False
        v = self.view
        data, run_dir = v.data_path.text().strip(), v.run_path.text().strip()
        if not data:
            return self._refuse("Choose the training data first: a folder with real/ and fake/, or a CSV manifest.")
        if not run_dir:
            return self._refuse("Choose a run folder first.")
        state = _read_state(run_dir)
        if resume and state is None:
            return self._refuse("The run folder holds no training to resume; Start begins a new one.")
        if not resume and state is not None and not self.prompts.confirm(
                "Replace the training run?",
                f"The run folder {run_dir} already holds a training run ({state.get('epoch', 0)} epoch(s) done)."
                "\n\nStart over and replace it? Choose No to keep it: Resume continues it, or choose another "
                "run folder."):
            return False
        if resume:
            self._keep_run_backbone(run_dir)
        config = self._config()
        self._ensure_worker()
        self._cancel = threading.Event()
        self._resume = resume
        self.result_dir = None
        self._clear_results()
        self._reset_curves(config["epochs"])
        if resume:
            self._seed_curves(run_dir)
        self._set_busy(run_dir)
        v.stage_label.setText(("Resuming" if resume else "Starting") + f" {_title(config['detector'])} training…")
        v.detail_label.setText(f"Run folder: {run_dir}")
        self.trainingStarted.emit(run_dir)
        self._request.emit({"data": data, "run_dir": run_dir, "config": config, "resume": resume,
                            "cancel": self._cancel})
        return True

    def _keep_run_backbone(self, run_dir: str) -> None:
        """A resumed run continues on the backbone it started with: the one its model.json records (a copy of the
        weights file in the run folder, or the pretrained tag). Why: a random initialisation is identified only by
        the file the run saved (the trainer checks the hash), and the default model may have changed since."""
        from core.models import read_bundle

        try:
            spec = read_bundle(run_dir).backbone
        except FFDError:
            return
        self.view.backbone.setText(_spec_text(spec))
        self.view.random_backbone.setChecked(False)

    def cancel(self) -> None:
        if not self.busy or self._cancel is None or self._cancel.is_set():
            return
        self._cancel.set()
        self.cancel_requested_at = time.monotonic()
        self.view.stage_label.setText("Cancelling… the last completed epoch stays saved")
        self.view.eta_label.setText("")
        self._update_buttons()

    def shutdown(self) -> None:
        """Stop a running training (its last completed epoch is saved) and the worker thread."""
        if self._cancel is not None:
            self._cancel.set()
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(60_000)

    def _ensure_worker(self) -> None:
        """The worker thread, started on the first training, after the training libraries are loaded here (see
        ffd_desktop.app.TRAINING_MODULES: importing them in the worker would freeze the window as long)."""
        if self.thread is not None:
            return
        from ffd_desktop.app import load_training_libraries

        self.view.stage_label.setText("Loading the training libraries…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            # paint the message first (a QEventLoop's processEvents: PySide6 6.12's static
            # QCoreApplication.processEvents() drops a reference to None on every call)
            QEventLoop().processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
            load_training_libraries()
        finally:
            QApplication.restoreOverrideCursor()
        self.thread = QThread()
        self.thread.setObjectName("ffd-train")
        self.worker = TrainWorker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.train)
        self.worker.ready.connect(self._on_ready)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.thread.started.connect(self.worker.started)
        self.thread.start(QThread.Priority.LowPriority)

    def _refuse(self, message: str) -> bool:
        self.view.stage_label.setText(message)
        self.window.statusBar().showMessage(message, 8000)
        return False

    # worker replies ------------------------------------------------------------------------------------------

    @Slot(str)
    def _on_ready(self, device: str) -> None:
        self.device = device
        self.view.detail_label.setText(f"Running on {device} · run folder: {self.running_dir}")

    @Slot(object)
    def _on_progress(self, p: dict) -> None:
        if not self.busy or (self._cancel is not None and self._cancel.is_set()):
            return
        v, stage = self.view, p["stage"]
        if stage == "preparing":
            if p["steps"]:
                v.progress.setRange(0, p["steps"])
                v.progress.setValue(p["step"])
                v.progress.setFormat(f"{p['step']}/{p['steps']} files")
            else:
                v.progress.setRange(0, 0)
            v.stage_label.setText(f"Preparing the data: {p['message'] or 'reading'}…")
            self._set_tab("preparing")
        elif stage == "training":
            self._training_step(p)
        elif stage == "validating":
            self._validated(p)
        elif stage == "testing":
            v.progress.setRange(0, 0)
            v.stage_label.setText("Testing the best epoch on the test split…")
            v.eta_label.setText("")
            self._set_tab("testing")
        self._draw(force=stage != "training")

    def _training_step(self, p: dict) -> None:
        v = self.view
        epoch, epochs, step, steps = p["epoch"], p["epochs"], p["step"], max(p["steps"], 1)
        now = time.monotonic()
        if epoch != self._epoch:
            self._epoch, self._epoch_started = epoch, now
        x = epoch - 1 + step / steps
        if p["loss"] is not None:
            self._add_loss(x, step, steps, float(p["loss"]))
        v.progress.setRange(0, 1000)
        v.progress.setValue(round(1000 * x / max(epochs, 1)))
        v.progress.setFormat(f"epoch {epoch}/{epochs} · step {step}/{steps}")
        v.stage_label.setText(f"Training: epoch {epoch} of {epochs}")
        if p["eta_s"] is not None:
            # this epoch's remaining steps, then the later epochs at the pace of the last full one
            this_epoch = now - self._epoch_started + p["eta_s"]
            per_epoch = self._epoch_seconds[-1] if self._epoch_seconds else this_epoch
            v.eta_label.setText(f"ETA {_duration(p['eta_s'] + per_epoch * (epochs - epoch))}")
        if p["loss"] is not None:
            v.detail_label.setText(f"Loss {p['loss']:.4f} (running mean of epoch {epoch})"
                                   + (f" · running on {self.device}" if self.device else ""))
        self._set_tab(f"{round(100 * x / max(epochs, 1))}%")

    def _add_loss(self, x: float, step: int, steps: int, running_mean: float) -> None:
        """The trainer reports the epoch's running mean: recover each batch's loss from it (faint curve) and
        draw an exponential moving average of those (bold curve; bias-corrected, so it starts at the data)."""
        consecutive = step > 1 and step == self._last_step + 1
        batch = running_mean * step - self._epoch_mean * (step - 1) if consecutive else running_mean
        self._last_step, self._epoch_mean = step, running_mean
        beta = min(0.98, max(0.6, 1 - 5 / steps))       # smooth over about a fifth of an epoch
        self._ema = beta * self._ema + (1 - beta) * batch
        self._ema_weight = beta * self._ema_weight + (1 - beta)
        self.raw_xs.append(x)
        self.raw_ys.append(batch)
        self.loss_xs.append(x)
        self.loss_ys.append(self._ema / self._ema_weight)

    def _validated(self, p: dict) -> None:
        v = self.view
        if self._epoch == p["epoch"] and self._epoch_started:
            self._epoch_seconds.append(time.monotonic() - self._epoch_started)
        if p["val_auc"] is not None:
            self.auc_xs.append(float(p["epoch"]))
            self.auc_ys.append(float(p["val_auc"]))
            self._show_best()
        v.progress.setRange(0, 1000)
        v.progress.setValue(round(1000 * p["epoch"] / max(p["epochs"], 1)))
        v.progress.setFormat(f"epoch {p['epoch']}/{p['epochs']} done")
        auc = f": validation AUC {p['val_auc']:.3f}" if p["val_auc"] is not None else ""
        v.stage_label.setText(f"Epoch {p['epoch']} of {p['epochs']} done{auc}")

    def _stop_progress(self, value: int, text: str) -> None:
        """The run ended (finished, failed or cancelled): leave the busy state and freeze the progress bar."""
        self._set_busy(None)
        self.view.progress.setRange(0, 1)
        self.view.progress.setValue(value)
        self.view.progress.setFormat(text)
        self.view.eta_label.setText("")

    @Slot(str, object)
    def _on_finished(self, run_dir: str, summary: dict) -> None:
        v = self.view
        self._stop_progress(1, "done")
        v.stage_label.setText(f"Finished: best validation AUC {summary.get('best_val_auc', float('nan')):.3f} "
                              f"after {summary.get('epochs_run', '?')} epoch(s)")
        self.show_results(run_dir, summary)
        if self._trained_backbone() is not None:
            v.detail_label.setText("Stage 1 done: its trained backbone can carry a HAMLET-FFD or MFCLIP detector. "
                                   "“Train a detector on this backbone” fills it in for the next run.")
        else:
            v.detail_label.setText(f"Run folder: {run_dir}. The next Start uses a new run folder.")
        self.new_run_folder()          # the finished run stays on show below; a new Start must not replace it
        self._draw(force=True)
        self.trainingFinished.emit(run_dir, summary)

    @Slot(str, str, str)
    def _on_failed(self, run_dir: str, kind: str, message: str) -> None:
        v = self.view
        self._stop_progress(0, "")
        v.stage_label.setText("Training stopped: see the message above")
        v.detail_label.setText(sentence(message))
        self.window.banner.show_message("error", f"The training could not {'continue' if self._resume else 'run'}. "
                                                 f"{html.escape(sentence(message))}")
        self._inspect_run(fill_form=False)
        self.trainingFailed.emit(message)

    @Slot(str)
    def _on_cancelled(self, run_dir: str) -> None:
        if self.cancel_requested_at is not None:
            self.last_cancel_latency_s = time.monotonic() - self.cancel_requested_at
            self.cancel_requested_at = None
        v = self.view
        self._stop_progress(0, "")
        state = _read_state(run_dir)
        if state is not None:
            epochs = state.get("config", {}).get("epochs", "?")
            v.stage_label.setText(f"Cancelled: epoch {state.get('epoch')} of {epochs} is saved")
            v.detail_label.setText("The last completed epoch is saved in the run folder: Resume continues from "
                                   "there, and the folder is already a usable model (its best epoch so far).")
        else:
            v.stage_label.setText("Cancelled before the first epoch finished")
            v.detail_label.setText("Nothing was saved to resume from; Start begins the run again.")
        self._inspect_run(fill_form=False)
        if (Path(run_dir) / "model.json").is_file():
            self.show_results(run_dir)
        self._draw(force=True)
        self.window.statusBar().showMessage(v.stage_label.text(), 10000)
        self.trainingCancelled.emit(run_dir)

    # results -------------------------------------------------------------------------------------------------

    def show_results(self, run_dir: str, summary: dict | None = None) -> None:
        """The run's test-split metrics from its model card (what `ffd train` printed), its ROC curve, its buttons."""
        from core.models import read_bundle

        v = self.view
        try:
            bundle = read_bundle(run_dir)
        except FFDError as exc:
            v.results_note.setText(_problem_html(f"The run folder holds no usable model: {exc}"))
            self._show_results_buttons(None)
            return
        self.result_dir = str(run_dir)
        card = bundle.card
        metrics = card.get("metrics") or summary or {}
        test = metrics.get("test", {})
        rows = []
        for level, label in LEVELS:
            if level in test:
                m = test[level]
                rows.append([label, f"{m['auc']:.3f}", f"{m['ap']:.3f}", f"{m['eer']:.3f}", f"{m['acc@thr']:.3f}",
                             f"{m['threshold']:.3f}", f"{m['n']:,}"])
        v.set_metrics(rows)
        history = card.get("training", {}).get("history", [])
        name = html.escape(bundle.name)
        where = f"<br><span style='color:{style.MUTED}'>{html.escape(str(run_dir))}</span>"
        if rows:
            detector = next(iter(bundle.detectors), "")
            v.results_note.setText(
                f"<b>{name}</b>: best validation AUC {metrics.get('best_val_auc', float('nan')):.3f} after "
                f"{metrics.get('epochs_run', len(history))} epoch(s); verdict threshold "
                f"{bundle.threshold(detector):.3f} (equal-error point on the validation split).{where}")
        else:
            best = max((h["val_auc"] for h in history), default=None)
            best_text = f" Best validation AUC so far: {best:.3f}." if best is not None else ""
            v.results_note.setText(f"<b>{name}</b>: not tested yet (the run stopped before its test-split "
                                   f"evaluation).{best_text} Its best epoch so far can already be used.{where}")
        roc = Path(run_dir) / "roc_test.png"
        v.roc.set_pixmap(QPixmap(str(roc)) if rows and roc.is_file() else None, "no ROC curve yet")
        self._show_results_buttons(bundle)

    def _show_results_buttons(self, bundle) -> None:
        v = self.view
        usable = bundle is not None and any(d in DETECTORS for d in bundle.detectors)
        choice = self.model()
        in_use = (bundle is not None and choice.usable
                  and Path(choice.path).resolve() == Path(bundle.root).resolve())
        v.use_model_button.setEnabled(usable and not in_use and not self.busy)
        v.use_model_button.setText("In use for analyses" if in_use else "Use this model")
        if bundle is not None and not usable:
            v.use_model_button.setToolTip("A stage-1 backbone run has no HAMLET-FFD or MFCLIP detector to analyse "
                                          "with: train one on its backbone first")
        else:
            v.use_model_button.setToolTip("Make this run the model of the analysis view (and the default model)")
        backbone = self._trained_backbone()
        v.next_stage_button.setVisible(backbone is not None)
        v.next_stage_button.setToolTip(f"Prefill the backbone field with {backbone}" if backbone else "")
        v.open_folder_button.setEnabled(bundle is not None)

    def _trained_backbone(self) -> str | None:
        """`ARCH@<run>/trained_backbone.safetensors` when the shown run is a finished stage-1 (clip) run."""
        if self.result_dir is None:
            return None
        from core.models import read_bundle

        path = Path(self.result_dir) / "trained_backbone.safetensors"
        if not path.is_file():
            return None
        try:
            bundle = read_bundle(self.result_dir)
        except FFDError:
            return None
        return bundle.card.get("metrics", {}).get("backbone") or f"{bundle.backbone.arch}@{path}"

    def use_model(self) -> None:
        if self.result_dir is None:
            return
        from core.models import set_default_model

        try:
            set_default_model(self.result_dir)
        except FFDError as exc:
            self.window.banner.show_message("error", f"This run cannot be used as a model: {html.escape(str(exc))}")
            return
        self.modelChosen.emit(self.result_dir)

    def model_changed(self) -> None:
        """The app's model changed (here or in Settings): the results' "Use this model" button follows."""
        if self.result_dir is None:
            self._show_results_buttons(None)
            return
        from core.models import read_bundle

        try:
            self._show_results_buttons(read_bundle(self.result_dir))
        except FFDError:
            self._show_results_buttons(None)

    def use_trained_backbone(self) -> None:
        backbone = self._trained_backbone()
        if backbone is None:
            return
        v = self.view
        v.backbone.setText(backbone)
        v.random_backbone.setChecked(False)
        if v.detector.currentData() == "clip":
            v.set_detector("hamlet")
        self.new_run_folder()
        self.window.statusBar().showMessage("Backbone set to the trained one: choose the detector and Start", 8000)

    def open_run_folder(self) -> None:
        if self.result_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.result_dir))

    def _clear_results(self) -> None:
        v = self.view
        v.set_metrics([])
        v.roc.set_pixmap(None, "no ROC curve yet")
        v.results_note.setText("The test-split metrics of the best epoch appear here when the run finishes.")
        self._show_results_buttons(None)

    # curves --------------------------------------------------------------------------------------------------

    def _reset_curves(self, epochs: int) -> None:
        self.loss_xs, self.loss_ys, self.raw_xs, self.raw_ys, self.auc_xs, self.auc_ys = [], [], [], [], [], []
        self._last_step, self._epoch_mean, self._ema, self._ema_weight = 0, 0.0, 0.0, 0.0
        self._epoch, self._epoch_started, self._epoch_seconds = 0, 0.0, []
        self.view.set_epoch_range(epochs)
        self._show_best()
        self._draw(force=True)

    def _seed_curves(self, run_dir: str) -> None:
        """The epochs already run (history.json): mean loss and validation AUC, one point per epoch (the loss
        points mark the end of their epoch, where the live curve's smoothed value would be)."""
        try:
            history = json.loads((Path(run_dir) / "history.json").read_text())
        except (OSError, ValueError):
            return
        if not self.busy:
            self._reset_curves(max(self.view.epochs.value(), len(history)))
        for h in history:
            self.loss_xs.append(float(h["epoch"]))
            self.loss_ys.append(float(h["loss"]))
            self.auc_xs.append(float(h["epoch"]))
            self.auc_ys.append(float(h["val_auc"]))
        self._epoch_seconds = [float(h["seconds"]) for h in history if "seconds" in h]
        self._show_best()
        self._draw(force=True)

    def _show_best(self) -> None:
        text = "Validation AUC per epoch"
        if self.auc_ys:
            best = max(range(len(self.auc_ys)), key=lambda i: self.auc_ys[i])
            text += f" · best {self.auc_ys[best]:.3f} (epoch {self.auc_xs[best]:g})"
        self.view.auc_title.setText(text.upper())

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = now
        self.view.loss_curve.setData(self.loss_xs, self.loss_ys)
        self.view.loss_raw_curve.setData(self.raw_xs, self.raw_ys)
        self.view.auc_curve.setData(self.auc_xs, self.auc_ys)

    # window state --------------------------------------------------------------------------------------------

    def _set_busy(self, run_dir: str | None) -> None:
        was = self.busy
        self.running_dir = run_dir
        if run_dir is None:
            self._cancel = None
            self._set_tab("")
        self._update_buttons()
        if was != self.busy:
            self.busyChanged.emit(self.busy)

    def _update_buttons(self) -> None:
        v, busy = self.view, self.busy
        v.set_form_enabled(not busy)
        v.start_button.setEnabled(not busy)
        v.resume_button.setEnabled(not busy and self._resumable)
        v.cancel_button.setEnabled(busy and self._cancel is not None and not self._cancel.is_set())
        if busy:
            v.use_model_button.setEnabled(False)

    def _set_tab(self, state: str) -> None:
        tabs = self.window.tabs
        tabs.setTabText(tabs.indexOf(self.view), f"Train · {state}" if state else "Train")


# helpers (no Qt) ---------------------------------------------------------------------------------------------


def _scan(path: str) -> dict:
    """Runs on the pool: the samples the trainer would see, counted by label, method and kind."""
    from core.training.dataset import read_manifest, scan_folder

    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() == ".csv":
        samples, source = read_manifest(p), "CSV manifest"
    elif p.is_dir():
        samples, source = scan_folder(p), "folder"
    else:
        raise BadInputError("not a folder with real/ and fake/, nor a CSV manifest (.csv)", path=str(p))
    labels = Counter(s.label_name for s in samples)
    kinds = Counter(s.kind for s in samples)
    methods = Counter(s.method or "" for s in samples if s.label_name == "fake")
    return {"path": str(p), "source": source, "total": len(samples), "labels": dict(labels),
            "kinds": dict(kinds), "methods": dict(methods)}


def _data_summary(found: dict) -> str:
    real, fake = found["labels"].get("real", 0), found["labels"].get("fake", 0)
    kinds = found["kinds"]
    what = " and ".join(f"{kinds[k]:,} {word}" for k, word in (("image", "photos"), ("video", "videos")) if kinds.get(k))
    methods = sorted(found["methods"].items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [f"<b>{found['total']:,}</b> files in this {found['source']} ({what}): "
             f"<b>{real:,}</b> real · <b>{fake:,}</b> fake"]
    if methods and not (len(methods) == 1 and not methods[0][0]):
        lines.append("Fakes by method: " + " · ".join(f"{html.escape(m or 'unspecified')} {n:,}" for m, n in methods))
    if not real or not fake:
        lines.append(_problem_html("Training needs both real and fake samples."))
    return "<br>".join(lines)


def _read_state(run_dir: str) -> dict | None:
    if not run_dir:
        return None
    try:
        state = json.loads((Path(run_dir) / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "epoch" in state else None


def _card(run_dir: str) -> dict:
    try:
        return json.loads((Path(run_dir) / "model.json").read_text()).get("card", {})
    except (OSError, ValueError, AttributeError):
        return {}


def _spec_text(spec) -> str:
    """BackboneSpec as the text the trainer parses: ARCH@weights, ARCH:pretrained or ARCH."""
    if spec.weights:
        return f"{spec.arch}@{spec.weights}"
    if spec.pretrained:
        return f"{spec.arch}:{spec.pretrained}"
    return spec.arch


def _title(detector: str) -> str:
    return dict(DETECTOR_CHOICES).get(detector, detector)


def _problem_html(message: str) -> str:
    return f"<span style='color:{style.DANGER}'>{html.escape(message)}</span>"


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
