"""The Train page: data, run folder, detector and hyperparameters on the left; progress, learning curves (pyqtgraph)
and the test-split results on the right. Layout only: TrainController fills it and reacts to it."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ffd_desktop.views import style
from ffd_desktop.views.common import ImagePane, Panel

METRIC_COLUMNS = ("Level", "AUC", "AP", "EER", "Accuracy", "Threshold", "Samples")
FORM_WIDTH = 440
LABEL_WIDTH = 122          # one label column for both forms, so their fields line up


class TrainView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        form_column = self._make_form()
        right = QVBoxLayout()
        right.setSpacing(8)
        right.addWidget(self._make_progress())
        right.addWidget(self._make_curves(), 5)
        right.addWidget(self._make_results(), 4)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(10)
        layout.addWidget(form_column)
        layout.addLayout(right, 1)

    # left column ---------------------------------------------------------------------------------------------

    def _make_form(self) -> QWidget:
        data = Panel("Training data")
        self.data_path = QLineEdit()
        self.data_path.setPlaceholderText("Folder with real/ and fake/, or a CSV manifest")
        self.data_folder_button = QPushButton("Folder…")
        self.data_folder_button.setToolTip("A folder with real/ and fake/ (fakes optionally in fake/<method>/)")
        self.data_csv_button = QPushButton("CSV…")
        self.data_csv_button.setToolTip("A CSV manifest with path and label columns (optional: method, identity, "
                                        "group)")
        data.body.addLayout(_row(self.data_path, self.data_folder_button, self.data_csv_button))
        self.data_summary = _note("Choose the labelled media to learn from.")
        self.data_summary.setTextFormat(Qt.TextFormat.RichText)   # the controller escapes what it did not write
        data.body.addWidget(self.data_summary)

        run = Panel("Run folder")
        self.run_path = QLineEdit()
        self.run_path.setPlaceholderText("Where checkpoints, curves and the trained model go")
        self.run_button = QPushButton("Choose…")
        run.body.addLayout(_row(self.run_path, self.run_button))
        self.run_note = _note("")
        run.body.addWidget(self.run_note)

        model = Panel("Model")
        mform = _form()
        self.detector = QComboBox()
        mform.addRow(_label("Detector:"), self.detector)
        self.detector_note = _note("")
        mform.addRow(_label(""), self.detector_note)
        self.backbone = QLineEdit()
        self.backbone.setPlaceholderText("the default model's backbone")
        self.backbone.setToolTip("open_clip backbone: ARCH:pretrained-tag (e.g. ViT-L-14:openai), "
                                 "ARCH@weights.safetensors, or an architecture with imported weights")
        mform.addRow(_label("Backbone:"), self.backbone)
        self.random_backbone = QCheckBox("Allow random init (from scratch)")
        self.random_backbone.setToolTip("Only for research from scratch: without pretrained weights the scores "
                                        "mean little until the backbone is trained")
        mform.addRow(_label(""), self.random_backbone)
        model.body.addLayout(mform)

        training = Panel("Training")
        tform = _form()
        self.epochs = _spin(1, 1000, 10)
        tform.addRow(_label("Epochs:"), self.epochs)
        self.batch_size = _spin(1, 4096, 32)
        tform.addRow(_label("Batch size:"), self.batch_size)
        self.sbi_copies = _spin(0, 16, 0, special="none")
        self.sbi_copies.setSuffix(" per real face")
        self.sbi_copies.setToolTip("Self-blended images: pseudo-fakes made from each real face, which teach the "
                                   "detector blending traces shared by many forgery methods")
        tform.addRow(_label("SBI pseudo-fakes:"), self.sbi_copies)
        self.patience = _spin(1, 1000, 3)
        self.patience.setPrefix("after ")
        self.patience.setSuffix(" epochs without gain")
        self.patience.setToolTip("Stop early when the validation AUC has not improved for this many epochs")
        tform.addRow(_label("Early stop:"), self.patience)
        self.max_files = _spin(0, 10_000_000, 0, special="all")
        self.max_files.setToolTip("Use at most this many files of each label (real, fake), for a quick trial run")
        tform.addRow(_label("Files per label:"), self.max_files)
        self.aligned = QCheckBox("Faces are already aligned crops")
        self.aligned.setToolTip("Skip face detection: every image is used as one face crop")
        tform.addRow(_label(""), self.aligned)
        training.body.addLayout(tform)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("Primary")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the run in the run folder from its last completed epoch")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("Danger")
        self.cancel_button.setToolTip("Stop after the current step; the last completed epoch stays saved")
        buttons = _row(self.start_button, self.resume_button, self.cancel_button)
        buttons.insertStretch(0, 1)

        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 4, 0)
        column.setSpacing(8)
        for panel in (data, run, model, training):
            column.addWidget(panel)
        column.addLayout(buttons)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setFixedWidth(FORM_WIDTH)
        return scroll

    # right column --------------------------------------------------------------------------------------------

    def _make_progress(self) -> Panel:
        panel = Panel("Progress")
        self.stage_label = QLabel("Not started")
        self.stage_label.setStyleSheet("font-weight: 600;")
        self.eta_label = QLabel()
        self.eta_label.setObjectName("Muted")
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.detail_label = _note("")
        header = QHBoxLayout()
        header.addWidget(self.stage_label, 1)
        header.addWidget(self.eta_label)
        panel.body.addLayout(header)
        panel.body.addWidget(self.progress)
        panel.body.addWidget(self.detail_label)
        return panel

    def _make_curves(self) -> Panel:
        panel = Panel("Learning curves")
        self.loss_title = _title("Training loss per step · smoothed")
        self.auc_title = _title("Validation AUC per epoch")
        self.loss_plot, self.loss_curve = _plot(style.ACCENT, symbol=None)
        self.loss_raw_curve = self.loss_plot.plot([], [], pen=pg.mkPen((76, 157, 237, 70), width=1))  # each batch
        self.loss_raw_curve.setZValue(-1)
        self.loss_raw_curve.setClipToView(True)
        self.loss_raw_curve.setDownsampling(auto=True, method="peak")
        self.auc_plot, self.auc_curve = _plot(style.OK, symbol="o")
        auc_item = self.auc_plot.getPlotItem()
        auc_item.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        self.auc_plot.getViewBox().setYRange(0, 1, padding=0.04)
        chance = pg.InfiniteLine(pos=0.5, angle=0, movable=False,
                                 pen=pg.mkPen(style.MUTED, width=1, style=Qt.PenStyle.DashLine),
                                 label="chance", labelOpts={"position": 0.98, "color": style.MUTED,
                                                            "anchors": [(1, 0), (1, 0)]})
        self.auc_plot.addItem(chance, ignoreBounds=True)
        self.loss_plot.getPlotItem().setLabel("bottom", "epoch", color=style.MUTED)
        auc_item.setLabel("bottom", "epoch", color=style.MUTED)
        row = QHBoxLayout()
        row.setSpacing(12)
        for title, plot in ((self.loss_title, self.loss_plot), (self.auc_title, self.auc_plot)):
            box = QVBoxLayout()
            box.setSpacing(2)
            box.addWidget(title)
            box.addWidget(plot, 1)
            row.addLayout(box, 1)
        panel.body.addLayout(row, 1)
        return panel

    def _make_results(self) -> Panel:
        panel = Panel("Results on the test split")
        self.results_note = _note("The test-split metrics of the best epoch appear here when a run finishes.")
        self.results_note.setTextFormat(Qt.TextFormat.RichText)
        self.results_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_table = QTableWidget(0, len(METRIC_COLUMNS))
        self.metrics_table.setHorizontalHeaderLabels(METRIC_COLUMNS)
        self.metrics_table.verticalHeader().hide()
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.metrics_table.setShowGrid(False)
        self.metrics_table.setAlternatingRowColors(True)
        header = self.metrics_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        rows = 4   # header, frame, video, SBI
        self.metrics_table.setFixedHeight(rows * self.metrics_table.verticalHeader().defaultSectionSize() + 6)
        self.metrics_help = _note(
            "AUC: how well scores rank fakes above reals (1 perfect, 0.5 chance). AP: average precision. EER: the "
            "error rate where missed fakes equal false alarms. Accuracy at the verdict threshold. Frame: every "
            "face crop; video / photo: the mean score per file. Measured on the test split, which training never "
            "saw.")
        self.roc = ImagePane("ROC curve, test split", empty_text="no ROC curve yet", minimum=150)
        self.roc.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.roc.setFixedWidth(250)

        self.use_model_button = QPushButton("Use this model")
        self.use_model_button.setObjectName("Primary")
        self.use_model_button.setToolTip("Make this run the model of the analysis view (and the default model)")
        self.next_stage_button = QPushButton("Train a detector on this backbone")
        self.next_stage_button.setToolTip("Prefill the backbone field with the trained backbone of this run")
        self.open_folder_button = QPushButton("Open run folder")
        buttons = _row(self.use_model_button, self.next_stage_button, self.open_folder_button)
        buttons.addStretch(1)

        left = QVBoxLayout()
        left.setSpacing(6)
        left.addWidget(self.results_note)
        left.addWidget(self.metrics_table)
        left.addWidget(self.metrics_help)
        left.addStretch(1)
        left.addLayout(buttons)
        row = QHBoxLayout()
        row.setSpacing(12)
        row.addLayout(left, 1)
        row.addWidget(self.roc)
        panel.body.addLayout(row, 1)
        return panel

    # setters -------------------------------------------------------------------------------------------------

    def set_detectors(self, items: list[tuple[str, str]]) -> None:
        """(name, shown text) per detector."""
        self.detector.clear()
        for name, text in items:
            self.detector.addItem(text, name)

    def set_detector(self, name: str) -> None:
        self.detector.setCurrentIndex(max(self.detector.findData(name), 0))

    def set_metrics(self, rows: list[list[str]]) -> None:
        self.metrics_table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.metrics_table.setItem(r, c, item)

    def set_epoch_range(self, epochs: int) -> None:
        self.loss_plot.getViewBox().setXRange(0, max(epochs, 1), padding=0.02)
        self.auc_plot.getViewBox().setXRange(0.5, max(epochs, 1) + 0.5, padding=0)
        step = max(1, round(epochs / 10))
        ticks = [[(float(e), str(e)) for e in range(0, epochs + 1, step)]]
        self.loss_plot.getPlotItem().getAxis("bottom").setTicks(ticks)
        self.auc_plot.getPlotItem().getAxis("bottom").setTicks(ticks)

    def set_form_enabled(self, enabled: bool) -> None:
        for w in (self.data_path, self.data_folder_button, self.data_csv_button, self.run_path, self.run_button,
                  self.detector, self.backbone, self.random_backbone, self.epochs, self.batch_size,
                  self.sbi_copies, self.patience, self.max_files, self.aligned):
            w.setEnabled(enabled)


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setSpacing(6)
    for n, w in enumerate(widgets):
        row.addWidget(w, 1 if n == 0 and isinstance(w, QLineEdit) else 0)
    return row


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setFixedWidth(LABEL_WIDTH)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("Muted")
    label.setWordWrap(True)
    return label


def _title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("PanelTitle")
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _spin(low: int, high: int, value: int, special: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)   # fill the column, never widen it
    if special:
        box.setSpecialValueText(special)
    return box


def _plot(colour: str, symbol: str | None) -> tuple[pg.PlotWidget, pg.PlotDataItem]:
    pg.setConfigOptions(antialias=True)
    plot = pg.PlotWidget(background=style.PANEL)
    plot.setMinimumHeight(120)
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.showGrid(x=True, y=True, alpha=0.15)
    item.getAxis("left").setWidth(44)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setTextPen(style.MUTED)
        item.getAxis(axis).setPen(style.PANEL_EDGE)
    plot.getViewBox().setMouseEnabled(x=False, y=False)
    kwargs = {"symbol": symbol, "symbolSize": 7, "symbolBrush": colour, "symbolPen": None} if symbol else {}
    curve = plot.plot([], [], pen=pg.mkPen(colour, width=2), **kwargs)
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return plot, curve
