"""Per-face evidence: the crop (optionally with attention), HAMLET's similarity bars, MFCLIP's patch and noise."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from ffd_desktop.views import style
from ffd_desktop.views.common import ImagePane, Panel


class SimilarityBars(QWidget):
    """Horizontal bars for signed similarities (cosine, -1..1): zero in the middle, value printed at the end."""

    COLOURS = {"real": QColor(style.OK), "fake": QColor(style.DANGER), "context": QColor(style.ACCENT)}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._values: dict[str, float] = {}
        self._empty = "no data"
        self.setMinimumHeight(66)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_values(self, values: dict[str, float], empty: str = "no data") -> None:
        self._values = dict(values)
        self._empty = empty
        self.update()

    def values(self) -> dict[str, float]:
        return dict(self._values)

    def sizeHint(self) -> QSize:
        return QSize(220, 30 * max(3, len(self._values)))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self._values:
            painter.setPen(QColor(style.MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty)
            return
        label_w, value_w = 58, 58
        span = max(0.05, max(abs(v) for v in self._values.values()))   # scale to the largest, shown in numbers
        row_h = self.height() / len(self._values)
        bar_left, bar_right = label_w, self.width() - value_w
        mid = (bar_left + bar_right) / 2
        half = (bar_right - bar_left) / 2
        for n, (name, value) in enumerate(self._values.items()):
            top = n * row_h
            painter.setPen(QColor(style.TEXT))
            painter.drawText(QRectF(0, top, label_w - 6, row_h), Qt.AlignmentFlag.AlignVCenter, name.capitalize())
            track = QRectF(bar_left, top + row_h * 0.3, bar_right - bar_left, row_h * 0.4)
            painter.fillRect(track, QColor(style.BACKGROUND))
            length = half * min(abs(value) / span, 1.0)
            bar = QRectF(mid if value >= 0 else mid - length, track.top(), length, track.height())
            painter.fillRect(bar, self.COLOURS.get(name, QColor(style.MUTED)))
            painter.setPen(QColor(style.PANEL_EDGE))
            painter.drawLine(int(mid), int(track.top() - 2), int(mid), int(track.bottom() + 2))
            painter.setPen(QColor(style.TEXT))
            painter.drawText(QRectF(bar_right + 6, top, value_w - 6, row_h),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{value:+.3f}")


class FacePanel(Panel):
    """The selected face's crop (attention over it when the toggle is on) and what identifies it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Selected face", parent)
        self.crop = ImagePane(empty_text="no face selected", minimum=72)
        self.details = QLabel("–")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.body.addWidget(self.crop, 1)
        self.body.addWidget(self.details)


class HamletPanel(Panel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("HAMLET-FFD · authenticity similarities", parent)
        self.bars = SimilarityBars()
        self.score = QLabel("–")
        self.score.setWordWrap(True)
        self.note = QLabel("Cosine similarity of the face to the refined Real, Fake and Context prompts; "
                           "a forgery sits closer to Fake than to Real.")
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        self.body.addWidget(self.score)
        self.body.addWidget(self.bars, 1)
        self.body.addWidget(self.note)


class MfclipPanel(Panel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("MFCLIP · richest patch and noise", parent)
        self.crop = ImagePane("crop · patch", empty_text="no crop", minimum=64)
        self.patch = ImagePane("richest patch", empty_text="no patch", minimum=64)
        self.srm = ImagePane("SRM noise", empty_text="no SRM map", minimum=64, smooth=False)
        row = QHBoxLayout()
        row.setSpacing(6)
        for pane in (self.crop, self.patch, self.srm):
            row.addWidget(pane, 1)
        self.score = QLabel("–")
        self.score.setWordWrap(True)
        self.body.addWidget(self.score)
        self.body.addLayout(row, 1)
