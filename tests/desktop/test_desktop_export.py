"""File > Export report never proposes or accepts a path that would replace the evidence."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from core.results import AnalysisResult
from ffd_desktop.settings import default_report_folder
from tests.conftest import require_data
from tests.desktop.conftest import make_controller


@pytest.fixture
def evidence(tmp_path):
    folder = tmp_path / "exhibits"
    folder.mkdir()
    photo = folder / "a.jpg"
    shutil.copy(sorted(require_data("ffhq_stylegan", "real").glob("*.jpg"))[0], photo)
    photo.chmod(0o444)
    return photo


def test_export_proposes_the_reports_folder_not_the_evidence_folder(qtbot, ffd_app, tmp_path, evidence):
    controller = make_controller(tmp_path / "app", None)
    qtbot.addWidget(controller.window)
    controller.settings.last_folder = str(evidence.parent)       # as opening the evidence leaves it
    controller.settings.report_folder = str(evidence.parent)     # even if a report was once saved there
    result = AnalysisResult(file={"path": str(evidence)}, settings={})
    dialog = controller.reports.export(result, -1)
    proposed = dialog.path.text()
    assert proposed == str(Path(default_report_folder()) / "a_ffd_report.pdf")
    assert "FFD Reports" in proposed and not proposed.startswith(str(evidence.parent))
    dialog.reject()


def test_export_onto_the_evidence_is_refused_with_a_banner(qtbot, ffd_app, tmp_path, evidence):
    controller = make_controller(tmp_path / "app", None)
    qtbot.addWidget(controller.window)
    before = evidence.read_bytes(), hashlib.sha256(evidence.read_bytes()).hexdigest(), evidence.stat().st_mode
    dialog = controller.reports.export(AnalysisResult(file={"path": str(evidence)}, settings={}), -1)
    dialog.path.setText(str(evidence))
    with qtbot.waitSignal(controller.reports.exportFailed, timeout=5000) as failed:
        dialog.accept()
    assert "evidence file" in failed.args[0]
    banner = controller.window.banner
    assert banner.kind == "error" and str(evidence) in banner.text() and "not written" in banner.text()
    assert (evidence.read_bytes(), hashlib.sha256(evidence.read_bytes()).hexdigest(), evidence.stat().st_mode) == before
    assert sorted(p.name for p in evidence.parent.iterdir()) == ["a.jpg"]
