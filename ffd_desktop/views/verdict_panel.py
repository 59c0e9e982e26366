"""Verdict column: the evidence's identity, each detector's verdict with per-identity scores and exact model
hashes, and the plain-language caution about what a score means."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ffd_desktop.views import style
from ffd_desktop.views.common import Panel


@dataclass
class DetectorCard:
    title: str
    verdict: str                                   # plain words
    colour: tuple[int, int, int]
    score_line: str                                # e.g. "video score 0.73 · threshold 0.50"
    identities: list[tuple[str, str, str]] = field(default_factory=list)   # (identity, score, frames)
    model: list[tuple[str, str, str]] = field(default_factory=list)        # (label, short value, full value)


class VerdictPanel(QScrollArea):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        self.column = QVBoxLayout(inner)
        self.column.setContentsMargins(0, 0, 4, 0)
        self.column.setSpacing(8)
        self.evidence = Panel("Evidence")
        self.evidence_grid = QGridLayout()
        self.evidence_grid.setHorizontalSpacing(10)
        self.evidence.body.addLayout(self.evidence_grid)
        self.cards_host = QVBoxLayout()
        self.cards_host.setSpacing(8)
        self.caution = Panel("What the scores mean")
        self.caution_text = QLabel()
        self.caution_text.setWordWrap(True)
        self.caution_text.setObjectName("Muted")
        self.caution.body.addWidget(self.caution_text)
        self.column.addLayout(self.cards_host)   # verdicts first, then what they mean, then the evidence details
        self.column.addWidget(self.caution)
        self.column.addWidget(self.evidence)
        self.column.addStretch(1)
        self.setWidget(inner)
        self.cards: list[Panel] = []
        self.verdict_labels: dict[str, QLabel] = {}

    def set_evidence(self, rows: list[tuple[str, str, str]]) -> None:
        """(label, shown value, tooltip) rows."""
        _clear(self.evidence_grid)
        for r, (label, value, tip) in enumerate(rows):
            key = QLabel(label)
            key.setObjectName("Muted")
            val = QLabel(value)
            val.setToolTip(tip)
            val.setWordWrap(True)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.evidence_grid.addWidget(key, r, 0, Qt.AlignmentFlag.AlignTop)
            self.evidence_grid.addWidget(val, r, 1)
        self.evidence_grid.setColumnStretch(1, 1)

    def set_cards(self, cards: list[DetectorCard], caution: str) -> None:
        for card in self.cards:
            card.deleteLater()
        self.cards, self.verdict_labels = [], {}
        for card in cards:
            panel = Panel(card.title)
            verdict = QLabel(card.verdict)
            verdict.setStyleSheet(f"font-size: 14pt; font-weight: 700; color: rgb{card.colour};")
            score = QLabel(card.score_line)
            panel.body.addWidget(verdict)
            panel.body.addWidget(score)
            if card.identities:
                grid = QGridLayout()
                grid.setHorizontalSpacing(14)
                for c, head in enumerate(("Identity", "Score", "Frames")):
                    h = QLabel(head)
                    h.setObjectName("Muted")
                    grid.addWidget(h, 0, c)
                for r, row in enumerate(card.identities, start=1):
                    for c, text in enumerate(row):
                        grid.addWidget(QLabel(text), r, c)
                panel.body.addLayout(grid)
            line = QFrame()
            line.setFrameShape(QFrame.Shape.HLine)
            line.setStyleSheet(f"color: {style.PANEL_EDGE};")
            panel.body.addWidget(line)
            model = QLabel("<br>".join(
                f"<span style='color:{style.MUTED}'>{html.escape(label)}</span> "
                f"<span style='font-family:monospace'>{html.escape(value)}</span>"
                for label, value, _ in card.model))
            model.setTextFormat(Qt.TextFormat.RichText)
            model.setToolTip("\n".join(f"{label}: {full}" for label, _, full in card.model))
            model.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            model.setWordWrap(True)
            panel.body.addWidget(model)
            self.cards_host.addWidget(panel)
            self.cards.append(panel)
            self.verdict_labels[card.title] = verdict
        self.caution_text.setText(caution)


def _clear(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            item.widget().deleteLater()
