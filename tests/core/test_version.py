"""One version from one place: core.__version__, which pyproject.toml reads, is what `ffd --version`, the installed
package's metadata, the JSON result and the PDF report (text and document info) all show. The desktop's About
dialog is checked in tests/desktop/test_desktop_polish.py, the installed wheel in tests/packaging."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from pypdf import PdfReader

import core

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_reads_the_version_from_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "core.__version__"}
    assert importlib.metadata.version("ffd-desktop") == core.__version__


def test_cli_json_and_pdf_show_the_same_version(tiny_model_dir, evidence_photo, tmp_path):
    run = subprocess.run([sys.executable, "-m", "core.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == f"ffd {core.__version__}"

    out, report = tmp_path / "out.json", tmp_path / "case.pdf"
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(evidence_photo), "--model",
                          str(tiny_model_dir), "--json", str(out), "--report", str(report), "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["software"]["version"] == core.__version__
    reader = PdfReader(str(report))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert f"ffd-desktop {core.__version__}" in text and f"report by FFD Desktop {core.__version__}" in text
    assert reader.metadata.creator == f"FFD Desktop {core.__version__}"


def test_changelog_and_appstream_release_are_this_version():
    import re
    import xml.etree.ElementTree as ET

    first = re.search(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert first and first.group(1) == core.__version__
    releases = ET.parse(ROOT / "packaging" / "linux" / "org.ffd.FFDDesktop.metainfo.xml").getroot().find("releases")
    assert releases[0].get("version") == core.__version__
