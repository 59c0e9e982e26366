"""Modal questions (file choosers, confirmations) behind one small interface, so tests can answer them."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

MEDIA_FILTER = ("Video or photo (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff);;"
                "All files (*)")


class Prompts:
    def __init__(self, parent: QWidget | None = None):
        self.parent = parent

    def open_files(self, folder: str) -> list[str]:
        files, _ = QFileDialog.getOpenFileNames(self.parent, "Open evidence", folder, MEDIA_FILTER)
        return files

    def open_file(self, title: str, folder: str, file_filter: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, folder, file_filter)
        return path

    def open_folder(self, title: str, folder: str) -> str:
        return QFileDialog.getExistingDirectory(self.parent, title, folder)

    def save_file(self, title: str, suggested: str, file_filter: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.parent, title, suggested, file_filter)
        return path

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.parent, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
