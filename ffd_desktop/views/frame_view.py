"""Frame viewer: the frame with its face boxes coloured by score, and the transport bar under it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


@dataclass
class BoxItem:
    rect: tuple[float, float, float, float]     # x0, y0, x1, y1 in image pixels
    colour: tuple[int, int, int]
    label: str
    selected: bool = False


class FrameCanvas(QWidget):
    """Paints the frame scaled to fit and the boxes over it; a click on a box selects that face."""

    faceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image = QImage()
        self._boxes: list[BoxItem] = []
        self._caption = ""
        self._empty = "No frame"
        self.setMinimumSize(240, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def set_frame(self, image: QImage, boxes: list[BoxItem], caption: str = "") -> None:
        self._image, self._boxes, self._caption = image, boxes, caption
        self.update()

    def clear(self, text: str = "No frame") -> None:
        self._image, self._boxes, self._caption, self._empty = QImage(), [], "", text
        self.update()

    def image(self) -> QImage:
        """The image currently shown (with the attention overlay when it is on), before scaling to the widget."""
        return self._image

    def caption(self) -> str:
        return self._caption

    def boxes(self) -> list[BoxItem]:
        return list(self._boxes)

    def _geometry(self) -> tuple[float, QPointF]:
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        return scale, QPointF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2)

    def box_rect(self, n: int) -> QRectF:
        """Widget coordinates of box n (tests click there)."""
        scale, origin = self._geometry()
        x0, y0, x1, y1 = self._boxes[n].rect
        return QRectF(origin.x() + x0 * scale, origin.y() + y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(8, 9, 11))
        if self._image.isNull():
            painter.setPen(QColor(120, 126, 134))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scale, origin = self._geometry()
        target = QRectF(origin.x(), origin.y(), self._image.width() * scale, self._image.height() * scale)
        painter.drawImage(target, self._image)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        font.setBold(True)
        painter.setFont(font)
        for n, box in enumerate(self._boxes):
            rect = self.box_rect(n)
            colour = QColor(*box.colour)
            painter.setPen(QPen(colour, 3.0 if box.selected else 1.8,
                                Qt.PenStyle.SolidLine if box.selected else Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            tag = painter.fontMetrics().boundingRect(box.label).adjusted(-4, -2, 4, 2)
            tag.moveBottomLeft(rect.topLeft().toPoint())
            painter.fillRect(tag, colour)
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, box.label)
        if self._caption:
            painter.setPen(QColor(230, 232, 235))
            metrics = painter.fontMetrics()
            strip = metrics.boundingRect(self._caption).adjusted(-6, -3, 6, 3)
            strip.moveTopLeft(target.topLeft().toPoint() + QPointF(6, 6).toPoint())
            painter.fillRect(strip, QColor(0, 0, 0, 170))
            painter.drawText(strip, Qt.AlignmentFlag.AlignCenter, self._caption)

    def mousePressEvent(self, event) -> None:
        if self._image.isNull():
            return
        hits = [n for n in range(len(self._boxes)) if self.box_rect(n).contains(event.position())]
        if hits:
            smallest = min(hits, key=lambda n: self.box_rect(n).width() * self.box_rect(n).height())
            self.faceClicked.emit(smallest)


class FramePlayer(QWidget):
    """Canvas + transport: step, play/pause, scrub slider, position label, box colouring and attention toggle."""

    positionChanged = Signal(int)
    playClicked = Signal()
    stepClicked = Signal(int)
    colourByChanged = Signal(str)
    attentionToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = FrameCanvas()
        self.prev_button = self._tool("Previous sampled frame (Left)", "prev")
        self.play_button = self._tool("Play / pause over the sampled frames (Space)", "play")
        self.next_button = self._tool("Next sampled frame (Right)", "next")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.position_label = QLabel("–")
        self.position_label.setObjectName("Mono")
        self.position_label.setMinimumWidth(150)
        self.colour_by = QComboBox()
        self.colour_by.setToolTip("Which detector's score colours the face boxes (green: low, red: high)")
        self.attention_button = QToolButton()
        self.attention_button.setText("Attention")
        self.attention_button.setToolTip("Overlay the detector's attention heatmap on the frame and on the face crop")
        self.attention_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.attention_button.setCheckable(True)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 4, 0, 0)
        for w in (self.prev_button, self.play_button, self.next_button):
            bar.addWidget(w)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.position_label)
        bar.addSpacing(8)
        colour_label = QLabel("Boxes:")
        colour_label.setObjectName("Muted")
        bar.addWidget(colour_label)
        bar.addWidget(self.colour_by)
        bar.addWidget(self.attention_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bar)

        self.slider.valueChanged.connect(self.positionChanged)
        self.play_button.clicked.connect(self.playClicked)
        self.prev_button.clicked.connect(lambda: self.stepClicked.emit(-1))
        self.next_button.clicked.connect(lambda: self.stepClicked.emit(1))
        self.colour_by.currentIndexChanged.connect(
            lambda _: self.colourByChanged.emit(self.colour_by.currentData() or ""))
        self.attention_button.toggled.connect(self.attentionToggled)

    @staticmethod
    def _tool(tip: str, glyph: str) -> QToolButton:
        button = QToolButton()
        button.setIcon(transport_icon(glyph))
        button.setIconSize(QSize(16, 16))
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # Space/arrows stay with the window shortcuts
        return button

    def set_playing(self, playing: bool) -> None:
        self.play_button.setIcon(transport_icon("pause" if playing else "play"))


def transport_icon(glyph: str, colour: str = "#dfe3e8") -> QIcon:
    """Crisp, theme-coloured play/pause/step glyphs (the style's media icons are too dark on this theme)."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(colour))

    def triangle(x0: float, x1: float) -> None:
        p.drawPolygon(QPolygonF([QPointF(x0, 6), QPointF(x1, 16), QPointF(x0, 26)]))

    if glyph == "play":
        triangle(9, 26)
    elif glyph == "pause":
        p.drawRect(QRectF(8, 6, 6, 20))
        p.drawRect(QRectF(18, 6, 6, 20))
    elif glyph == "next":
        triangle(6, 22)
        p.drawRect(QRectF(22, 6, 4, 20))
    elif glyph == "prev":
        p.drawPolygon(QPolygonF([QPointF(26, 6), QPointF(10, 16), QPointF(26, 26)]))
        p.drawRect(QRectF(6, 6, 4, 20))
    p.end()
    return QIcon(pixmap)
