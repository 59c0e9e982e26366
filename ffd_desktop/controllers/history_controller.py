"""Case history: lists saved analyses from the case store, reopens one without recomputing, deletes on request.

The GUI thread keeps its own CaseStore connection (SQLite connections are per thread; the analysis worker has
its own). Listing reads only the small summary columns, so it stays instant however many cases there are.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from core.cases import CaseStore, CaseStoreDamagedError, CaseSummary, move_aside
from core.errors import FFDError
from ffd_desktop import presentation as P
from ffd_desktop.views.history_view import HistoryView
from ffd_desktop.views.main_window import MainWindow
from ffd_desktop.views.prompts import Prompts

LIST_LIMIT = 1000


class HistoryController(QObject):
    caseOpened = Signal(object, int)     # AnalysisResult, case id
    caseDeleted = Signal(int)

    def __init__(self, window: MainWindow, prompts: Prompts, case_store_path):
        super().__init__()
        self.window, self.view, self.prompts = window, window.history, prompts
        self.store: CaseStore | None = None
        self._open_store(case_store_path)
        view: HistoryView = self.view
        view.searchChanged.connect(lambda _: self.refresh())
        view.refreshRequested.connect(self.refresh)
        view.openRequested.connect(self.open_case)
        view.deleteRequested.connect(self.delete_case)
        self.refresh()

    def _open_store(self, path) -> None:
        """Open the case store. A damaged file must not stop the app: offer to move it aside (kept, renamed) and
        start a new store; otherwise the app runs without saving."""
        try:
            self.store = CaseStore(path)
            return
        except CaseStoreDamagedError as exc:
            problem = exc
        except FFDError as exc:
            self._cannot_open(exc)
            return
        question = (f"The case store cannot be opened: {path} is damaged ({problem.__cause__}).\n\n"
                    "Move the damaged file aside and start a new, empty case store? The damaged file is kept, "
                    f"renamed to {Path(path).name}.damaged-<date and time>, so its cases may still be recovered.\n\n"
                    "If you answer No, analyses still run but cannot be saved or listed.")
        if not self.prompts.confirm("Case store damaged", question):
            self._cannot_open(problem)
            return
        try:
            moved = move_aside(path)
            self.store = CaseStore(path)
        except FFDError as exc:
            self._cannot_open(exc)
            return
        self.window.banner.show_message("warning", "The damaged case store was moved aside to "
                                                   f"{html.escape(str(moved))}; a new case store was started.")

    def _cannot_open(self, exc: FFDError) -> None:
        self.window.banner.show_message("error", f"The case store cannot be opened: {html.escape(str(exc))}. "
                                                 "Analyses will still run but cannot be saved or listed.")

    def count(self) -> int:
        return self.store.count() if self.store is not None else 0

    @Slot()
    def refresh(self) -> None:
        if self.store is None:
            return
        try:
            cases = self.store.list(limit=LIST_LIMIT, search=self.view.search.text())
            total = self.store.count()
        except FFDError as exc:
            self.window.banner.show_message("error", f"The case list cannot be read: {html.escape(str(exc))}")
            return
        rows = [(c.id, _cells(c), P.VERDICT_COLOURS.get("altered" if c.altered else c.verdict)) for c in cases]
        shown = f"{len(cases)} of {total} saved analyses" if self.view.search.text().strip() else \
            f"{total} saved analys{'is' if total == 1 else 'es'}"
        self.view.set_rows(rows, shown)

    @Slot(int)
    def open_case(self, case_id: int) -> None:
        if self.store is None:
            return
        try:
            result = self.store.load(case_id)
        except FFDError as exc:
            self.window.banner.show_message("error", f"Case #{case_id} cannot be opened: {html.escape(str(exc))}")
            return
        self.caseOpened.emit(result, case_id)

    @Slot(int)
    def delete_case(self, case_id: int) -> None:
        if self.store is None:
            return
        try:
            summary = self.store.summary(case_id)
        except FFDError as exc:
            self.window.banner.show_message("error", html.escape(str(exc)))
            self.refresh()
            return
        question = (f"Delete case #{case_id} ({summary.file_name}, analysed {summary.analysed_at})?\n\n"
                    "The stored analysis and its images are removed from the case store. The evidence file itself "
                    "is not touched. This cannot be undone.")
        if not self.prompts.confirm("Delete saved analysis", question):
            return
        try:
            self.store.delete(case_id)
        except FFDError as exc:
            self.window.banner.show_message("error", f"Case #{case_id} not deleted: {html.escape(str(exc))}")
            return
        self.window.statusBar().showMessage(f"Deleted case #{case_id}", 8000)
        self.refresh()
        self.caseDeleted.emit(case_id)

    def summary(self, case_id: int) -> CaseSummary | None:
        if self.store is None or case_id < 0:
            return None
        try:
            return self.store.summary(case_id)
        except FFDError:
            return None

    def update_metadata(self, case_id: int, **fields) -> None:
        if self.store is not None and case_id >= 0:
            try:
                self.store.update_metadata(case_id, **fields)
            except FFDError as exc:
                self.window.banner.show_message("warning", f"Case details not saved: {html.escape(str(exc))}")
            self.refresh()

    def shutdown(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def _cells(c: CaseSummary) -> list[str]:
    def det(name: str) -> str:
        d = c.detectors.get(name)
        if d is None:
            return "–"
        score = f"{d.score:.3f}" if d.score is not None else "n/a"
        return f"{score} {'FAKE' if d.verdict == 'fake' else 'real' if d.verdict == 'real' else d.verdict}"

    saved = c.created_at.replace("T", " ")[:19]
    if c.altered:       # edited outside the app: its listed verdict and scores are not the analysis' own
        return [f"#{c.id}", saved, c.file_name, P.VERDICT_WORDS["altered"], "altered", "altered",
                c.case_number or "", c.examiner or "", c.sha256]
    return [f"#{c.id}", saved, c.file_name, P.VERDICT_WORDS.get(c.verdict, c.verdict), det("hamlet"), det("mfclip"),
            c.case_number or "", c.examiner or "", c.sha256]
