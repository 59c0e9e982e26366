"""The empty state: a large target for dropping evidence files, with the same choice as File > Open."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from ffd_desktop.views import style


def local_paths(mime: QMimeData) -> list[str]:
    """Local files carried by a drag (remote URLs are ignored: evidence is examined from disk)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropZone(QFrame):
    filesDropped = Signal(list)
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setObjectName("DropZone")
        self._set_highlight(False)
        title = QLabel("Drop a video or photo here")
        title.setStyleSheet("font-size: 18pt; font-weight: 600;")
        hint = QLabel("Each face in the file is checked by HAMLET-FFD and MFCLIP on this computer; nothing is "
                      "uploaded. Several files are analysed one after another.<br>Videos: mp4, mov, mkv, webm, avi. "
                      "Photos: jpg, png, bmp, webp, tiff.")
        hint.setObjectName("Muted")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        hint.setMinimumWidth(360)
        self.open_button = QPushButton("Open files…")
        self.open_button.setObjectName("Primary")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(60, 30, 60, 30)
        layout.addStretch(2)
        for w in (title, hint):
            layout.addWidget(w)
        layout.addSpacing(14)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(14)
        layout.addWidget(self.status)
        layout.addStretch(3)
        self.open_button.clicked.connect(self.openRequested)

    def _set_highlight(self, on: bool) -> None:
        edge = style.ACCENT if on else "#4a525d"
        self.setStyleSheet(f"QFrame#DropZone {{ border: 2px dashed {edge}; border-radius: 12px; "
                           f"background: {'#1f2a36' if on else style.PANEL}; margin: 24px; }}")

    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self._set_highlight(True)

    def dragLeaveEvent(self, event) -> None:
        self._set_highlight(False)

    def dropEvent(self, event) -> None:
        self._set_highlight(False)
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
