"""File > Export report never proposes or accepts a path that would replace the evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.results import AnalysisResult
from ffd_desktop.settings import default_report_folder
from tests.desktop.conftest import make_controller


def test_export_proposes_the_reports_folder_not_the_evidence_folder(qtbot, ffd_app, tmp_path, evidence_photo):
    controller = make_controller(tmp_path / "app", None)
    qtbot.addWidget(controller.window)
    controller.settings.last_folder = str(evidence_photo.parent)       # as opening the evidence leaves it
    controller.settings.report_folder = str(evidence_photo.parent)     # even if a report was once saved there
    result = AnalysisResult(file={"path": str(evidence_photo)}, settings={})
    dialog = controller.reports.export(result, -1)
    proposed = dialog.path.text()
    assert proposed == str(Path(default_report_folder()) / "a_ffd_report.pdf")
    assert "FFD Reports" in proposed and not proposed.startswith(str(evidence_photo.parent))
    dialog.reject()


def test_export_onto_the_evidence_is_refused_with_a_banner(qtbot, ffd_app, tmp_path, evidence_photo):
    controller = make_controller(tmp_path / "app", None)
    qtbot.addWidget(controller.window)
    before = evidence_photo.read_bytes(), hashlib.sha256(evidence_photo.read_bytes()).hexdigest(), evidence_photo.stat().st_mode
    dialog = controller.reports.export(AnalysisResult(file={"path": str(evidence_photo)}, settings={}), -1)
    dialog.path.setText(str(evidence_photo))
    with qtbot.waitSignal(controller.reports.exportFailed, timeout=5000) as failed:
        dialog.accept()
    assert "evidence file" in failed.args[0]
    banner = controller.window.banner
    assert banner.kind == "error" and str(evidence_photo) in banner.text() and "not written" in banner.text()
    assert (evidence_photo.read_bytes(), hashlib.sha256(evidence_photo.read_bytes()).hexdigest(), evidence_photo.stat().st_mode) == before
    assert sorted(p.name for p in evidence_photo.parent.iterdir()) == ["a.jpg"]
