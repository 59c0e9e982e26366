"""Main window layout: menus and toolbar, message banner, Analysis / Case history / Train tabs, progress in the
status bar.

The window owns no logic: controllers connect to its actions and signals. It accepts file drops anywhere.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ffd_desktop.views.analysis_view import AnalysisView
from ffd_desktop.views.banner import Banner
from ffd_desktop.views.common import ElidedLabel
from ffd_desktop.views.drop_zone import DropZone, local_paths
from ffd_desktop.views.history_view import HistoryView
from ffd_desktop.views.train_view import TrainView


class MainWindow(QMainWindow):
    filesDropped = Signal(list)
    closing = Signal()

    def __init__(self, title: str = "FFD Desktop"):
        super().__init__()
        self.setObjectName("MainWindow")
        self.setWindowTitle(title)
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self._make_actions()
        self._make_menus()

        self.banner = Banner()
        self.drop_zone = DropZone()
        self.analysis = AnalysisView()
        self.analysis_stack = QStackedWidget()
        self.analysis_stack.addWidget(self.drop_zone)
        self.analysis_stack.addWidget(self.analysis)
        self.history = HistoryView()
        self.train = TrainView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.analysis_stack, "Analysis")
        self.tabs.addTab(self.history, "Case history")
        self.tabs.addTab(self.train, "Train")

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._make_status_bar()
        self.drop_zone.filesDropped.connect(self.filesDropped)

    def _make_actions(self) -> None:
        def action(text: str, shortcut=None, tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut is not None and tip else tip or text)
            self.addAction(a)   # shortcuts work even when the menu bar is hidden
            return a

        self.open_action = action("&Open…", QKeySequence.StandardKey.Open, "Analyse video or photo files")
        self.export_action = action("&Export report…", "Ctrl+E", "Save a PDF report of the analysis shown")
        self.settings_action = action("&Settings…", "Ctrl+,", "Detectors, sampling rate, device and models")
        self.quit_action = action("&Quit", QKeySequence.StandardKey.Quit, "Close FFD Desktop")
        self.cancel_action = action("&Cancel analysis", "Esc", "Stop the running analysis and clear the queue")
        self.play_action = action("&Play / pause", "Space", "Play over the sampled frames")
        self.prev_action = action("P&revious frame", "Left", "Previous sampled frame")
        self.next_action = action("&Next frame", "Right", "Next sampled frame")
        self.attention_action = action("Show &attention", "Ctrl+T", "Overlay the attention heatmap")
        self.attention_action.setCheckable(True)
        self.history_action = action("Case &history", "Ctrl+H", "Saved analyses")
        self.train_action = action("&Train", "Ctrl+Shift+T", "Train a detector on labelled media")
        self.about_action = action("&About FFD Desktop")
        self.cancel_action.setEnabled(False)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.open_action, self.export_action, None, self.settings_action, None, self.quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        analysis_menu = bar.addMenu("&Analysis")
        for a in (self.cancel_action, None, self.play_action, self.prev_action, self.next_action, None,
                  self.attention_action):
            analysis_menu.addSeparator() if a is None else analysis_menu.addAction(a)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.history_action)
        view_menu.addAction(self.train_action)
        bar.addMenu("&Help").addAction(self.about_action)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.open_action, self.export_action, self.settings_action):   # the tabs are not repeated here
            toolbar.addAction(a)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.model_label = ElidedLabel(max_width=520)   # model names are long: "…" here, whole in the tooltip
        self.model_label.setObjectName("Muted")
        toolbar.addWidget(self.model_label)

    def _make_status_bar(self) -> None:
        status = self.statusBar()
        self.stage_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.eta_label = QLabel()
        self.eta_label.setObjectName("Muted")
        self.queue_label = QLabel()
        self.queue_label.setObjectName("Muted")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running analysis (Esc); nothing is saved for it")
        self.cancel_button.hide()
        for w in (self.stage_label, self.progress, self.eta_label, self.queue_label, self.cancel_button):
            status.addPermanentWidget(w)
        self.cancel_button.clicked.connect(self.cancel_action.trigger)

    # drops anywhere in the window ----------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)

    def closeEvent(self, event) -> None:
        self.closing.emit()
        super().closeEvent(event)
