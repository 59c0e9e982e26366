"""Settings: what to run (detectors, sampling rate, device) and which model (with its hashes)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ffd_desktop.presentation import title


class SettingsDialog(QDialog):
    def __init__(self, detectors: list[str], devices: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(760, 520)
        self.tabs = QTabWidget()

        analysis = QWidget()
        form = QFormLayout(analysis)
        self.detector_boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        for name in detectors:
            box = QCheckBox(title(name))
            self.detector_boxes[name] = box
            row.addWidget(box)
        row.addStretch(1)
        form.addRow("Detectors:", row)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.1, 60.0)
        self.fps.setDecimals(1)
        self.fps.setSingleStep(0.5)
        self.fps.setSuffix(" frames per second")
        form.addRow("Sampling rate:", self.fps)
        self.device = QComboBox()
        for d in devices:
            self.device.addItem(d, d)
        form.addRow("Device:", self.device)
        self.device_note = QLabel()
        self.device_note.setObjectName("Muted")
        form.addRow("", self.device_note)
        note = QLabel("More frames per second finds short manipulations but takes proportionally longer. "
                      "Changes apply to the next analysis.")
        note.setObjectName("Muted")
        note.setWordWrap(True)
        form.addRow("", note)
        self.tabs.addTab(analysis, "Analysis")

        models = QWidget()
        mlayout = QVBoxLayout(models)
        self.model_summary = QLabel()
        self.model_summary.setWordWrap(True)
        self.model_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mlayout.addWidget(self.model_summary)
        self.model_table = _table(("Component", "File", "SHA-256"))
        mlayout.addWidget(self.model_table, 2)
        weights_title = QLabel("Imported backbone weights")
        weights_title.setObjectName("PanelTitle")
        mlayout.addWidget(weights_title)
        self.weights_table = _table(("Architecture", "SHA-256", "File"))
        mlayout.addWidget(self.weights_table, 1)
        buttons = QHBoxLayout()
        self.use_model_button = QPushButton("Use model folder…")
        self.import_arch = QComboBox()
        self.import_arch.setToolTip("open_clip architecture the weights file belongs to")
        self.import_button = QPushButton("Import backbone weights…")
        buttons.addWidget(self.use_model_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Architecture:"))
        buttons.addWidget(self.import_arch)
        buttons.addWidget(self.import_button)
        mlayout.addLayout(buttons)
        self.models_status = QLabel()
        self.models_status.setWordWrap(True)
        self.models_status.setObjectName("Muted")
        mlayout.addWidget(self.models_status)
        self.tabs.addTab(models, "Models")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)

    def set_values(self, detectors: list[str], fps: float, device: str) -> None:
        for name, box in self.detector_boxes.items():
            box.setChecked(name in detectors)
        self.fps.setValue(fps)
        index = self.device.findData(device)
        self.device.setCurrentIndex(max(index, 0))

    def values(self) -> dict:
        return {"detectors": [n for n, b in self.detector_boxes.items() if b.isChecked()],
                "fps": float(self.fps.value()), "device": self.device.currentData()}

    def set_rows(self, table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
        table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(r, c, item)


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table
