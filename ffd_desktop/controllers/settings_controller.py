"""Settings dialog logic: analysis options to QSettings, the model in use with its hashes, weights import.

Anything that touches torch/open_clip or hashes large files (architecture list, imported weights, checkpoint
hashes, the import itself) runs on the thread pool; the dialog fills in when the answers arrive.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ffd_desktop.modelpath import ModelChoice
from ffd_desktop.settings import DETECTORS, DEVICES, AppSettings
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.views.prompts import Prompts
from ffd_desktop.views.settings_dialog import SettingsDialog
from ffd_desktop.workers import run_task

WEIGHTS_FILTER = "Weights (*.safetensors *.pt *.pth *.bin);;All files (*)"


class SettingsController(QObject):
    modelFolderChosen = Signal(str)
    modelInfoReady = Signal()
    weightsImported = Signal(dict)
    importFailed = Signal(str)

    def __init__(self, window: MainWindow, settings: AppSettings, prompts: Prompts, model):
        super().__init__()
        self.window, self.settings, self.prompts, self.model = window, settings, prompts, model
        self.dialog: SettingsDialog | None = None

    def open(self) -> SettingsDialog:
        dialog = SettingsDialog(list(DETECTORS), list(DEVICES), self.window)
        dialog.set_values(self.settings.detectors, self.settings.fps, self.settings.device)
        dialog.use_model_button.clicked.connect(self.choose_model_folder)
        dialog.import_button.clicked.connect(self.choose_weights)
        dialog.accepted.connect(lambda: self._apply(dialog.values()))
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        self._show_model(self.model())
        dialog.models_status.setText("Reading model details…")
        dialog.open()
        return dialog

    def _closed(self, _code: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    def _apply(self, values: dict) -> None:
        if not values["detectors"]:
            self.window.banner.show_message("warning", "No detector was selected; the previous choice was kept.")
            values["detectors"] = self.settings.detectors
        self.settings.detectors = values["detectors"]
        self.settings.fps = values["fps"]
        self.settings.device = values["device"]
        self.settings.sync()
        self.window.statusBar().showMessage("Settings saved; they apply to the next analysis", 8000)

    # model information ---------------------------------------------------------------------------------------

    def _show_model(self, choice: ModelChoice) -> None:
        dialog = self.dialog
        if dialog is None:
            return
        from core.models import default_model_dir

        default = default_model_dir()
        default_line = (f"Default model (used when none is named): {html.escape(str(default))}" if default
                        else "Default model: none installed — “Use model folder…” makes one the default.")
        if choice.usable:
            b = choice.bundle
            dialog.model_summary.setText(
                f"In use: <b>{html.escape(b.name)}</b> — {html.escape(str(choice.path))} (from {choice.source})<br>"
                f"Backbone {html.escape(b.backbone.arch)}; detectors: "
                + ", ".join(f"{n} (threshold {b.threshold(n):.2f})" for n in b.detectors) + f"<br>{default_line}")
        else:
            dialog.model_summary.setText(html.escape(choice.problem or "No model.") + f"<br>{default_line}")
        run_task(lambda: _model_details(choice), self._fill_details, self._details_failed)

    def _fill_details(self, details: dict) -> None:
        if self.dialog is None:
            return
        self.dialog.set_rows(self.dialog.model_table, details["model"])
        self.dialog.set_rows(self.dialog.weights_table, details["weights"])
        combo = self.dialog.import_arch
        current = combo.currentText()
        combo.clear()
        combo.addItems(details["archs"])
        combo.setCurrentText(current or details["default_arch"])
        self.dialog.models_status.setText(details["note"])
        self.dialog.device_note.setText(details["devices"])
        self.modelInfoReady.emit()

    def _details_failed(self, message: str) -> None:
        if self.dialog is not None:
            self.dialog.models_status.setText(f"Model details unavailable: {message}")
        self.modelInfoReady.emit()

    # actions -------------------------------------------------------------------------------------------------

    def choose_model_folder(self) -> None:
        folder = self.prompts.open_folder("Choose a model folder (it contains model.json)", self.settings.last_folder)
        if not folder:
            return
        from core.errors import FFDError
        from core.models import set_default_model

        try:
            set_default_model(folder)
        except FFDError as exc:
            self.window.banner.show_message("error", f"That folder is not a usable model: {html.escape(str(exc))}")
            return
        self.modelFolderChosen.emit(folder)
        self._show_model(self.model())

    def choose_weights(self) -> None:
        if self.dialog is None:
            return
        arch = self.dialog.import_arch.currentText().strip()
        if not arch:
            self.dialog.models_status.setText("Choose the architecture the weights belong to first.")
            return
        path = self.prompts.open_file(f"Import {arch} backbone weights", self.settings.last_folder, WEIGHTS_FILTER)
        if path:
            self.import_weights(path, arch)

    def import_weights(self, path: str, arch: str) -> None:
        if self.dialog is not None:
            self.dialog.models_status.setText(f"Verifying and importing {Path(path).name} as {arch}…")
        run_task(lambda: _import(path, arch), self._imported, self._import_failed)

    def _imported(self, entry: dict) -> None:
        self.window.statusBar().showMessage(f"Imported {entry['arch']} weights {entry['sha256'][:16]}", 10000)
        if self.dialog is not None:
            self._show_model(self.model())
        self.weightsImported.emit(entry)

    def _import_failed(self, message: str) -> None:
        if self.dialog is not None:
            self.dialog.models_status.setText(f"Import failed: {message}")
        self.window.banner.show_message("error", f"The weights could not be imported: {html.escape(message)}")
        self.importFailed.emit(message)


def _model_details(choice: ModelChoice) -> dict:
    """Runs on the pool: hashes and lists that need torch/open_clip or read large files."""
    from core.backbones import list_architectures
    from core.backbones.weights import imported_weights
    from core.digest import cached_sha256

    rows = []
    if choice.usable:
        b = choice.bundle
        weights = b.backbone.weights
        if weights and Path(weights).is_file():
            rows.append(("Backbone weights", str(weights), cached_sha256(str(weights))))
        else:
            rows.append(("Backbone weights", f"{b.backbone.arch}:{b.backbone.pretrained or '?'}",
                         b.backbone.sha256 or "(recorded when first loaded)"))
        for name in b.detectors:
            path = b.checkpoint(name)
            rows.append((f"{name} checkpoint", str(path), cached_sha256(str(path)) if path.is_file() else "missing"))
    weights_rows = [(e["arch"], e["sha256"], e["file"]) for e in imported_weights()]
    archs = list_architectures()
    note = ("Weights are verified against the architecture (strict load) before they are stored; their SHA-256 is "
            "recorded in every result and report.")
    import torch

    found = ["CPU"] + (["CUDA: " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))]
                       if torch.cuda.is_available() else []) + (["Apple MPS"] if torch.backends.mps.is_available() else [])
    devices = f"auto picks CUDA, then Apple MPS, then the CPU. Available here: {'; '.join(found)}."
    return {"model": rows, "weights": weights_rows, "archs": archs, "devices": devices,
            "default_arch": choice.bundle.backbone.arch if choice.usable else "ViT-L-14", "note": note}


def _import(path: str, arch: str) -> dict:
    """The `ffd models import` logic: load to verify it fits the architecture, then store and hash it."""
    from core.backbones import BackboneSpec, load_backbone
    from core.backbones.weights import load_state_dict, store_imported

    load_backbone(BackboneSpec(arch=arch, weights=str(path)))
    return store_imported(load_state_dict(Path(path)), arch, source=str(Path(path).resolve()))
