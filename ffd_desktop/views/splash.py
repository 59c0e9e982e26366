"""Start-up splash: shown while the engine's libraries load, before the main window exists."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

import core


def _picture() -> QPixmap:
    pixmap = QPixmap(460, 200)
    pixmap.fill(QColor(27, 30, 35))
    painter = QPainter(pixmap)
    painter.setPen(QColor(76, 157, 237))
    painter.drawRect(0, 0, 459, 199)
    font = QFont()
    font.setPointSize(20)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(228, 231, 235))
    painter.drawText(24, 70, "FFD Desktop")
    font.setPointSize(10)
    font.setBold(False)
    painter.setFont(font)
    painter.setPen(QColor(154, 163, 173))
    painter.drawText(24, 98, f"Face forgery detection · version {core.__version__}")
    painter.end()
    return pixmap


class Splash(QSplashScreen):
    def __init__(self):
        super().__init__(_picture())

    def message(self, text: str) -> None:
        self.showMessage(text, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, QColor(154, 163, 173))
        QApplication.processEvents()
