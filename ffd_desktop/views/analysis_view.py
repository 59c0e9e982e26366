"""The analysis page: header, frame viewer, timeline, per-face evidence row, and the verdict column."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ffd_desktop.views.evidence_panels import FacePanel, HamletPanel, MfclipPanel
from ffd_desktop.views.frame_view import FramePlayer
from ffd_desktop.views.timeline import TimelineView
from ffd_desktop.views.verdict_panel import VerdictPanel


class AnalysisView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("–")
        self.title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.verdict_chip = QLabel()
        self.subtitle = QLabel()
        self.subtitle.setObjectName("Muted")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #e0a526;")
        self.notice.hide()

        header = QHBoxLayout()
        header.setSpacing(12)
        header.addWidget(self.title)
        header.addWidget(self.verdict_chip)
        header.addWidget(self.subtitle, 1)

        self.player = FramePlayer()
        self.timeline = TimelineView()
        self.face = FacePanel()
        self.hamlet = HamletPanel()
        self.mfclip = MfclipPanel()
        self.verdict = VerdictPanel()

        evidence_row = QWidget()
        row = QHBoxLayout(evidence_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.face, 2)
        row.addWidget(self.hamlet, 3)
        row.addWidget(self.mfclip, 4)

        self.left = QSplitter(Qt.Orientation.Vertical)
        self.left.addWidget(self.player)
        self.left.addWidget(self.timeline)
        self.left.addWidget(evidence_row)
        self.left.setStretchFactor(0, 5)
        self.left.setStretchFactor(1, 2)
        self.left.setStretchFactor(2, 3)
        self.left.setSizes([470, 170, 230])
        self.left.setChildrenCollapsible(False)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.left)
        self.split.addWidget(self.verdict)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 0)
        self.split.setSizes([1000, 360])
        self.split.setChildrenCollapsible(False)
        self.verdict.setMinimumWidth(270)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.notice)
        layout.addWidget(self.split, 1)

    def set_verdict_chip(self, text: str, colour: tuple[int, int, int]) -> None:
        r, g, b = colour
        self.verdict_chip.setText(text)
        self.verdict_chip.setStyleSheet(f"background: rgb({r},{g},{b}); color: white; font-weight: 700; "
                                        "padding: 3px 10px; border-radius: 10px;")

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
