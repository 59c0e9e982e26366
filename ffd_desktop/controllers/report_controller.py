"""File > Export report: ask for the case details, write the PDF with core.report off the GUI thread, and keep
the case number / examiner / notes with the stored case so the next export starts from them."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.errors import FFDError
from core.evidence import check_output_path
from ffd_desktop.controllers.history_controller import HistoryController
from ffd_desktop.settings import AppSettings, default_report_folder
from ffd_desktop.views.export_dialog import ExportDialog
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.views.prompts import Prompts
from ffd_desktop.workers import run_task


class ReportController(QObject):
    exported = Signal(str)
    exportFailed = Signal(str)

    def __init__(self, window: MainWindow, settings: AppSettings, prompts: Prompts, history: HistoryController):
        super().__init__()
        self.window, self.settings, self.prompts, self.history = window, settings, prompts, history
        self.dialog: ExportDialog | None = None

    def export(self, result, case_id: int) -> ExportDialog | None:
        """Open the (window-modal, non-blocking) dialog; the PDF is written when it is accepted."""
        if result is None:
            self.window.statusBar().showMessage("Nothing to export: analyse a file or open a saved case first", 8000)
            return None
        dialog = ExportDialog(self.window)
        summary = self.history.summary(case_id)
        dialog.case_number.setText((summary.case_number if summary else "") or "")
        dialog.examiner.setText((summary.examiner if summary else None) or self.settings.examiner)
        dialog.notes.setPlainText((summary.notes if summary else "") or "")
        dialog.path.setText(str(self.proposed_path(result)))
        dialog.browseRequested.connect(lambda: self._browse(dialog))
        dialog.accepted.connect(lambda: self._write(dialog.values(), result, case_id))
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog

    def proposed_path(self, result) -> Path:
        """<last report folder>/<evidence stem>_ffd_report.pdf, never in the evidence's own folder unasked."""
        evidence = Path(str(result.file.get("path") or "analysis"))
        folder = Path(self.settings.report_folder)
        if evidence.is_absolute() and folder.resolve() == evidence.parent.resolve():
            folder = Path(default_report_folder())
        return folder / f"{evidence.stem or 'analysis'}_ffd_report.pdf"

    def _browse(self, dialog: ExportDialog) -> None:
        path = self.prompts.save_file("Save report as", dialog.path.text(), "PDF report (*.pdf)")
        if path:
            dialog.path.setText(path if path.lower().endswith(".pdf") else path + ".pdf")

    def _write(self, values: dict, result, case_id: int) -> None:
        from core.report import write_report

        path = values.pop("path")
        evidence = result.file.get("path")
        try:
            check_output_path(path, inputs=[str(evidence)] if evidence else [])
        except FFDError as exc:
            self.window.banner.show_message("error", f"The report was not written: {html.escape(str(exc))}")
            self.exportFailed.emit(str(exc))
            return
        if values.get("examiner"):
            self.settings.examiner = values["examiner"]
        self.settings.report_folder = str(Path(path).parent)
        self.window.statusBar().showMessage(f"Writing report {Path(path).name}…")

        def done(written) -> None:
            self.window.statusBar().showMessage(f"Report saved: {written}", 15000)
            self.window.banner.show_message("info", f"Report saved to <b>{html.escape(str(written))}</b>")
            self.history.update_metadata(case_id, **values)
            self.exported.emit(str(written))

        def failed(message: str) -> None:
            self.window.statusBar().clearMessage()
            self.window.banner.show_message("error", f"The report could not be written: {html.escape(message)}")
            self.exportFailed.emit(message)

        run_task(lambda: write_report(result, path, **values), done, failed)
