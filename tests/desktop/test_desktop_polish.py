"""First-run polish on real widgets (offscreen): the toolbar does not repeat the tabs, a long model name is elided
in the toolbar and whole in its tooltip, the timeline's threshold names overlap neither each other nor the curves,
and the About dialog shows the one version."""

from __future__ import annotations

import torch
from PySide6.QtCore import QRect, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

import core
from tests.conftest import TINY_ARCH
from tests.desktop.conftest import make_controller

LONG_NAME = ("FFD compact default (ffd-compact, trained from scratch; held-out AUC 0.65: a baseline, "
             "not for casework)")


def _long_named_model(root):
    from core.backbones import load_backbone
    from core.detectors.registry import build_detector
    from core.models import save_model

    torch.manual_seed(0)
    backbone = load_backbone(TINY_ARCH, allow_random=True)
    save_model(root, LONG_NAME, backbone, {"hamlet": build_detector("hamlet", backbone)})
    return root


def _in_window(widget: QWidget) -> QRect:
    return QRect(widget.mapTo(widget.window(), widget.rect().topLeft()), widget.size())


def test_toolbar_has_no_tab_duplicates_and_elides_the_model_name(qapp, qtbot, tmp_path):
    model = _long_named_model(tmp_path / "model")
    for width in (1440, 1024):
        controller = make_controller(tmp_path / f"app{width}", model, size=(width, 800))
        window = controller.window
        qtbot.waitExposed(window)
        toolbar = window.findChild(QWidget, "MainToolbar")
        texts = [a.text().replace("&", "") for a in toolbar.actions() if a.text()]
        tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        assert tabs == ["Analysis", "Case history", "Train"]
        assert not {"Case history", "Train"} & set(texts), texts
        assert window.history_action in window.actions() and window.train_action in window.actions()  # keys stay

        label = window.model_label
        assert label.isVisible() and label.text() == f"Model: {LONG_NAME}"
        assert _in_window(label).right() <= window.width() and _in_window(label).intersects(_in_window(toolbar))
        shown = label.shown_text()
        assert shown.endswith("…") and shown[:-1] in label.text()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
        assert LONG_NAME in label.toolTip() and str(model) in label.toolTip()
        window.close()


def test_timeline_threshold_names_sit_in_a_key_under_the_plot(qapp, qtbot):
    from pyqtgraph import InfLineLabel

    from ffd_desktop.app import create_app
    from ffd_desktop.views.timeline import Curve, TimelineView

    create_app()
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(900, 220)
    xs = [float(i) for i in range(13)]
    hamlet = [0.9, 0.55, 0.6, 0.95, 0.5, 0.62, 0.7, 0.52, 0.58, 0.9, 0.6, 0.55, 0.5]
    mfclip = [0.6, 0.5, 0.52, 0.7, 0.55, 0.53, 0.6, 0.5, 0.58, 0.6, 0.52, 0.55, 0.51]
    view.set_data([Curve("HAMLET-FFD", (90, 170, 250), 0, xs, hamlet), Curve("MFCLIP", (250, 150, 60), 0, xs, mfclip)],
                  [("HAMLET-FFD threshold 0.62", 0.622, (90, 170, 250)),   # the shipped default's two thresholds
                   ("MFCLIP threshold 0.52", 0.516, (250, 150, 60))], [], 12.4)
    view.show()
    qtbot.waitExposed(view)

    assert len(view.thresholds) == 2
    assert not [i for i in view.plot.scene().items() if isinstance(i, InfLineLabel)]   # nothing written on the plot
    key = view.threshold_key
    assert key.isVisible() and "HAMLET-FFD threshold 0.62" in key.text() and "MFCLIP threshold 0.52" in key.text()
    assert key.width() >= key.sizeHint().width()                                    # shown whole
    assert not key.geometry().intersects(view.plot.geometry()) and key.geometry().top() >= view.plot.geometry().bottom()
    assert not view.title.geometry().intersects(view.readout.geometry())


def test_about_dialog_shows_the_version(qapp, qtbot, tmp_path, tiny_model_dir):
    controller = make_controller(tmp_path, tiny_model_dir)
    shown = []

    def read_and_close():                    # the real modal dialog: read it, then close it as a user would
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append((box.windowTitle(), box.text()))
            box.accept()
        else:
            QTimer.singleShot(50, read_and_close)

    QTimer.singleShot(50, read_and_close)
    controller.window.about_action.trigger()
    assert shown and shown[0][0] == "About FFD Desktop" and f"FFD Desktop {core.__version__}" in shown[0][1]
    assert controller.window.windowTitle() == f"FFD Desktop {core.__version__}"
    controller.window.close()
