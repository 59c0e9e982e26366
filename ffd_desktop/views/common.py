"""Small building blocks shared by the views: a titled panel, an image pane that scales with its space, a label that
elides."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget


class Panel(QFrame):
    """A rounded, titled card; `body` is the layout to fill."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(10, 8, 10, 10)
        self.body.setSpacing(6)
        self.title = QLabel(title.upper())
        self.title.setObjectName("PanelTitle")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # may clip when narrow
        self.title.setToolTip(title)
        self.body.addWidget(self.title)


class ElidedLabel(QLabel):
    """One line that shows as much of its text as fits and ends in "…" (`text()` stays whole). Why: a plain
    label in a toolbar is cut off mid-word, or pushed into the overflow menu, and a cut name reads as another
    name; callers put the whole text in the tooltip."""

    def __init__(self, text: str = "", max_width: int = 520, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setMaximumWidth(max_width)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(min(80, super().minimumSizeHint().width()), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(min(hint.width(), self.maximumWidth()), hint.height())

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), self.shown_text(), self.foregroundRole())


class ImagePane(QWidget):
    """Shows a pixmap scaled to fit (aspect kept), with a caption; `pixmap()` is the full-resolution source."""

    def __init__(self, caption: str = "", empty_text: str = "no image", minimum: int = 96,
                 smooth: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._empty_text = empty_text
        self._smooth = smooth
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addStretch(1)
        self.caption = QLabel(caption)
        self.caption.setObjectName("Muted")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setVisible(bool(caption))
        layout.addWidget(self.caption)

    def set_pixmap(self, pixmap: QPixmap | None, empty_text: str | None = None) -> None:
        self._pixmap = pixmap if pixmap is not None else QPixmap()
        if empty_text is not None:
            self._empty_text = empty_text
        self.update()

    def pixmap(self) -> QPixmap:
        return self._pixmap

    def sizeHint(self) -> QSize:
        return QSize(160, 160)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        area = self.rect().adjusted(0, 0, 0, -(self.caption.height() + 4 if self.caption.isVisible() else 0))
        painter.fillRect(area, Qt.GlobalColor.black)
        if self._pixmap.isNull():
            painter.setPen(Qt.GlobalColor.gray)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)
            return
        mode = Qt.TransformationMode.SmoothTransformation if self._smooth else Qt.TransformationMode.FastTransformation
        scaled = self._pixmap.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio, mode)
        x = area.x() + (area.width() - scaled.width()) // 2
        y = area.y() + (area.height() - scaled.height()) // 2
        painter.drawPixmap(x, y, scaled)
