"""A message strip under the toolbar: errors and missing-model advice stay visible until dismissed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

COLOURS = {"error": ("#3a1d1f", "#e05252"), "warning": ("#3a301a", "#e0a526"), "info": ("#1b2c3d", "#4c9ded")}


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)   # callers escape what they did not write
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button)
        self.close_button.clicked.connect(self.dismiss)
        self.hide()

    def show_message(self, kind: str, text: str) -> None:
        background, edge = COLOURS.get(kind, COLOURS["info"])
        self.kind = kind
        self.setStyleSheet(f"Banner {{ background: {background}; border-left: 4px solid {edge}; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.kind = ""
        self.hide()
