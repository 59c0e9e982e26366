"""Case history: every saved analysis, newest first, searchable; open or delete the selected one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Case", "Saved", "File", "Verdict", "HAMLET-FFD", "MFCLIP", "Case no.", "Examiner", "SHA-256")


class HistoryView(QWidget):
    openRequested = Signal(int)
    deleteRequested = Signal(int)
    searchChanged = Signal(str)
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file name, SHA-256, case number, examiner, notes…")
        self.search.setClearButtonEnabled(True)
        self.open_button = QPushButton("Open")
        self.open_button.setObjectName("Primary")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("Danger")
        self.refresh_button = QPushButton("Refresh")
        self.count_label = QLabel()
        self.count_label.setObjectName("Muted")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.open_button)
        bar.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self.search.textChanged.connect(self.searchChanged)
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.open_button.clicked.connect(lambda: self._emit_selected(self.openRequested))
        self.delete_button.clicked.connect(lambda: self._emit_selected(self.deleteRequested))
        self.table.cellDoubleClicked.connect(lambda row, _: self.openRequested.emit(self.case_id(row)))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def set_rows(self, rows: list[tuple[int, list[str], tuple[int, int, int] | None]], total_text: str) -> None:
        """rows: (case id, cell texts in COLUMNS order, verdict colour)."""
        self.table.setRowCount(len(rows))
        for r, (case_id, cells, colour) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, case_id)
                if c == 3 and colour is not None:
                    item.setForeground(QColor(*colour))
                if c == len(COLUMNS) - 1:
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.count_label.setText(total_text)
        self._update_buttons()

    def case_id(self, row: int) -> int:
        item = self.table.item(row, 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else -1

    def select_case(self, case_id: int) -> bool:
        for row in range(self.table.rowCount()):
            if self.case_id(row) == case_id:
                self.table.selectRow(row)
                return True
        return False

    def selected_case(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return self.case_id(rows[0].row()) if rows else -1

    def _emit_selected(self, signal) -> None:
        case_id = self.selected_case()
        if case_id >= 0:
            signal.emit(case_id)

    def _update_buttons(self) -> None:
        has = self.selected_case() >= 0
        self.open_button.setEnabled(has)
        self.delete_button.setEnabled(has)
