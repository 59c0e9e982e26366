"""Export report dialog: the case details printed on the PDF and where to save it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ExportDialog(QDialog):
    browseRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.resize(560, 360)
        self.case_number = QLineEdit()
        self.case_number.setPlaceholderText("e.g. 2024-117")
        self.examiner = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Context, chain-of-custody remarks, observations…")
        self.path = QLineEdit()
        self.browse = QPushButton("Browse…")
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Case number:", self.case_number)
        form.addRow("Examiner:", self.examiner)
        form.addRow("Notes:", self.notes)
        form.addRow("Save as:", where)
        hint = QLabel("The report lists the evidence hash, settings, model hashes, every detector's verdict, the "
                      "timeline, the most suspicious frames and the limits of what the scores mean.")
        hint.setWordWrap(True)
        hint.setObjectName("Muted")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.browse.clicked.connect(self.browseRequested)
        self.path.textChanged.connect(
            lambda text: self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(bool(text.strip())))

    def values(self) -> dict:
        return {"case_number": self.case_number.text().strip() or None,
                "examiner": self.examiner.text().strip() or None,
                "notes": self.notes.toPlainText().strip() or None,
                "path": self.path.text().strip()}
