"""Main window (layout only; the analysis views arrive with the desktop issue)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow

import core


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(f"FFD Desktop {core.__version__}")
        label = QLabel("Drop a video or photo here to check its faces for forgery.")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(label)
        self.resize(1100, 720)
