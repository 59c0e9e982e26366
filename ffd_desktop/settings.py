"""Persistent user preferences (QSettings, organisation "FFD", application "FFD Desktop").

INI format on every platform, so a test can point QSettings.setPath(IniFormat, UserScope, tmp) at a private folder
and an examiner can read or copy the file. Values come back from INI as strings, hence the explicit conversions.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

ORGANISATION = "FFD"
APPLICATION = "FFD Desktop"
DETECTORS = ("hamlet", "mfclip")
DEVICES = ("auto", "cpu", "cuda", "mps")


def default_report_folder() -> str:
    """"FFD Reports" in the user's documents: reports are not proposed beside the evidence, which invites
    writing onto it (the folder is created when the first report is written)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return str(Path(documents or Path.home()) / "FFD Reports")


class AppSettings:
    def __init__(self, store: QSettings | None = None):
        self.store = store or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                        ORGANISATION, APPLICATION)

    # analysis ------------------------------------------------------------------------------------------------

    @property
    def detectors(self) -> list[str]:
        value = self.store.value("analysis/detectors", list(DETECTORS))
        names = [value] if isinstance(value, str) else list(value or [])
        names = [n for n in names if n in DETECTORS]
        return names or list(DETECTORS)

    @detectors.setter
    def detectors(self, names: list[str]) -> None:
        self.store.setValue("analysis/detectors", list(names))

    @property
    def fps(self) -> float:
        try:
            value = float(self.store.value("analysis/fps", 1.0))
        except (TypeError, ValueError):
            return 1.0
        return value if value > 0 else 1.0

    @fps.setter
    def fps(self, value: float) -> None:
        self.store.setValue("analysis/fps", float(value))

    @property
    def device(self) -> str:
        value = str(self.store.value("analysis/device", "auto"))
        return value if value in DEVICES or value.startswith("cuda:") else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("analysis/device", value)

    def analysis_options(self) -> dict:
        """Plain values the worker turns into core.engine.AnalysisSettings (the GUI thread never imports torch)."""
        return {"detectors": self.detectors, "fps": self.fps, "device": self.device}

    # places and people --------------------------------------------------------------------------------------

    @property
    def last_folder(self) -> str:
        folder = str(self.store.value("ui/last_folder", "") or "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("ui/last_folder", str(folder))

    @property
    def report_folder(self) -> str:
        """Where the last report was saved, else default_report_folder()."""
        folder = str(self.store.value("report/folder", "") or "")
        return folder if folder and Path(folder).is_dir() else default_report_folder()

    @report_folder.setter
    def report_folder(self, folder: str) -> None:
        self.store.setValue("report/folder", str(folder))

    @property
    def examiner(self) -> str:
        return str(self.store.value("report/examiner", "") or "")

    @examiner.setter
    def examiner(self, name: str) -> None:
        self.store.setValue("report/examiner", name)

    # window --------------------------------------------------------------------------------------------------

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()
