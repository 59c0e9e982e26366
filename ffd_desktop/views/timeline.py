"""Per-frame fake-score timeline (pyqtgraph): one curve per detector and identity, threshold lines (named in a
key under the plot), a cursor.

Clicking anywhere on the plot asks to seek to that time; hovering shows the nearest frame's values in the readout.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from ffd_desktop.views import style

IDENTITY_STYLES = [Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine]
IDENTITY_SYMBOLS = ["o", "t", "s", "d", "+", "x"]


@dataclass
class Curve:
    name: str                       # legend text
    colour: tuple[int, int, int]
    identity_rank: int              # 0 for the first identity: picks the line style and symbol
    xs: list[float]
    ys: list[float]


class TimelineView(QFrame):
    seekRequested = Signal(float)   # time in seconds
    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget(background=style.PANEL)
        self.plot.setMinimumHeight(90)
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        item.getAxis("left").setWidth(44)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen(style.MUTED)
            item.getAxis(axis).setPen(style.PANEL_EDGE)
        self.view_box = item.getViewBox()
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.setYRange(0, 1, padding=0.04)
        self.legend = item.addLegend(offset=(-8, 4), labelTextColor=style.TEXT, brush=(27, 30, 35, 200),
                                     colCount=2)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(style.TEXT, width=1))
        self.cursor.setZValue(20)
        self.readout = QLabel("Hover to read the scores; click to jump to that frame.")
        self.readout.setObjectName("Muted")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.title = QLabel("FAKE SCORE PER SAMPLED FRAME  ·  TIME IN SECONDS")
        self.title.setObjectName("PanelTitle")
        # Threshold names and values sit in a key under the plot, not on it: two thresholds a few hundredths apart
        # put their labels on top of each other and of the curves, which start at the same left edge.
        self.threshold_key = QLabel()
        self.threshold_key.setObjectName("Muted")
        self.threshold_key.setTextFormat(Qt.TextFormat.RichText)
        self.threshold_key.setContentsMargins(44, 0, 0, 0)   # starts where the plot does, after the score axis
        self.curves: list[pg.PlotDataItem] = []
        self.thresholds: list[pg.InfiniteLine] = []
        self._points: list[tuple[float, str]] = []      # (x, text) per sampled frame, for the hover readout

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.threshold_key)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._moved)

    def set_data(self, curves: list[Curve], thresholds: list[tuple[str, float, tuple[int, int, int]]],
                 readouts: list[tuple[float, str]], duration: float | None) -> None:
        """Replace everything: curves, threshold lines (label, value, colour) and per-frame hover texts."""
        item = self.plot.getPlotItem()
        for c in self.curves:
            item.removeItem(c)
        for t in self.thresholds:
            item.removeItem(t)
        self.legend.clear()
        self.curves, self.thresholds = [], []
        for c in curves:
            pen = pg.mkPen(c.colour, width=2, style=IDENTITY_STYLES[c.identity_rank % len(IDENTITY_STYLES)])
            curve = self.plot.plot(c.xs, c.ys, pen=pen, name=c.name,
                                   symbol=IDENTITY_SYMBOLS[c.identity_rank % len(IDENTITY_SYMBOLS)],
                                   symbolSize=6, symbolBrush=c.colour, symbolPen=None)
            self.curves.append(curve)
        for _label, value, colour in thresholds:
            line = pg.InfiniteLine(pos=value, angle=0, movable=False,
                                   pen=pg.mkPen(colour, width=1.2, style=Qt.PenStyle.DashLine))
            self.plot.addItem(line)
            self.thresholds.append(line)
        self.threshold_key.setText("&nbsp;&nbsp;".join(
            f"<span style='color:{pg.mkColor(colour).name()}'>– – {html.escape(label)}</span>"
            for label, _value, colour in thresholds))
        if self.cursor.scene() is None:
            self.plot.addItem(self.cursor, ignoreBounds=True)
        self._points = sorted(readouts)
        xs = [x for c in curves for x in c.xs]
        right = max([duration or 0.0, *xs, 1.0])
        self.view_box.setLimits(xMin=-0.5, xMax=right + 0.5, yMin=-0.05, yMax=1.05)
        self.view_box.setXRange(0, right, padding=0.02)
        self.view_box.setYRange(0, 1, padding=0.04)

    def set_cursor(self, x: float) -> None:
        self.cursor.setValue(x)

    def scene_pos_for(self, x: float, y: float = 0.5) -> QPointF:
        """Scene position of a data point (tests click there)."""
        return self.view_box.mapViewToScene(QPointF(x, y))

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        if self.view_box.sceneBoundingRect().contains(pos):
            self.seekRequested.emit(self.view_box.mapSceneToView(pos).x())

    def _moved(self, pos) -> None:
        if not self._points or not self.view_box.sceneBoundingRect().contains(pos):
            return
        x = self.view_box.mapSceneToView(pos).x()
        _, text = min(self._points, key=lambda p: abs(p[0] - x))
        self.readout.setText(text)
        self.plot.setToolTip(text)
        QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(pos)), text, self.plot)
        self.hovered.emit(text)
